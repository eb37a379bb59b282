package director

import (
	"context"
	"encoding/json"
	"fmt"
	"text/tabwriter"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/depot-backup/depot/repository"
)

// DrillHistory returns the drill history, oldest first: the last n records
// (all for 0).
func (d *Director) DrillHistory(ctx context.Context, last int) ([]DrillRecord, error) {
	repo, err := d.openRepo(ctx)
	if err != nil {
		return nil, err
	}
	recs, err := d.readDrills(ctx, repo)
	if err != nil {
		return nil, err
	}
	if last > 0 && len(recs) > last {
		recs = recs[len(recs)-last:]
	}
	return recs, nil
}

// PrintDrills writes drill records as a table or as JSON.
func (d *Director) PrintDrills(recs []DrillRecord, asJSON bool) error {
	if asJSON {
		if recs == nil {
			recs = []DrillRecord{}
		}
		enc := json.NewEncoder(d.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(recs)
	}
	if len(recs) == 0 {
		_, err := fmt.Fprintln(d.Out, "no drills yet")
		return err
	}
	tw := tabwriter.NewWriter(d.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STARTED\tSET\tITEM\tTYPE\tSTATUS\tSECONDS\tSNAPSHOT\tERROR\t")
	for _, r := range recs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%.1f\t%s\t%s\t\n", r.Started.Local().Format("2006-01-02 15:04"), r.Set, r.Item, r.Type, r.Status, r.DurationSeconds, r.Snapshot, r.Error)
	}
	return tw.Flush()
}

// drillMetrics adds each item's last drill to reg.
func (d *Director) drillMetrics(ctx context.Context, repo repository.Repo, reg *prometheus.Registry) {
	recs, err := d.readDrills(ctx, repo)
	if err != nil {
		d.Log.Warn("metrics: cannot read the drill history", "err", err)
		return
	}
	gauge := func(name, help string) *prometheus.GaugeVec {
		g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, []string{"set", "item"})
		reg.MustRegister(g)
		return g
	}
	when := gauge("depot_drill_last_timestamp_seconds", "When the item's last restore drill started.")
	status := gauge("depot_drill_last_status", "Outcome of the item's last restore drill: 1 ok, 0 failed.")
	okAt := gauge("depot_drill_last_success_timestamp_seconds", "When the item's last successful restore drill started.")
	tables := gauge("depot_drill_tables", "Tables the item's last successful drill loaded.")
	for _, r := range recs { // oldest first: the last one wins
		when.WithLabelValues(r.Set, r.Item).Set(float64(r.Started.Unix()))
		if r.Status == "ok" {
			status.WithLabelValues(r.Set, r.Item).Set(1)
			okAt.WithLabelValues(r.Set, r.Item).Set(float64(r.Started.Unix()))
			var n int64
			for _, x := range r.Results {
				n += x.Tables
			}
			tables.WithLabelValues(r.Set, r.Item).Set(float64(n))
		} else {
			status.WithLabelValues(r.Set, r.Item).Set(0)
		}
	}
}

// lastDrills returns the last drill of each item of set, in the order the
// items were last drilled.
func lastDrills(recs []DrillRecord, set string) []DrillRecord {
	var out []DrillRecord
	at := map[string]int{}
	for _, r := range recs {
		if r.Set != set {
			continue
		}
		if i, ok := at[r.Item]; ok {
			out[i] = r
			continue
		}
		at[r.Item] = len(out)
		out = append(out, r)
	}
	return out
}

// printDrillStatus writes, below the status table, each item's last drill.
func (d *Director) printDrillStatus(sts []SetStatus) {
	first := true
	for _, s := range sts {
		for _, r := range s.Drills {
			if first {
				fmt.Fprintln(d.Out, "\nlast restore drills:")
				first = false
			}
			what := r.Status
			if r.Status != "ok" {
				what = "FAILED: " + r.Error
			}
			fmt.Fprintf(d.Out, "  %s/%s  %s  %s  %s\n", r.Set, r.Item, r.Started.Local().Format("2006-01-02 15:04"), r.Snapshot, what)
		}
	}
}
