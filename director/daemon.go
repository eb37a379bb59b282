package director

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/go-co-op/gocron/v2"
	"github.com/jonboulle/clockwork"
)

// DefaultGrace is how long depot daemon lets running jobs finish after
// SIGTERM before it stops them.
const DefaultGrace = 10 * time.Minute

// DaemonOptions tune depot daemon.
type DaemonOptions struct {
	Grace time.Duration // after the stop signal, how long running jobs may finish
	// Wait is how long a job waits for the repository lock that another
	// depot (a run started by hand) holds, before the job fails.
	Wait   time.Duration
	Clock  clockwork.Clock               // nil: the real clock
	Reload <-chan struct{}               // each receive re-reads the config (SIGHUP)
	Load   func(string) (*Config, error) // nil: Load
	Jitter func(max time.Duration) time.Duration
	// OnJob, if set, is told of every job start that ended: run, failed,
	// stopped or skipped. Tests follow the schedule with it.
	OnJob func(JobEvent)
}

// JobEvent is the outcome of one start of a job.
type JobEvent struct {
	Job     string
	Start   time.Time // on the daemon's clock
	End     time.Time
	Err     error
	Skipped string // why the job did not run, if it did not
}

// Daemon runs the config's schedules with gocron until its context ends.
type Daemon struct {
	opts  DaemonOptions
	clock clockwork.Clock
	log   *slog.Logger
	sched gocron.Scheduler
	turns *turns // which jobs work on the repository at once

	mu         sync.Mutex
	dir        *Director             // the current config's
	users      map[*Director]int     // running jobs per director, to close old ones
	jobs       map[string]gocron.Job // by job name
	specs      map[string]ScheduledJob
	running    map[string]bool
	stopping   bool
	activeSets int  // set jobs started and not ended
	setsDone   bool // a set job succeeded since after-runs mirrors last started
	wg         sync.WaitGroup
	stopped    chan struct{}   // closed when the daemon starts to stop
	ctx        context.Context // the jobs'; cancelled when the grace is over
	cancel     context.CancelCauseFunc
}

// NewDaemon makes a daemon for d's config. d becomes the daemon's: it is
// closed when a reload replaces it and no job uses it any more.
func NewDaemon(d *Director, opts DaemonOptions) (*Daemon, error) {
	if opts.Clock == nil {
		opts.Clock = clockwork.NewRealClock()
	}
	if opts.Load == nil {
		opts.Load = Load
	}
	if opts.Jitter == nil {
		opts.Jitter = func(max time.Duration) time.Duration { return rand.N(max) }
	}
	if opts.Grace <= 0 {
		opts.Grace = DefaultGrace
	}
	dm := &Daemon{opts: opts, clock: opts.Clock, log: d.Log, turns: newTurns(), stopped: make(chan struct{}),
		dir: d, users: map[*Director]int{}, jobs: map[string]gocron.Job{}, specs: map[string]ScheduledJob{}, running: map[string]bool{}}
	d.Now = opts.Clock.Now
	dm.ctx, dm.cancel = context.WithCancelCause(context.Background())
	s, err := gocron.NewScheduler(gocron.WithClock(opts.Clock), gocron.WithStopTimeout(time.Second))
	if err != nil {
		return nil, fmt.Errorf("scheduler: %w", err)
	}
	dm.sched = s
	if err := dm.apply(d.Config); err != nil {
		return nil, err
	}
	return dm, nil
}

// Run starts the schedules, first the set runs that were missed while no
// daemon ran, and returns when ctx ends and the running jobs have finished
// or, after the grace, stopped.
func (dm *Daemon) Run(ctx context.Context) error {
	if listen := dm.current().Config.Metrics.Listen; listen != "" {
		go func() {
			if err := dm.current().ServeMetrics(ctx, listen, nil); err != nil {
				dm.log.Error("metrics server stopped", "listen", listen, "err", err)
			}
		}()
	}
	dm.sched.Start()
	dm.log.Info("daemon started", "config", dm.current().Config.File, "jobs", len(dm.specs))
	dm.logNextRuns()
	dm.catchUp(ctx)
	for {
		select {
		case <-dm.opts.Reload:
			dm.reload()
		case <-ctx.Done():
			return dm.stop()
		}
	}
}

// stop lets running jobs finish for up to the grace, then cancels them (they
// keep their .partial) and shuts the scheduler down.
func (dm *Daemon) stop() error {
	dm.mu.Lock()
	dm.stopping = true
	close(dm.stopped)
	var names []string
	for n := range dm.running {
		names = append(names, n)
	}
	dm.mu.Unlock()
	done := make(chan struct{})
	go func() { dm.wg.Wait(); close(done) }()
	if len(names) > 0 {
		dm.log.Info("stopping: no new jobs; running jobs may finish", "running", strings.Join(names, ", "), "grace", dm.opts.Grace)
	}
	select {
	case <-done:
	case <-dm.clock.After(dm.opts.Grace):
		dm.log.Warn("grace over: stopping the running jobs; their .partial is kept for the next run")
		dm.cancel(&StopError{Reason: "daemon shutdown"})
		<-done
	}
	dm.cancel(context.Canceled)
	if err := dm.sched.Shutdown(); err != nil {
		dm.log.Warn("scheduler shutdown", "err", err)
	}
	dm.mu.Lock()
	for d := range dm.users {
		d.Close()
	}
	dm.dir.Close()
	dm.mu.Unlock()
	dm.log.Info("daemon stopped")
	return nil
}

