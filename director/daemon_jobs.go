package director

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"
)

// Kinds of scheduled job.
const (
	JobSet    = "set"
	JobMirror = "mirror"
	JobVerify = "verify"
	JobPrune  = "prune"
	JobDrill  = "drill"
)

// ScheduledJob is one job the config schedules.
type ScheduledJob struct {
	Name   string // unique: set-web, mirror-offsite, verify, prune
	Kind   string // JobSet, JobMirror, JobVerify or JobPrune
	Target string // the set's or mirror's name
	What   string // for people: "back up set web"
	Timing JobTiming
	Verify VerifyOptions // verify's
}

// ScheduledJobs returns the jobs with a schedule (or after-runs), sets
// first, in config order.
func (c *Config) ScheduledJobs() []ScheduledJob {
	var out []ScheduledJob
	for _, s := range c.Sets {
		if s.Schedule != "" {
			out = append(out, ScheduledJob{Name: "set-" + s.Name, Kind: JobSet, Target: s.Name, What: "back up set " + s.Name, Timing: s.JobTiming})
		}
	}
	for _, m := range c.Mirrors {
		if m.Schedule != "" {
			out = append(out, ScheduledJob{Name: "mirror-" + m.Name, Kind: JobMirror, Target: m.Name, What: "mirror the repository to " + m.Name, Timing: m.JobTiming})
		}
	}
	if v := c.Repository.Verify; v != nil && v.Schedule != "" {
		out = append(out, ScheduledJob{Name: "verify", Kind: JobVerify, What: v.Options().describe(), Timing: v.JobTiming, Verify: v.Options()})
	}
	if p := c.Repository.Prune; p != nil && p.Schedule != "" {
		out = append(out, ScheduledJob{Name: "prune", Kind: JobPrune, What: "apply retention to every set", Timing: p.JobTiming})
	}
	if p := c.Repository.Drill; p != nil && p.Schedule != "" {
		out = append(out, ScheduledJob{Name: "drill", Kind: JobDrill, What: "restore drill of every set", Timing: p.JobTiming})
	}
	return out
}

