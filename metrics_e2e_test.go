package main

import (
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// parseMetrics reads a Prometheus text exposition with Prometheus' own parser.
func parseMetrics(t testing.TB, path string) map[string]*dto.MetricFamily {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(f)
	if err != nil {
		t.Fatalf("metrics do not parse: %v", err)
	}
	return fams
}

// metricValue returns the gauge of family name whose labels are all in
// labels, and whether there is one.
func metricValue(fams map[string]*dto.MetricFamily, name string, labels map[string]string) (float64, bool) {
	fam, ok := fams[name]
	if !ok {
		return 0, false
	}
next:
	for _, m := range fam.GetMetric() {
		for _, lp := range m.GetLabel() {
			if want, ok := labels[lp.GetName()]; ok && want != lp.GetValue() {
				continue next
			}
		}
		return m.GetGauge().GetValue(), true
	}
	return 0, false
}

func TestMetricsTextfileAfterEveryRun(t *testing.T) {
	e := newEnv(t, 10)
	prom := filepath.Join(e.dir, "textfile", "depot.prom")
	if err := os.MkdirAll(filepath.Dir(prom), 0o755); err != nil {
		t.Fatal(err)
	}
	appendConfig(t, e.config, "metrics: { textfile: "+prom+" }\n")
	mustDepot(t, "--config", e.config, "run")
	fams := parseMetrics(t, prom)
	web := map[string]string{"set": "web"}
	total := readManifest(t, e.snapshots(t)[0]).Totals()
	for _, c := range []struct {
		name   string
		labels map[string]string
		check  func(float64) bool
	}{
		{"depot_set_last_run_status", web, func(v float64) bool { return v == 2 }},
		{"depot_set_last_success_timestamp_seconds", web, func(v float64) bool { return v > 1.7e9 }},
		{"depot_set_last_run_timestamp_seconds", web, func(v float64) bool { return v > 1.7e9 }},
		{"depot_set_last_duration_seconds", web, func(v float64) bool { return v > 0 && v < 60 }},
		{"depot_set_files", web, func(v float64) bool { return v == float64(total.Files) && v > 40 }},
		{"depot_set_bytes", web, func(v float64) bool { return v == float64(total.Bytes) && v > 40*15<<10 }},
		{"depot_set_bytes_transferred", web, func(v float64) bool { return v == float64(total.BytesTransferred) && v > 40*15<<10 }},
		{"depot_set_partials", web, func(v float64) bool { return v == 0 }},
		{"depot_set_stale", web, func(v float64) bool { return v == 0 }},
		{"depot_snapshots", map[string]string{"set": "web", "section": "holding"}, func(v float64) bool { return v == 1 }},
		{"depot_snapshots", map[string]string{"set": "web", "section": "permanent"}, func(v float64) bool { return v == 0 }},
		{"depot_repository_free_bytes", nil, func(v float64) bool { return v > 0 }},
		{"depot_build_info", map[string]string{"version": versionString()}, func(v float64) bool { return v == 1 }},
	} {
		v, ok := metricValue(fams, c.name, c.labels)
		if !ok || !c.check(v) {
			t.Errorf("%s%v = %v (present: %v)", c.name, c.labels, v, ok)
		}
	}
	if _, ok := fams["depot_set_next_run_timestamp_seconds"]; ok {
		t.Error("a next run for a set without a schedule")
	}

	// A failed run updates the file too; nothing is left beside it.
	if err := os.RemoveAll(e.src); err != nil {
		t.Fatal(err)
	}
	if code, _, _ := depot(t, "--config", e.config, "run"); code != 1 {
		t.Fatalf("run without a source: exit %d", code)
	}
	fams = parseMetrics(t, prom)
	if v, _ := metricValue(fams, "depot_set_last_run_status", web); v != 0 {
		t.Errorf("last run status after a failure: %v", v)
	}
	if v, _ := metricValue(fams, "depot_set_last_success_timestamp_seconds", web); v == 0 {
		t.Error("the last success is forgotten after a failure")
	}
	if entries, _ := os.ReadDir(filepath.Dir(prom)); len(entries) != 1 {
		t.Errorf("%d files in the textfile directory, want only depot.prom", len(entries))
	}
}

func TestBuildVersion(t *testing.T) {
	settings := func(kv ...string) []debug.BuildSetting {
		var out []debug.BuildSetting
		for i := 0; i+1 < len(kv); i += 2 {
			out = append(out, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return out
	}
	const rev = "0123456789abcdef0123456789abcdef01234567"
	tests := []struct {
		name string
		info *debug.BuildInfo
		ok   bool
		want string
	}{
		{"no build info", nil, false, "dev"},
		{"work tree, no vcs", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, true, "dev"},
		{"work tree with revision", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: settings("vcs.revision", rev, "vcs.modified", "false")}, true, "dev+0123456789ab"},
		{"modified tree", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: settings("vcs.revision", rev, "vcs.modified", "true")}, true, "dev+0123456789ab-modified"},
		{"go install of a tag", &debug.BuildInfo{Main: debug.Module{Version: "v1.4.0"}}, true, "v1.4.0"},
		{"tag with revision", &debug.BuildInfo{Main: debug.Module{Version: "v1.4.0"}, Settings: settings("vcs.revision", rev)}, true, "v1.4.0+0123456789ab"},
		{"pseudo-version", &debug.BuildInfo{Main: debug.Module{Version: "v0.0.0-20261202120000-0123456789ab"}, Settings: settings("vcs.revision", rev)}, true, "v0.0.0-20261202120000-0123456789ab"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := buildVersion(tt.info, tt.ok); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
	if out := mustDepot(t, "--version"); out != "depot "+versionString()+" ("+runtimeVersion()+")\n" {
		t.Errorf("--version printed %q", out)
	}
}

func runtimeVersion() string { return runtime.Version() }
