package main

import (
	"os"
	"strings"
	"syscall"
	"testing"
)

// TestVerifySchedule: repository.verify takes what depot verify's flags
// take (a share of the files, a byte budget, an age); plan describes it,
// the crontab runs depot verify with those flags, and the daemon runs it
// and logs each snapshot and the sample. Mistakes are config errors at
// their position.
func TestVerifySchedule(t *testing.T) {
	e := newEnv(t, 10)
	cfg, _ := os.ReadFile(e.config)
	with := func(verify string) {
		t.Helper()
		out := strings.Replace(string(cfg), "  holding:", "  verify: "+verify+"\n  holding:", 1)
		if err := os.WriteFile(e.config, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	mustDepot(t, "--config", e.config, "run")
	with(`{schedule: "0 6 * * sun", sample: "50%", max_bytes: 1G, since: 7d}`)
	if out := mustDepot(t, "--config", e.config, "plan"); !strings.Contains(out, "verify         verify every snapshot, hashing 50% of the files picked at random, at most 1.0 GiB, of the last 7d: ") {
		t.Errorf("plan does not describe the verify job:\n%s", out)
	}
	if out := mustDepot(t, "--config", e.config, "schedule", "--cron"); !strings.Contains(out, ` verify --quiet --sample 50\% --max-bytes 1073741824 --since 7d`+"\n") {
		t.Errorf("crontab's verify line lacks the flags:\n%s", out)
	}
	with(`{schedule: "@every 1s", sample: "50%", max_bytes: 1G, since: 7d}`)
	p := startDaemon(t, "--config", e.config, "daemon", "--grace", "1s")
	p.waitLog(t, `msg="verify done" snapshots=1 verified=1 failed=0`, 1)
	if code := p.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("daemon exit %d:\n%s", code, p.logs())
	}
	for _, want := range []string{`msg=verified snapshot=holding/web/`, `sample="sample (seed `} {
		if !strings.Contains(p.logs(), want) {
			t.Errorf("the daemon's log lacks %q:\n%s", want, p.logs())
		}
	}

	for _, c := range []struct{ verify, msg string }{
		{`{schedule: "@daily", sample: "0%"}`, `repository.verify.sample: "0%": want a number of snapshots`},
		{`{schedule: "@daily", sample: lots}`, `repository.verify.sample: "lots"`},
		{`{schedule: "@daily", max_bytes: "-1G"}`, `repository.verify.max_bytes: size "-1G"`},
		{`{schedule: "@daily", since: "a week"}`, `repository.verify.since: "a week" is not an age`},
		{`{schedule: "@daily", sample: 2, max_bytes: 1G}`, `repository.verify.sample: 2 picks whole snapshots at random`},
	} {
		with(c.verify)
		if code, _, errs := depot(t, "--config", e.config, "validate"); code != 2 || !strings.Contains(errs, c.msg) {
			t.Errorf("verify: %s: exit %d, want 2 and %q:\n%s", c.verify, code, c.msg, errs)
		}
	}
}
