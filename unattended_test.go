package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestUnattendedUsageErrors: each mistake exits 2 with one clear line and
// writes nothing.
func TestUnattendedUsageErrors(t *testing.T) {
	e := newScheduledEnv(t)
	plain := newEnv(t, 3) // no schedule anywhere
	units := filepath.Join(e.dir, "units")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"schedule without a mode", []string{"--config", e.config, "schedule"}, "exactly one of --cron, --systemd DIR and --install"},
		{"schedule with both modes", []string{"--config", e.config, "schedule", "--cron", "--systemd", units}, "exactly one of"},
		{"cron with daemon", []string{"--config", e.config, "schedule", "--cron", "--daemon"}, "cron cannot run a daemon"},
		{"cron cannot say @every", []string{"--config", e.config, "schedule", "--cron"}, "cron has no @every"},
		{"nothing to schedule", []string{"--config", plain.config, "schedule", "--systemd", units}, "nothing to schedule"},
		{"daemon with nothing to schedule", []string{"--config", plain.config, "daemon"}, "nothing to schedule"},
		{"daemon with an argument", []string{"--config", e.config, "daemon", "web"}, "unknown command"},
		{"stop-after not a duration", []string{"--config", e.config, "run", "--stop-after", "soon"}, "invalid argument"},
		{"verify sample zero", []string{"--config", e.config, "verify", "--sample", "0"}, "--sample N"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errs := depot(t, tt.args...)
			if code != exitUsage || !strings.Contains(errs, tt.want) {
				t.Fatalf("depot %s: exit %d, stderr %q; want 2 and %q", strings.Join(tt.args, " "), code, errs, tt.want)
			}
			if _, err := os.Stat(units); err == nil {
				t.Fatalf("%s was written", units)
			}
		})
	}
}

