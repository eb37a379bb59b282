package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/depot-backup/depot/director"
	"github.com/depot-backup/depot/schedules"
)

// addStopFlags gives depot run its flags for runs that must end in time.
func addStopFlags(cmd *cobra.Command, o *director.RunOptions) {
	cmd.Flags().DurationVar(&o.StopAfter, "stop-after", 0, "stop cleanly after this long (e.g. 6h), keeping .partial for the next run; exit 4")
	cmd.Flags().BoolVar(&o.InWindows, "in-windows", false, "skip sets outside their windows; stop when a window closes (exit 4)")
}

func daemonCmd(g *globals) *cobra.Command {
	var o director.DaemonOptions
	cmd := &cobra.Command{
		Use:   "daemon",
		Short: "Run the config's schedules until SIGTERM",
		Long: `Run every schedule of the config: the sets' and mirrors' schedule:, and the
repository's verify and prune. Times are in repository.permanent.timezone, else
the machine's. A job never overlaps itself: a start that finds the previous one
still running is skipped and logged. Jobs take turns on the repository, and the
repository lock still keeps a depot run started by hand out (--wait bounds how
long a job waits for it). On start, a set whose last success (in
.depot/history.jsonl) is older than its previous scheduled time runs at once.

SIGHUP re-reads the config: an invalid one is refused, logged, and the old one
kept; running jobs go on. SIGTERM or SIGINT stops scheduling, lets running jobs
finish for up to --grace, then stops them (their .partial is kept for the next
run) and exits 0.`,
		Example: "  depot daemon --config /etc/depot/depot.yaml\n  depot schedule --systemd /etc/systemd/system --daemon",
		Args:    args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			d, err := g.load()
			if err != nil {
				return err
			}
			if len(d.Config.ScheduledJobs()) == 0 {
				d.Close()
				return &director.UsageError{Msg: "nothing to schedule in " + d.Config.File + `: give a set a schedule, e.g. schedule: "0 2 * * *"`}
			}
			ctx := cmd.Context()
			o.Reload = hangups(ctx)
			dm, err := director.NewDaemon(d, o)
			if err != nil {
				d.Close()
				return err
			}
			return dm.Run(ctx)
		},
	}
	cmd.Flags().DurationVar(&o.Grace, "grace", director.DefaultGrace, "after SIGTERM, how long running jobs may finish before they are stopped")
	cmd.Flags().DurationVar(&o.Wait, "wait", time.Hour, "how long a job waits for a repository lock held by another depot")
	return cmd
}

// hangups turns SIGHUP into reload requests until ctx ends.
func hangups(ctx context.Context) <-chan struct{} {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGHUP)
	out := make(chan struct{})
	go func() {
		defer signal.Stop(sig)
		for {
			select {
			case <-sig:
				select {
				case out <- struct{}{}:
				case <-ctx.Done():
					return
				}
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}

func scheduleCmd(g *globals) *cobra.Command {
	var cron, install, daemon bool
	var dir string
	cmd := &cobra.Command{
		Use:   "schedule --cron | --systemd DIR [--daemon] | --install [--daemon]",
		Short: "Print crontab lines or write systemd units for the config's schedules",
		Long: `For those who prefer cron or systemd to depot daemon. --cron prints one crontab
line per scheduled job, with a comment. --systemd DIR writes, per job, a
depot-JOB.service and a depot-JOB.timer (OnCalendar from the cron expression,
Persistent=true, RandomizedDelaySec from the jitter); with --daemon it writes
instead one depot.service that runs depot daemon. --install writes them into
/etc/systemd/system and runs systemctl daemon-reload where systemd runs.
A mirror with schedule: after-runs runs after each set's run. The commands
name this depot binary and the config by absolute path.`,
		Example: "  depot schedule --cron | crontab -\n  depot schedule --systemd ./units\n  depot schedule --install --daemon",
		Args:    args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if install && dir == "" {
				dir = "/etc/systemd/system"
			}
			if cron == (dir != "") {
				return &director.UsageError{Msg: "schedule needs exactly one of --cron, --systemd DIR and --install"}
			}
			if daemon && cron {
				return &director.UsageError{Msg: "--daemon goes with --systemd or --install: cron cannot run a daemon"}
			}
			return g.with(func(d *director.Director) error {
				jobs, err := cronJobs(d.Config)
				if err != nil {
					return err
				}
				zone := d.Config.Repository.Permanent.Timezone
				if cron {
					text, err := schedules.Crontab(jobs, zone)
					if err != nil {
						return &director.UsageError{Err: err}
					}
					_, err = fmt.Fprint(g.stdout, text)
					return err
				}
				var units []schedules.Unit
				if daemon {
					exe, cfg, err := selfAndConfig(d.Config)
					if err != nil {
						return err
					}
					units = []schedules.Unit{schedules.DaemonUnit([]string{exe, "--config", cfg, "daemon"}, director.DefaultGrace)}
				} else if units, err = schedules.SystemdUnits(jobs, zone); err != nil {
					return &director.UsageError{Err: err}
				}
				return writeUnits(cmd.Context(), g, dir, units, install)
			})
		},
	}
	cmd.Flags().BoolVar(&cron, "cron", false, "print crontab lines")
	cmd.Flags().StringVar(&dir, "systemd", "", "write systemd units into this directory")
	cmd.Flags().BoolVar(&install, "install", false, "write the units into /etc/systemd/system (or --systemd DIR) and run systemctl daemon-reload")
	cmd.Flags().BoolVar(&daemon, "daemon", false, "with --systemd or --install: write one depot.service that runs depot daemon")
	return cmd
}

// selfAndConfig returns this binary's and the config's absolute paths.
func selfAndConfig(cfg *director.Config) (string, string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", "", fmt.Errorf("find the depot binary: %w", err)
	}
	path, err := filepath.Abs(cfg.File)
	if err != nil {
		return "", "", fmt.Errorf("config path: %w", err)
	}
	return exe, path, nil
}