func sortedJobNames(specs map[string]ScheduledJob) []string {
	names := make([]string, 0, len(specs))
	for n := range specs {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// runJob runs one start of the job name, unless it is running already (a
// reload can bring a new start while the old one runs), the daemon is
// stopping, or its windows are closed. A start that follows the runs (an
// after-runs mirror) has no jitter.
func (dm *Daemon) runJob(name string, follows bool) {
	start := dm.clock.Now()
	dm.mu.Lock()
	spec, ok := dm.specs[name]
	d := dm.dir
	switch {
	case !ok || dm.stopping:
		dm.mu.Unlock()
		return
	case dm.running[name]:
		dm.mu.Unlock()
		dm.log.Warn("job skipped: still running since its last start; it runs again at its next time", "job", name)
		dm.report(JobEvent{Job: name, Start: start, End: start, Skipped: "still running"})
		return
	}
	dm.running[name] = true
	dm.users[d]++
	dm.wg.Add(1)
	if spec.Kind == JobSet {
		dm.activeSets++
	}
	dm.mu.Unlock()

	err := dm.runSpec(d, spec, follows)
	if spec.Kind == JobSet || spec.Kind == JobPrune {
		// What retention deleted is unlinked after the job's turn, so
		// pruning never delays the next job; so is what list shows of
		// what deleting each snapshot frees brought up to date.
		d.EmptyTrash(dm.ctx)
		sets := d.setNames()
		if spec.Kind == JobSet {
			sets = []string{spec.Target}
		}
		d.RecordFrees(dm.ctx, sets)
	}
	ev := JobEvent{Job: name, Start: start, End: dm.clock.Now(), Err: err}
	var skip *skipError
	switch {
	case errors.As(err, &skip):
		ev.Err, ev.Skipped = nil, skip.why
	case err != nil && errors.Is(err, ErrStopped):
		dm.log.Warn("job stopped, will resume", "job", name, "why", err)
	case err != nil:
		dm.log.Error("job failed", "job", name, "err", err)
	default:
		dm.log.Info("job done", "job", name, "took", ev.End.Sub(start).Round(time.Millisecond))
	}

	dm.mu.Lock()
	delete(dm.running, name)
	dm.users[d]--
	if dm.users[d] == 0 && d != dm.dir {
		d.Close()
		delete(dm.users, d)
	}
	var follow []string
	if spec.Kind == JobSet {
		dm.activeSets--
		dm.setsDone = dm.setsDone || err == nil
		if dm.activeSets == 0 && dm.setsDone && !dm.stopping {
			dm.setsDone = false
			for _, n := range sortedJobNames(dm.specs) {
				if s := dm.specs[n]; s.Kind == JobMirror && s.Timing.Schedule == AfterRuns {
					follow = append(follow, n)
				}
			}
		}
	}
	dm.mu.Unlock()
	dm.logNextRun(name)
	for _, n := range follow {
		dm.log.Info("the scheduled runs are done: starting the mirror that follows them", "job", n)
		dm.runJob(n, true)
	}
	// Reported after the mirrors it started: the event tells that
	// everything this start brought about has ended.
	dm.report(ev)
	dm.wg.Done()
}

func (dm *Daemon) report(ev JobEvent) {
	if dm.opts.OnJob != nil {
		dm.opts.OnJob(ev)
	}
}

// skipError is a job start that did not run, and why.
type skipError struct{ why string }

func (e *skipError) Error() string { return "skipped: " + e.why }
func (e *skipError) Unwrap() error { return errSkipped }

// runSpec waits out the jitter, checks the windows, waits for the
// repository, and runs the job with d until it ends or its window closes.
func (dm *Daemon) runSpec(d *Director, spec ScheduledJob, follows bool) error {
	ctx := dm.ctx
	if j := spec.Timing.jitter; j > 0 && !follows {
		delay := dm.opts.Jitter(j)
		dm.log.Info("job waits for its jitter", "job", spec.Name, "delay", delay.Round(time.Second))
		select {
		case <-dm.clock.After(delay):
		case <-dm.stopped:
			return &skipError{why: "depot is stopping"}
		}
	}
	loc := d.Config.ScheduleLocation()
	now := dm.clock.Now().In(loc)
	if ws := spec.Timing.windows; len(ws) > 0 {
		closes, open := ws.Open(now)
		if !open {
			dm.log.Info("job skipped: outside its windows", "job", spec.Name, "windows", ws.String(), "next_window", ws.NextOpen(now).Format(time.RFC3339))
			return &skipError{why: "outside its windows"}
		}
		var cancel context.CancelFunc
		ctx, cancel = StopAt(ctx, closes.Sub(now), "window end", func(wait time.Duration, f func()) func() bool { return dm.clock.AfterFunc(wait, f).Stop })
		defer cancel()
	}
	host := ""
	if set, ok := d.Config.Set(spec.Target); ok && spec.Kind == JobSet {
		host = sourceHost(set.Source)
	}
	release, err := dm.turns.take(ctx, dm.stopped, d.Config.Concurrency, host, spec.Kind != JobSet)
	if errors.Is(err, errDaemonStopping) {
		return &skipError{why: "depot is stopping"}
	}
	if err != nil {
		return err
	}
	defer release()
	select {
	case <-dm.stopped: // while it waited for its jitter or its turn
		return &skipError{why: "depot is stopping"}
	default:
	}
	dm.log.Info("job starts", "job", spec.Name, "what", spec.What)
	wait := dm.opts.Wait
	switch spec.Kind {
	case JobSet:
		return d.Run(ctx, []string{spec.Target}, RunOptions{Wait: wait, LeaveTrash: true})
	case JobMirror:
		return d.Mirror(ctx, []string{spec.Target}, MirrorOptions{Wait: wait})
	case JobPrune:
		_, err := d.Prune(ctx, nil, RunOptions{Wait: wait, LeaveTrash: true})
		return err
	case JobVerify:
		o := spec.Verify
		o.Log = true // nobody reads the daemon's output: each result is logged too
		return d.VerifyWith(ctx, "", o)
	case JobDrill:
		return d.Drill(ctx, nil, DrillOptions{Wait: wait})
	}
	return fmt.Errorf("job %s: unknown kind %q", spec.Name, spec.Kind)
}

// catchUp runs now each scheduled set whose last success is older than its
// previous scheduled time (or that never succeeded), like systemd's
// Persistent=true, unless its windows are closed now.
func (dm *Daemon) catchUp(ctx context.Context) {
	d := dm.current()
	last, err := d.lastSuccess(ctx)
	if err != nil {
		dm.log.Warn("cannot read the run history: no missed runs are caught up", "err", err)
		return
	}
	now := dm.clock.Now().In(d.Config.ScheduleLocation())
	for _, j := range d.Config.ScheduledJobs() {
		if j.Kind != JobSet || !j.Timing.Scheduled() {
			continue
		}
		prev := j.Timing.cron.Prev(now)
		ok, seen := last[j.Target]
		if prev.IsZero() || seen && !ok.Before(prev) {
			continue
		}
		if _, open := j.Timing.windows.Open(now); !open {
			continue
		}
		why := "never succeeded"
		if seen {
			why = "last success " + ok.In(now.Location()).Format(time.RFC3339)
		}
		dm.log.Info("missed run: running now", "job", j.Name, "scheduled", prev.Format(time.RFC3339), "why", why)
		dm.mu.Lock()
		job, scheduled := dm.jobs[j.Name]
		dm.mu.Unlock()
		if scheduled {
			if err := job.RunNow(); err != nil {
				dm.log.Warn("missed run not started", "job", j.Name, "err", err)
			}
		}
	}
}

// lastSuccess reads the start of each set's newest successful run from the
// run history.
func (d *Director) lastSuccess(ctx context.Context) (map[string]time.Time, error) {
	recs, err := d.readHistory(ctx, d.repo(), "")
	if err != nil {
		return nil, err
	}
	last := map[string]time.Time{}
	for _, rec := range recs {
		if rec.Succeeded() && rec.Started.After(last[rec.Set]) {
			last[rec.Set] = rec.Started
		}
	}
	return last, nil
}
