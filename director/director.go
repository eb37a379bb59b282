package director

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"strings"
	"syscall"
	"time"
)

// Director carries out commands for one loaded config.
type Director struct {
	Config  *Config
	Log     *slog.Logger
	Out     io.Writer        // reports for people (plan, list)
	Now     func() time.Time // the clock; tests inject their own
	Version string           // depot's version, recorded in manifests
	// NextRun tells status and metrics when a set runs next; false (or a
	// nil NextRun) means it has no schedule. The daemon sets it.
	NextRun func(set string) (time.Time, bool)
	hosts   *hostSet

	// Progress, when set, is shown how runs go (a terminal's live line).
	Progress      Progress
	ProgressEvery time.Duration // how often; default DefaultProgressEvery
	progress      *progressRun  // the running set's

	held *heldBack // deletions the guard held back, for the run's notification
}

// New returns a director for cfg. Close it to close its SSH connections.
func New(cfg *Config, log *slog.Logger, out io.Writer, version string) *Director {
	return &Director{Config: cfg, Log: log, Out: out, Now: time.Now, Version: version, hosts: &hostSet{opts: cfg.SSH.Options()}, held: &heldBack{}}
}

// selectSets returns the sets named in names, or all sets when names is empty.
func (d *Director) selectSets(names []string) ([]*SetConfig, error) {
	if len(names) == 0 {
		out := make([]*SetConfig, len(d.Config.Sets))
		for i := range d.Config.Sets {
			out[i] = &d.Config.Sets[i]
		}
		return out, nil
	}
	var out []*SetConfig
	for _, n := range uniqueNames(names) {
		if err := checkSetName(n); err != nil {
			return nil, err
		}
		s, ok := d.Config.Set(n)
		if !ok {
			return nil, &UsageError{Msg: fmt.Sprintf("no set %q in %s (sets: %s)", n, d.Config.File, strings.Join(d.setNames(), ", "))}
		}
		out = append(out, s)
	}
	return out, nil
}

func (d *Director) setNames() []string {
	names := make([]string, len(d.Config.Sets))
	for i, s := range d.Config.Sets {
		names[i] = s.Name
	}
	return names
}

// UsageError is a mistake in how depot was called: exit status 2. Msg says
// what was wrong; Err, when set, is the cause, kept for errors.Is and As.
type UsageError struct {
	Msg string
	Err error
}

func (e *UsageError) Error() string {
	switch {
	case e.Err == nil:
		return e.Msg
	case e.Msg == "":
		return e.Err.Error()
	}
	return e.Msg + ": " + e.Err.Error()
}

func (e *UsageError) Unwrap() error { return e.Err }

// crashEnv names a step at which depot kills itself, for the crash tests:
// "STEP" sends SIGKILL, "STEP:TERM" sends SIGTERM and lets the run stop the way
// it does on a real signal.
const crashEnv = "DEPOT_TEST_CRASH_AT"

// step marks a point between the steps of a run. It returns the context's error
// once the run has been told to stop, so every step boundary is a place where a
// signal takes effect; crash tests also kill depot here (see crashEnv).
func step(ctx context.Context, name string) error {
	if at, ok := os.LookupEnv(crashEnv); ok {
		point, sig, _ := strings.Cut(at, ":")
		if point == name {
			if sig == "TERM" {
				_ = syscall.Kill(os.Getpid(), syscall.SIGTERM)
				select {
				case <-ctx.Done():
				case <-time.After(10 * time.Second):
				}
			} else {
				_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
				select {}
			}
		}
	}
	return ctx.Err()
}

// seconds is a duration for logs: a number of seconds, to the millisecond,
// which reads the same in text and JSON logs (slog writes a Duration in
// JSON as nanoseconds).
func seconds(d time.Duration) float64 {
	// Whole milliseconds over 1000: Duration.Seconds adds the fraction to
	// the whole seconds, which logs 1.7389999999999999 for 1.739 s.
	return math.Round(float64(d)/float64(time.Millisecond)) / 1000
}

// nextRunOf is when set runs next: what the daemon says (NextRun), else what
// the config's schedule says from now.
func (d *Director) nextRunOf(set string) (time.Time, bool) {
	if d.NextRun != nil {
		return d.NextRun(set)
	}
	return d.Config.NextRun(set, d.Now())
}
