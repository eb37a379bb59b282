package director

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/depot-backup/depot/repository"
)

// Run status values of depot_set_last_run_status.
const (
	metricFailed  = 0
	metricWarning = 1
	metricOK      = 2
)

// gatherMetrics makes a registry holding depot's metrics as they are now:
// per set from Status, and the repository's free space.
func (d *Director) gatherMetrics(ctx context.Context, repo repository.Repo) (*prometheus.Registry, error) {
	sts, err := d.Status(ctx, StatusOptions{})
	if err != nil {
		return nil, err
	}
	reg := prometheus.NewRegistry()
	gauge := func(name, help string, labels ...string) *prometheus.GaugeVec {
		g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels)
		reg.MustRegister(g)
		return g
	}
	build := gauge("depot_build_info", "depot's version; always 1.", "version")
	build.WithLabelValues(d.Version).Set(1)
	lastRun := gauge("depot_set_last_run_timestamp_seconds", "When the set's last run started.", "set")
	lastOK := gauge("depot_set_last_success_timestamp_seconds", "When the set's last successful run finished.", "set")
	status := gauge("depot_set_last_run_status", "Outcome of the set's last run: 2 ok, 1 warning, 0 failed.", "set")
	duration := gauge("depot_set_last_duration_seconds", "How long the set's last run took.", "set")
	files := gauge("depot_set_files", "Regular files in the set's newest snapshot.", "set")
	bytes := gauge("depot_set_bytes", "Apparent size of the files in the set's newest snapshot.", "set")
	filesTx := gauge("depot_set_files_transferred", "Files the set's last run copied.", "set")
	bytesTx := gauge("depot_set_bytes_transferred", "Bytes the set's last run copied.", "set")
	partials := gauge("depot_set_partials", "Unfinished snapshots left in .partial.", "set")
	stale := gauge("depot_set_stale", "1 when the set's last success is older than its alert_after, or it never succeeded.", "set")
	next := gauge("depot_set_next_run_timestamp_seconds", "When the set runs next, for a scheduled set.", "set")
	snapshots := gauge("depot_snapshots", "Snapshots of the set in a section.", "set", "section")
	for _, s := range sts {
		if r := s.LastRun; r != nil {
			lastRun.WithLabelValues(s.Set).Set(float64(r.Started.Unix()))
			status.WithLabelValues(s.Set).Set(map[string]float64{"ok": metricOK, "warning": metricWarning}[r.Status]) // failed: 0
			duration.WithLabelValues(s.Set).Set(r.DurationSeconds)
			filesTx.WithLabelValues(s.Set).Set(float64(r.FilesTransferred))
			bytesTx.WithLabelValues(s.Set).Set(float64(r.BytesTransferred))
		}
		if s.LastSuccess != nil {
			lastOK.WithLabelValues(s.Set).Set(float64(s.LastSuccess.Unix()))
		}
		if s.NextRun != nil {
			next.WithLabelValues(s.Set).Set(float64(s.NextRun.Unix()))
		}
		files.WithLabelValues(s.Set).Set(float64(s.Files))
		bytes.WithLabelValues(s.Set).Set(float64(s.Bytes))
		partials.WithLabelValues(s.Set).Set(float64(len(s.Partials)))
		isStale := 0.0
		if s.Alert != "" {
			isStale = 1
		}
		stale.WithLabelValues(s.Set).Set(isStale)
		for _, sec := range []string{"holding", "permanent"} {
			snapshots.WithLabelValues(s.Set, sec).Set(float64(s.Snapshots[sec]))
		}
	}
	d.drillMetrics(ctx, repo, reg)
	if free, err := repo.Files().Free(ctx, repo.Root); err == nil {
		gauge("depot_repository_free_bytes", "Space left for depot on the repository's file system.").WithLabelValues().Set(float64(free))
	} else {
		d.Log.Warn("metrics: cannot tell the repository's free space", "err", err)
	}
	return reg, nil
}

// writeMetrics writes the metrics textfile, if the config names one,
// atomically: node_exporter never reads half a file. A failure is a warning.
func (d *Director) writeMetrics(ctx context.Context, repo repository.Repo) {
	path := d.Config.Metrics.Textfile
	if path == "" {
		return
	}
	if err := d.WriteMetrics(context.WithoutCancel(ctx), repo, path); err != nil {
		d.Log.Warn("could not write the metrics textfile", "file", path, "err", err)
	}
}

// WriteMetrics writes the metrics in Prometheus' text format to path,
// through a temporary file renamed into place.
func (d *Director) WriteMetrics(ctx context.Context, repo repository.Repo, path string) error {
	reg, err := d.gatherMetrics(ctx, repo)
	if err != nil {
		return err
	}
	if err := prometheus.WriteToTextfile(path, reg); err != nil {
		return fmt.Errorf("write metrics %s: %w", path, err)
	}
	return nil
}

// ServeMetrics serves /metrics on addr (DefaultMetricsListen for ""), each
// scrape reading the history and repository afresh, until ctx ends. The
// daemon calls it; onListen, if not nil, gets the address once listening.
func (d *Director) ServeMetrics(ctx context.Context, addr string, onListen func(net.Addr)) error {
	if addr == "" {
		addr = DefaultMetricsListen
	}
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("metrics: listen on %s: %w", addr, err)
	}
	if onListen != nil {
		onListen(ln.Addr())
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, r *http.Request) {
		reg, err := d.gatherMetrics(r.Context(), d.repo())
		if err != nil {
			d.Log.Warn("metrics: scrape failed", "err", err)
			http.Error(w, "depot: "+err.Error(), http.StatusInternalServerError)
			return
		}
		promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(w, r)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("metrics: serve on %s: %w", addr, err)
	}
	return nil
}
