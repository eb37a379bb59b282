// Command depot is a declarative backup orchestrator: one YAML file describes
// what to back up; depot makes complete, hard-linked snapshots with rsync.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/depot-backup/depot/director"
	"github.com/depot-backup/depot/repository"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = ""

// Exit statuses.
const (
	exitOK     = 0
	exitFailed = 1 // a set failed
	exitUsage  = 2 // usage or config error
	exitLocked = 3 // another run holds the repository
	// exitStopped: a run stopped at --stop-after or its window's end; the
	// next run resumes it.
	exitStopped = 4
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// globals are the flags every verb has.
type globals struct {
	config    string
	logFormat string
	logLevel  string
	quiet     bool
	stdout    io.Writer
	stderr    io.Writer
	log       *slog.Logger
	// started is set once depot's own code runs (the root's
	// PersistentPreRunE): an error before that is cobra's, about the
	// command line.
	started bool
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	g := &globals{stdout: stdout, stderr: stderr}
	root := &cobra.Command{
		Use:   "depot",
		Short: "Declarative backups: complete, hard-linked snapshots made with rsync",
		Long: `depot backs up what one YAML file describes into a repository of snapshots.
Every snapshot is complete and self-contained: unchanged files are hard links to
the previous snapshot, so any snapshot can be browsed with ls, restored with cp
and deleted without harming another.

The config is --config, else ./depot.yaml, else /etc/depot/depot.yaml.
Exit status: 0 success, 1 a set failed, 2 usage or config error, 3 locked,
4 stopped at --stop-after or a window's end (the next run resumes).`,
		Version:       versionString(),
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			g.started = true
			opts, err := g.logOptions()
			if err != nil {
				return err
			}
			var h slog.Handler
			switch g.logFormat {
			case "text":
				h = slog.NewTextHandler(stderr, opts)
			case "json":
				h = slog.NewJSONHandler(stderr, opts)
			default:
				return &director.UsageError{Msg: fmt.Sprintf("--log-format %q: want text or json", g.logFormat)}
			}
			g.log = slog.New(h)
			return nil
		},
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetArgs(args)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &cobraUsageError{err} })
	root.SetVersionTemplate("depot {{.Version}} (" + runtime.Version() + ")\n")
	root.PersistentFlags().StringVarP(&g.config, "config", "c", "", "config file (default ./depot.yaml, then /etc/depot/depot.yaml)")
	root.PersistentFlags().StringVar(&g.logFormat, "log-format", "text", "log format on stderr: text or json")
	root.PersistentFlags().StringVar(&g.logLevel, "log-level", "info", "least important log messages shown: debug, info, warn or error")
	root.PersistentFlags().BoolVarP(&g.quiet, "quiet", "q", false, "warnings and errors only (same as --log-level warn): a successful run prints nothing, so cron mails only trouble")
	root.AddCommand(validateCmd(g), checkCmd(g), planCmd(g), runCmd(g), migrateCmd(g), pruneCmd(g), listCmd(g), restoreCmd(g), mirrorCmd(g), verifyCmd(g))
	root.AddCommand(initCmd(g), historyCmd(g), statusCmd(g))
	root.AddCommand(daemonCmd(g), scheduleCmd(g))
	root.AddCommand(forgetCmd(g))
	root.AddCommand(lsCmd(g), versionsCmd(g), diffCmd(g), exportCmd(g), drillCmd(g))

	err := root.ExecuteContext(ctx)
	if err != nil && !g.started {
		// An unknown command, a bad flag or argument: cobra gives these no
		// type of their own, but they all come before depot's code runs.
		err = &cobraUsageError{err}
	}
	if err != nil && g.logFormat == "json" && g.log != nil {
		// A machine reading the JSON log gets the final error as a
		// record too, not as a line of text among the records.
		code := report(err, io.Discard)
		g.log.Error("depot failed", "err", err.Error(), "exit", code)
		return code
	}
	return report(err, stderr)
}

// logOptions turns --log-level and --quiet into the handler's level.
func (g *globals) logOptions() (*slog.HandlerOptions, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(g.logLevel)); err != nil {
		return nil, &director.UsageError{Msg: fmt.Sprintf("--log-level %q: want debug, info, warn or error", g.logLevel)}
	}
	if g.quiet && level < slog.LevelWarn {
		level = slog.LevelWarn
	}
	return &slog.HandlerOptions{Level: level}, nil
}

// report prints err as one line (a config's errors as one line each) and
// returns the exit status for it.
func report(err error, stderr io.Writer) int {
	if err == nil {
		return exitOK
	}
	var cfgErrs director.ConfigErrors
	var usage *director.UsageError
	switch {
	case errors.As(err, &cfgErrs):
		fmt.Fprintln(stderr, cfgErrs.Error())
		fmt.Fprintf(stderr, "depot: %d error(s) in the config\n", len(cfgErrs))
		return exitUsage
	case errors.Is(err, repository.ErrLocked):
		fmt.Fprintf(stderr, "depot: repository %v\n", err)
		return exitLocked
	case errors.As(err, &usage), errors.As(err, new(*cobraUsageError)):
		fmt.Fprintf(stderr, "depot: %v\n", err)
		return exitUsage
	case errors.Is(err, director.ErrChecksFailed), errors.Is(err, director.ErrVerifyFailed), errors.Is(err, director.ErrStale):
		return exitFailed
	case errors.Is(err, director.ErrSetsFailed), errors.Is(err, director.ErrMirrorsFailed):
		fmt.Fprintf(stderr, "depot: %v\n", err)
		return exitFailed
	case errors.Is(err, director.ErrStopped):
		fmt.Fprintf(stderr, "depot: %v (the unfinished snapshot stays in .partial)\n", err)
		return exitStopped
	case errors.Is(err, context.Canceled):
		fmt.Fprintln(stderr, "depot: interrupted; the next run resumes the unfinished snapshot")
		return exitFailed
	}
	fmt.Fprintf(stderr, "depot: %v\n", err)
	return exitFailed
}

// cobraUsageError is an error of cobra's about the command line: exit 2.
type cobraUsageError struct{ err error }

func (e *cobraUsageError) Error() string { return e.err.Error() }
func (e *cobraUsageError) Unwrap() error { return e.err }

// args wraps a cobra argument validator so its errors count as usage errors.
func args(v cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, a []string) error {
		if err := v(cmd, a); err != nil {
			return &cobraUsageError{err}
		}
		return nil
	}
}

// load finds and loads the config and makes a director for it.
func (g *globals) load() (*director.Director, error) {
	path, err := director.FindConfig(g.config)
	if err != nil {
		return nil, &director.UsageError{Err: err}
	}
	cfg, err := director.Load(path)
	if err != nil {
		var cfgErrs director.ConfigErrors
		if errors.As(err, &cfgErrs) {
			return nil, err
		}
		return nil, &director.UsageError{Err: err}
	}
	return director.New(cfg, g.log, g.stdout, versionString()), nil
}

// with loads the config and runs f with a director, closed afterwards.
func (g *globals) with(f func(*director.Director) error) error {
	d, err := g.load()
	if err != nil {
		return err
	}
	defer d.Close()
	return f(d)
}

// loadOptional is load for commands that work without a config: with none
// found, they get an empty one (ssh settings at their defaults).
func (g *globals) loadOptional() (*director.Director, error) {
	if g.config == "" {
		if _, err := director.FindConfig(""); err != nil {
			return director.New(&director.Config{}, g.log, g.stdout, versionString()), nil
		}
	}
	return g.load()
}

func versionString() string {
	if version != "" {
		return version
	}
	return buildVersion(debug.ReadBuildInfo())
}