func (dm *Daemon) current() *Director {
	dm.mu.Lock()
	defer dm.mu.Unlock()
	return dm.dir
}

// apply schedules cfg's jobs: a job whose name is kept is updated in place
// (a running one goes on, and runJob still keeps it single), new ones are
// added and dropped ones removed. Only apply writes jobs, from one goroutine
// at a time; it takes mu for the readers elsewhere.
func (dm *Daemon) apply(cfg *Config) error {
	specs := map[string]ScheduledJob{}
	loc := cfg.ScheduleLocation().String()
	for _, j := range cfg.ScheduledJobs() {
		specs[j.Name] = j
		if !j.Timing.Scheduled() {
			continue
		}
		name := j.Name
		def := gocron.CronJob("CRON_TZ="+loc+" "+j.Timing.Schedule, false)
		task := gocron.NewTask(func() { dm.runJob(name, false) })
		// Not gocron.WithSingletonMode: it frees a job only some time after
		// its function returned, and forgets a job that a reload replaced
		// while it ran. runJob's own guard does the same exactly.
		opts := []gocron.JobOption{gocron.WithName(name)}
		var job gocron.Job
		var err error
		if old, ok := dm.jobs[name]; ok {
			job, err = dm.sched.Update(old.ID(), def, task, opts...)
		} else {
			job, err = dm.sched.NewJob(def, task, opts...)
		}
		if err != nil {
			return fmt.Errorf("schedule %s: %w", name, err)
		}
		dm.mu.Lock()
		dm.jobs[name] = job
		dm.mu.Unlock()
	}
	for name, job := range dm.jobs {
		if s, ok := specs[name]; !ok || !s.Timing.Scheduled() {
			if err := dm.sched.RemoveJob(job.ID()); err != nil {
				return fmt.Errorf("unschedule %s: %w", name, err)
			}
			dm.mu.Lock()
			delete(dm.jobs, name)
			dm.mu.Unlock()
		}
	}
	dm.mu.Lock()
	dm.specs = specs
	dm.mu.Unlock()
	return nil
}

// reload re-reads the config; an invalid one is refused and the old one
// kept.
func (dm *Daemon) reload() {
	old := dm.current()
	cfg, err := dm.opts.Load(old.Config.File)
	if err != nil {
		dm.log.Error("config reload refused; keeping the old config", "config", old.Config.File, "err", strings.ReplaceAll(err.Error(), "\n", "; "))
		return
	}
	d := New(cfg, dm.log, old.Out, old.Version) // not old.Log: a running job swaps it for its log tail
	d.Now = dm.clock.Now
	dm.mu.Lock()
	dm.dir = d
	if dm.users[old] == 0 {
		old.Close()
	}
	dm.mu.Unlock()
	if err := dm.apply(cfg); err != nil {
		dm.log.Error("config reload: scheduling failed", "err", err)
		return
	}
	dm.log.Info("config reloaded", "config", cfg.File, "digest", cfg.Digest, "jobs", len(dm.specs))
	dm.logNextRuns()
}

// logNextRuns logs when each job runs next.
func (dm *Daemon) logNextRuns() {
	dm.mu.Lock()
	specs := dm.specs
	dm.mu.Unlock()
	for _, name := range sortedJobNames(specs) {
		if !specs[name].Timing.Scheduled() {
			dm.log.Info("next run", "job", name, "at", specs[name].Timing.Schedule)
			continue
		}
		dm.logNextRun(name)
	}
}

func (dm *Daemon) logNextRun(name string) {
	dm.mu.Lock()
	job, ok := dm.jobs[name]
	spec := dm.specs[name]
	dm.mu.Unlock()
	if !ok {
		return
	}
	next, err := job.NextRun()
	if err != nil || next.IsZero() {
		return
	}
	attrs := []any{"job", name, "at", next.In(dm.current().Config.ScheduleLocation()).Format(time.RFC3339), "schedule", spec.Timing.Schedule}
	if j := spec.Timing.jitter; j > 0 {
		attrs = append(attrs, "jitter", j)
	}
	if ws := spec.Timing.windows; len(ws) > 0 {
		attrs = append(attrs, "windows", ws.String())
	}
	dm.log.Info("next run", attrs...)
}

// errSkipped marks a job start that did nothing.
var errSkipped = errors.New("skipped")