// cronJobs turns the config's scheduled jobs into depot commands.
func cronJobs(cfg *director.Config) ([]schedules.Job, error) {
	exe, path, err := selfAndConfig(cfg)
	if err != nil {
		return nil, err
	}
	depot := func(verb string, a ...string) []string {
		return append([]string{exe, "--config", path, verb, "--quiet"}, a...)
	}
	var follow [][]string
	for _, j := range cfg.ScheduledJobs() {
		if j.Kind == director.JobMirror && !j.Timing.Scheduled() {
			follow = append(follow, depot("mirror", "--wait", "1h", j.Target))
		}
	}
	var jobs []schedules.Job
	for _, j := range cfg.ScheduledJobs() {
		if !j.Timing.Scheduled() {
			continue
		}
		job := schedules.Job{Name: j.Name, What: j.What, Cron: j.Timing.Cron(), Jitter: j.Timing.JitterDuration()}
		switch j.Kind {
		case director.JobSet:
			job.Argv = depot("run", "--wait", "1h", j.Target)
			if len(j.Timing.WindowList()) > 0 {
				job.Argv = depot("run", "--wait", "1h", "--in-windows", j.Target)
			}
			job.Then = follow
		case director.JobMirror:
			job.Argv = depot("mirror", "--wait", "1h", j.Target)
		case director.JobPrune:
			job.Argv = depot("prune", "--wait", "1h")
		case director.JobDrill:
			job.Argv = depot("drill")
		case director.JobVerify:
			job.Argv = depot("verify", j.Verify.Args()...)
		}
		jobs = append(jobs, job)
	}
	if len(jobs) == 0 {
		return nil, &director.UsageError{Msg: "nothing to schedule in " + cfg.File + `: give a set a schedule, e.g. schedule: "0 2 * * *"`}
	}
	return jobs, nil
}

// writeUnits writes units into dir; with install, it then reloads systemd
// where systemd runs.
func writeUnits(ctx context.Context, g *globals, dir string, units []schedules.Unit, install bool) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("units directory: %w", err)
	}
	var timers []string
	for _, u := range units {
		if err := os.WriteFile(filepath.Join(dir, u.Name), []byte(u.Content), 0o644); err != nil {
			return fmt.Errorf("write unit: %w", err)
		}
		fmt.Fprintf(g.stdout, "wrote %s\n", filepath.Join(dir, u.Name))
		if strings.HasSuffix(u.Name, ".timer") || u.Name == "depot.service" {
			timers = append(timers, u.Name)
		}
	}
	if install {
		if _, err := os.Stat("/run/systemd/system"); err != nil {
			fmt.Fprintln(g.stdout, "systemd is not running here: run systemctl daemon-reload where it does")
		} else if out, err := exec.CommandContext(ctx, "systemctl", "daemon-reload").CombinedOutput(); err != nil {
			return fmt.Errorf("systemctl daemon-reload: %w: %s", err, strings.TrimSpace(string(out)))
		}
	}
	fmt.Fprintf(g.stdout, "enable with: systemctl enable --now %s\n", strings.Join(timers, " "))
	return nil
}
