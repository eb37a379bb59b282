package director

import (
	"context"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

func TestServeMetrics(t *testing.T) {
	e := newStatusEnv(t, "")
	e.writeHistory(t, HistoryFile, run{"web", "ok", 2 * time.Hour}, run{"db", "failed", time.Hour})
	e.d.NextRun = func(set string) (time.Time, bool) { return statusNow.Add(time.Hour), set == "web" }
	ctx, cancel := context.WithCancel(context.Background())
	addrs := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() { done <- e.d.ServeMetrics(ctx, "127.0.0.1:0", func(a net.Addr) { addrs <- a }) }()
	var addr net.Addr
	select {
	case addr = <-addrs:
	case err := <-done:
		t.Fatalf("ServeMetrics: %v", err)
	}
	resp, err := http.Get("http://" + addr.String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("/metrics does not parse: %v", err)
	}
	want := map[string]map[string]float64{
		"depot_set_last_run_status":            {"web": 2, "db": 0},
		"depot_set_stale":                      {"web": 0, "db": 1}, // alert_after 8d, never succeeded
		"depot_set_next_run_timestamp_seconds": {"web": float64(statusNow.Add(time.Hour).Unix())},
		"depot_set_last_duration_seconds":      {"web": 60, "db": 60},
	}
	for name, sets := range want {
		fam := fams[name]
		if fam == nil {
			t.Errorf("no %s", name)
			continue
		}
		got := map[string]float64{}
		for _, m := range fam.GetMetric() {
			got[m.GetLabel()[0].GetValue()] = m.GetGauge().GetValue()
		}
		for set, v := range sets {
			if g, ok := got[set]; !ok || g != v {
				t.Errorf("%s{set=%q} = %v (present %v), want %v", name, set, g, ok, v)
			}
		}
		if len(got) != len(sets) {
			t.Errorf("%s: %v, want %v", name, got, sets)
		}
	}
	if fams["depot_build_info"].GetMetric()[0].GetLabel()[0].GetValue() != "v-test" {
		t.Error("depot_build_info lacks the version")
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("ServeMetrics after cancel: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("ServeMetrics did not stop")
	}
}

func TestServeMetricsBadAddress(t *testing.T) {
	e := newStatusEnv(t, "")
	if err := e.d.ServeMetrics(context.Background(), "256.0.0.1:99999", nil); err == nil {
		t.Error("no error for an address that cannot be listened on")
	}
}
