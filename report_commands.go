package main

import (
	"io"
	"os"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/depot-backup/depot/director"
)

func historyCmd(g *globals) *cobra.Command {
	var asJSON bool
	var last int
	cmd := &cobra.Command{
		Use:   "history [SET]",
		Short: "List past runs: time, set, status, duration, snapshot, error",
		Long: `List the runs recorded in the repository's run history (.depot/history.jsonl),
oldest first: when each started, its set, its status (ok, warning, partial,
failed or stopped), how long it took, the snapshot it made and the error that
failed it. The history is bounded: past 1 MiB it is rotated to
history.jsonl.1, replacing the one before.`,
		Example: "  depot history\n  depot history web --last 5\n  depot history --json",
		Args:    args(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			if last < 0 {
				return &director.UsageError{Msg: "--last: want 0 (all) or more"}
			}
			return g.with(func(d *director.Director) error {
				set := ""
				if len(a) == 1 {
					set = a[0]
				}
				recs, err := d.History(cmd.Context(), set, last)
				if err != nil {
					return err
				}
				return d.PrintHistory(recs, asJSON)
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the runs as JSON")
	cmd.Flags().IntVarP(&last, "last", "n", 20, "show only the last N runs; 0 for all")
	return cmd
}

func statusCmd(g *globals) *cobra.Command {
	var asJSON bool
	var maxAge string
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show each set's last run and success, next run, snapshots and leftovers; alert on stale sets",
		Long: `Show, for each set: its last run and how it went, its last success and how old
that is, its next scheduled run ("-" without a schedule), its snapshots per
section, the size of the newest, leftover .partial snapshots, and the items
that failed in the last run.

A set is stale when its last success is older than its alert_after (or the
config's), or than --max-age, which overrides both; a set that never succeeded
is stale too once a limit applies. status exits 1 when a set is stale and logs
why, so it serves as a check for Nagios, Icinga and the like.`,
		Example: "  depot status\n  depot status --max-age 26h\n  depot status --json",
		Args:    args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			var opts director.StatusOptions
			if maxAge != "" {
				age, err := director.ParseAge(maxAge)
				if err != nil {
					return &director.UsageError{Msg: "--max-age", Err: err}
				}
				opts.MaxAge = age
			}
			return g.with(func(d *director.Director) error {
				sts, err := d.Status(cmd.Context(), opts)
				if err != nil {
					return err
				}
				return d.PrintStatus(sts, asJSON)
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the status as JSON")
	cmd.Flags().StringVar(&maxAge, "max-age", "", "exit 1 when a set's last success is older than this (e.g. 26h, 2d)")
	return cmd
}

// buildVersion is depot's version from Go's build info: the module version
// ("dev" for a build from a work tree) and, when the build recorded one, the
// VCS revision, marked -modified for a tree with uncommitted changes.
func buildVersion(info *debug.BuildInfo, ok bool) string {
	if !ok {
		return "dev"
	}
	v := info.Main.Version
	if v == "" || v == "(devel)" {
		v = "dev"
	}
	var rev string
	modified := false
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if rev == "" || strings.Contains(v, rev[:min(12, len(rev))]) {
		return v // a pseudo-version names its revision already
	}
	v += "+" + rev[:min(12, len(rev))]
	if modified {
		v += "-modified"
	}
	return v
}

// progressFlags are --progress and --no-progress: a live line on the
// terminal while sets run. By default it is shown when stderr is a terminal
// and the logs are text; never in cron or JSON.
type progressFlags struct{ on, off bool }

func (p *progressFlags) add(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&p.on, "progress", false, "show a live progress line on stderr even when it is not a terminal")
	cmd.Flags().BoolVar(&p.off, "no-progress", false, "never show the progress line")
}

// apply gives d a progress line when the flags and stderr call for one.
func (p progressFlags) apply(g *globals, d *director.Director) error {
	if p.on && p.off {
		return &director.UsageError{Msg: "--progress and --no-progress: choose one"}
	}
	show := p.on || !p.off && g.logFormat == "text" && isTerminal(g.stderr)
	if show {
		d.Progress = director.NewTerminalProgress(g.stderr)
	}
	return nil
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}