// TestScheduleCronAndSystemd prints crontab lines and writes units for a
// config with a set, an after-runs mirror and a verify schedule.
func TestScheduleCronAndSystemd(t *testing.T) {
	e := newScheduledEnv(t)
	e.writeConfig(t, "0 2 * * 1-5", "mirrors:\n  - {name: copy, target: "+filepath.Join(e.dir, "mirror")+", schedule: after-runs}\n")
	cfg, err := os.ReadFile(e.config)
	if err != nil {
		t.Fatal(err)
	}
	cfg = []byte(strings.Replace(string(cfg), "repository:\n", "repository:\n  verify: {schedule: \"@weekly\", sample: 2}\n", 1))
	if err := os.WriteFile(e.config, cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	out := mustDepot(t, "--config", e.config, "schedule", "--cron")
	for _, want := range []string{
		"\n# back up set web (set-web)\n0 2 * * 1-5 ",
		" run --quiet --wait 1h web && ",
		" mirror --quiet --wait 1h copy\n",
		"\n@weekly ",
		" verify --quiet --sample 2\n",
		"password_file",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("crontab lacks %q:\n%s", want, out)
		}
	}

	dir := filepath.Join(e.dir, "units")
	mustDepot(t, "--config", e.config, "schedule", "--systemd", dir)
	mustDepot(t, "--config", e.config, "schedule", "--systemd", filepath.Join(dir, "daemon"), "--daemon")
	names, err := filepath.Glob(filepath.Join(dir, "*"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, n := range names {
		got = append(got, filepath.Base(n))
	}
	want := "daemon depot-set-web.service depot-set-web.timer depot-verify.service depot-verify.timer"
	if strings.Join(got, " ") != want {
		t.Fatalf("units: %v, want %s", got, want)
	}
	// --install into a directory of our own: systemd does not run here, or
	// it reloads.
	out = mustDepot(t, "--config", e.config, "schedule", "--systemd", filepath.Join(e.dir, "installed"), "--install")
	_, statErr := os.Stat("/run/systemd/system")
	if strings.Contains(out, "systemd is not running here") != (statErr != nil) || !strings.Contains(out, "systemctl enable --now depot-set-web.timer depot-verify.timer") {
		t.Errorf("schedule --install:\n%s", out)
	}
	timer, err := os.ReadFile(filepath.Join(dir, "depot-set-web.timer"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(timer), "OnCalendar=Mon..Fri *-*-* 02:00:00\n") {
		t.Errorf("timer:\n%s", timer)
	}
	if _, err := exec.LookPath("systemd-analyze"); err == nil {
		paths, _ := filepath.Glob(filepath.Join(dir, "depot-*"))
		paths = append(paths, filepath.Join(dir, "daemon", "depot.service"))
		if out, err := exec.Command("systemd-analyze", append([]string{"verify"}, paths...)...).CombinedOutput(); err != nil || len(out) > 0 {
			t.Errorf("systemd-analyze verify: %v\n%s", err, out)
		}
	}
}

// TestRunStopAfter stops a run whose item blocks: exit 4 with a line that
// says it resumes, its .partial kept, and the next run finishes it with the
// tree item copying nothing again.
func TestRunStopAfter(t *testing.T) {
	e := newScheduledEnv(t)
	if err := os.WriteFile(e.block, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errs := depot(t, "--config", e.config, "run", "--stop-after", "1s")
	if code != exitStopped || !strings.Contains(errs, "depot: stopped at --stop-after 1s, will resume") {
		t.Fatalf("run --stop-after: exit %d, stderr:\n%s", code, errs)
	}
	if strings.Contains(errs, "level=ERROR") {
		t.Errorf("a stopped run logs an error:\n%s", errs)
	}
	os.Remove(e.block)
	_, _, errs = depot(t, "--config", e.config, "run")
	if !strings.Contains(errs, "resuming interrupted run") {
		t.Fatalf("the next run did not resume:\n%s", errs)
	}
	snaps := e.snapshotsOf(t, "web")
	if len(snaps) != 1 {
		t.Fatalf("snapshots: %+v", snaps)
	}
	m := readManifest(t, snaps[0])
	if st := m.Items[0].Stats; st.FilesTransferred != 0 || st.Files == 0 {
		t.Errorf("resumed tree item: %+v, want files and none transferred", st)
	}
}

// TestStopAfterMidTreeResumes cuts a first backup in the middle of its tree
// and checks that the next run copies only what the cut run had not.
func TestStopAfterMidTreeResumes(t *testing.T) {
	const files = 1000
	e := newSizedEnv(t, 3, files, 16<<10)
	var copied int
	for _, after := range []string{"100ms", "200ms", "400ms", "800ms"} {
		code, _, errs := depot(t, "--config", e.config, "run", "--stop-after", after)
		if code == exitOK {
			t.Skipf("the whole tree was copied within %s; nothing to resume", after)
		}
		if code != exitStopped {
			t.Fatalf("run --stop-after %s: exit %d\n%s", after, code, errs)
		}
		copied = 0
		_ = filepath.WalkDir(filepath.Join(e.repo, ".partial"), func(p string, d os.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() && strings.HasSuffix(p, ".dat") {
				copied++
			}
			return nil
		})
		if copied > 0 {
			break
		}
	}
	if copied == 0 {
		t.Fatal("no run copied anything before its deadline")
	}
	mustDepot(t, "--config", e.config, "run")
	snaps := e.snapshots(t)
	if len(snaps) != 1 {
		t.Fatalf("snapshots: %+v", snaps)
	}
	st := readManifest(t, snaps[0]).Items[0].Stats
	// At most the file rsync was writing when it was stopped is sent again.
	if missing := files - copied; st.FilesTransferred > int64(missing)+10 || st.FilesTransferred < int64(missing) {
		t.Errorf("resume sent %d files; %d of %d were missing", st.FilesTransferred, missing, files)
	}
	sameTree(t, e.snapshotTree(t, snaps[0]), e.sourceTree(t))
}

// TestRunInWindows: run --in-windows skips a set whose windows are closed
// now and runs one whose window is open.
func TestRunInWindows(t *testing.T) {
	e := newScheduledEnv(t)
	now := time.Now()
	closed := fmt.Sprintf("%s-%s", now.Add(2*time.Hour).Format("15:04"), now.Add(3*time.Hour).Format("15:04"))
	cfg, err := os.ReadFile(e.config)
	if err != nil {
		t.Fatal(err)
	}
	set := func(windows string) {
		t.Helper()
		c := strings.Replace(string(cfg), "    schedule: \"@every 2s\"\n", "    schedule: \"@hourly\"\n    windows: [\""+windows+"\"]\n", 1)
		if err := os.WriteFile(e.config, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	set(closed)
	_, _, errs := depot(t, "--config", e.config, "run", "--in-windows")
	if !strings.Contains(errs, "set skipped: outside its windows") || len(e.snapshotsOf(t, "web")) != 0 {
		t.Fatalf("a set outside its windows ran:\n%s", errs)
	}
	set("00:00-24:00")
	mustDepot(t, "--config", e.config, "run", "--in-windows")
	if len(e.snapshotsOf(t, "web")) != 1 {
		t.Fatal("a set inside its window did not run")
	}
}
