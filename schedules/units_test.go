package schedules

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func testJobs(t testing.TB) []Job {
	return []Job{
		{Name: "set-web", What: "back up set web", Cron: mustCron(t, "0 2 * * 1-5"), Jitter: 15 * time.Minute,
			Argv: []string{"/bin/true", "--config", "/etc/depot/my depot.yaml", "run", "web"},
			Then: [][]string{{"/bin/true", "mirror", "offsite"}}},
		{Name: "verify", What: "verify 5 snapshots", Cron: mustCron(t, "0 5 1,15 * 0"), Argv: []string{"/bin/true", "verify", "--sample", "5"}},
		{Name: "set-often", What: "back up set often", Cron: mustCron(t, "@every 90s"), Argv: []string{"/bin/true", "run", "often"}},
	}
}

// TestSystemdUnits writes the units and checks them with systemd-analyze
// verify where it is installed, and by their keys in any case.
func TestSystemdUnits(t *testing.T) {
	units, err := SystemdUnits(testJobs(t), "Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	units = append(units, DaemonUnit([]string{"/bin/true", "--config", "/etc/depot/depot.yaml", "daemon"}, 10*time.Minute))
	dir := t.TempDir()
	got := map[string]string{}
	var paths []string
	for _, u := range units {
		p := filepath.Join(dir, u.Name)
		if err := os.WriteFile(p, []byte(u.Content), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
		got[u.Name] = u.Content
	}
	wantLines := map[string][]string{
		"depot-set-web.service": {`ExecStart=/bin/true --config "/etc/depot/my depot.yaml" run web`, "ExecStartPost=/bin/true mirror offsite",
			"Type=oneshot", "Nice=10", "IOSchedulingClass=idle", "SuccessExitStatus=4"},
		"depot-set-web.timer":     {"OnCalendar=Mon..Fri *-*-* 02:00:00 Europe/Berlin", "Persistent=true", "RandomizedDelaySec=900s", "WantedBy=timers.target"},
		"depot-verify.timer":      {"OnCalendar=*-*-01,15 05:00:00 Europe/Berlin", "OnCalendar=Sun *-*-* 05:00:00 Europe/Berlin"},
		"depot-set-often.timer":   {"OnUnitActiveSec=90s", "OnActiveSec=90s"},
		"depot.service":           {"ExecStart=/bin/true --config /etc/depot/depot.yaml daemon", "ExecReload=/bin/kill -HUP $MAINPID", "KillMode=mixed", "TimeoutStopSec=660s"},
		"depot-set-often.service": {"ExecStart=/bin/true run often"},
	}
	for name, lines := range wantLines {
		content, ok := got[name]
		if !ok {
			t.Errorf("no unit %s", name)
			continue
		}
		for _, l := range lines {
			if !strings.Contains("\n"+content+"\n", "\n"+l+"\n") {
				t.Errorf("%s lacks the line %q:\n%s", name, l, content)
			}
		}
	}
	if strings.Contains(got["depot-set-often.timer"], "OnCalendar") {
		t.Errorf("an @every timer has an OnCalendar")
	}
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Log("no systemd-analyze here: checked the units by their lines only")
		return
	}
	out, err := exec.CommandContext(context.Background(), "systemd-analyze", append([]string{"verify"}, paths...)...).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}

func TestCrontab(t *testing.T) {
	jobs := testJobs(t)
	if _, err := Crontab(jobs, ""); err == nil || !strings.Contains(err.Error(), "@every") {
		t.Fatalf("Crontab with an @every job: %v, want an error naming @every", err)
	}
	jobs[1].Argv = append(jobs[1].Argv, "100%")
	text, err := Crontab(jobs[:2], "Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"\nCRON_TZ=Europe/Berlin\n",
		"password_file",
		"\n# back up set web (set-web)\n0 2 * * 1-5 sleep $(shuf -i 0-900 -n 1) && /bin/true --config '/etc/depot/my depot.yaml' run web && /bin/true mirror offsite\n",
		"\n0 5 1,15 * 0 /bin/true verify --sample 5 100\\%\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("crontab lacks %q:\n%s", want, text)
		}
	}
}
