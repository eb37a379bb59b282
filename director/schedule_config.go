package director

import (
	"fmt"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/depot-backup/depot/schedules"
)

// AfterRuns is a mirror's schedule that follows the sets' scheduled runs:
// the mirror starts once no scheduled set is running any more.
const AfterRuns = "after-runs"

// JobTiming says when depot daemon (or cron, or systemd) starts a set, a
// mirror, or a repository job. Every schedule is in the config's time zone:
// repository.permanent.timezone, else the machine's.
type JobTiming struct {
	// Schedule is a 5-field cron expression, @daily and the like, @every
	// DURATION (the daemon and systemd only), or for a mirror after-runs.
	Schedule string `yaml:"schedule"`
	// Jitter is the longest random delay before a start, so that many
	// hosts do not all start at 02:00:00.
	Jitter string `yaml:"jitter"`
	// Windows are the hours in which the job may start and run, e.g.
	// ["22:00-06:00"] or ["mon-fri 20:00-07:00", "sat,sun 00:00-24:00"].
	// A run still going when its window closes stops, keeping .partial,
	// and the next run in a window resumes it.
	Windows []string `yaml:"windows"`

	cron    schedules.Cron
	jitter  time.Duration
	windows schedules.Windows
}

// Scheduled reports whether the job has a schedule of its own (not
// after-runs).
func (t JobTiming) Scheduled() bool { return t.Schedule != "" && t.Schedule != AfterRuns }

// Cron returns the parsed schedule; valid when Scheduled.
func (t JobTiming) Cron() schedules.Cron { return t.cron }

// JitterDuration returns the parsed jitter, 0 for none.
func (t JobTiming) JitterDuration() time.Duration { return t.jitter }

// WindowList returns the parsed windows; none means any time.
func (t JobTiming) WindowList() schedules.Windows { return t.windows }

// RepositoryJobs are the repository's own scheduled jobs.
type RepositoryJobs struct {
	Verify *VerifyJobConfig `yaml:"verify"`
	// Prune, when it has a schedule, takes deletions out of the runs: a run
	// then only migrates, and the prune job deletes.
	Prune *PruneJobConfig `yaml:"prune"`
	// Drill is a scheduled depot drill of every set.
	Drill *PruneJobConfig `yaml:"drill"`
}

// VerifyJobConfig is a scheduled verify, narrowed as depot verify's flags
// narrow one.
type VerifyJobConfig struct {
	JobTiming `yaml:",inline"`
	// Sample is "N", how many snapshots picked at random among all
	// complete ones each verify reads, or "P%", the share of the files it
	// hashes (picked at random each time); unset reads them all.
	Sample string `yaml:"sample"`
	// MaxBytes stops hashing at that many bytes (10G); the other files are
	// checked by size and type.
	MaxBytes string `yaml:"max_bytes"`
	// Since verifies only the snapshots made within that age (7d, 36h).
	Since string `yaml:"since"`

	options VerifyOptions
}

// Options returns what each scheduled verify reads; valid once the config
// is validated.
func (v *VerifyJobConfig) Options() VerifyOptions { return v.options }

// checkNarrowing parses sample, max_bytes and since in mapping n, reporting each
// mistake at its position.
func (v *VerifyJobConfig) checkNarrowing(d *decoder, n *yaml.Node) {
	o := &v.options
	if s := mappingValue(n, "sample"); v.Sample != "" && d.ok(s) {
		var err error
		if o.Snapshots, o.Percent, err = ParseSample(v.Sample); err != nil {
			d.errorf(s, `e.g. 5 (snapshots picked at random) or "5%" (of the files); leave it out to read all`,
				"repository.verify.sample: %q: want a number of snapshots, at least 1, or a percentage of files above 0%% and at most 100%%", v.Sample)
		}
	}
	if s := mappingValue(n, "max_bytes"); v.MaxBytes != "" && d.ok(s) {
		var err error
		if o.MaxBytes, err = ParseBytes(v.MaxBytes); err != nil {
			d.errorf(s, "the most each verify hashes", "repository.verify.max_bytes: %v", err)
		}
	}
	if s := mappingValue(n, "since"); v.Since != "" && d.ok(s) {
		var err error
		if o.Since, err = ParseAge(v.Since); err != nil {
			d.errorf(s, "verify only the snapshots made within that age", "repository.verify.since: %v", err)
		}
	}
	if s := mappingValue(n, "sample"); o.Snapshots > 0 && (v.MaxBytes != "" || v.Since != "") {
		d.errorf(s, `sample: "P%" (a share of the files) goes with max_bytes and since; or leave those out`,
			"repository.verify.sample: %s picks whole snapshots at random, which max_bytes and since do not narrow", v.Sample)
	}
}

// PruneJobConfig is a scheduled prune of every set.
type PruneJobConfig struct {
	JobTiming `yaml:",inline"`
}

// PruneDeferred reports whether deletions wait for the prune schedule
// instead of following each run.
func (c *Config) PruneDeferred() bool {
	return c.Repository.Prune != nil && c.Repository.Prune.Scheduled()
}

// ScheduleLocation is the zone every schedule and window is read in.
func (c *Config) ScheduleLocation() *time.Location { return c.Repository.Permanent.Location() }

// NextRun returns when set's schedule next starts it after t (before any
// jitter, and skipping times outside its windows), or false when the set
// has no schedule or none of its times falls in a window within a year.
func (c *Config) NextRun(set string, t time.Time) (time.Time, bool) {
	s, ok := c.Set(set)
	if !ok || !s.Scheduled() {
		return time.Time{}, false
	}
	return s.JobTiming.next(t.In(c.ScheduleLocation()))
}

// next returns the first scheduled time after t that falls in a window.
func (t JobTiming) next(after time.Time) (time.Time, bool) {
	limit := after.AddDate(1, 0, 0)
	for at := t.cron.Next(after); !at.IsZero() && at.Before(limit); at = t.cron.Next(at) {
		if _, open := t.windows.Open(at); open {
			return at, true
		}
	}
	return time.Time{}, false
}

const (
	scheduleHint = `a cron expression "MIN HOUR DAY MONTH WEEKDAY" such as "0 2 * * *", or @hourly, @daily, @weekly, @monthly`
	windowHint   = `[DAYS] HH:MM-HH:MM, e.g. "22:00-06:00" or "mon-fri 20:00-07:00"`
)

// validateSchedules parses every schedule, jitter and window, reporting each
// mistake at its position.
func (c *Config) validateSchedules(d *decoder, doc *yaml.Node) {
	sets := sequence(mappingValue(doc, "sets"))
	for i := range c.Sets {
		if i < len(sets) {
			c.Sets[i].JobTiming.check(d, resolve(sets[i]), fmt.Sprintf("set %q", c.Sets[i].Name), false)
		}
	}
	mirrors := sequence(mappingValue(doc, "mirrors"))
	for i := range c.Mirrors {
		if i < len(mirrors) {
			c.Mirrors[i].JobTiming.check(d, resolve(mirrors[i]), fmt.Sprintf("mirror %q", c.Mirrors[i].Name), true)
		}
	}
	repo := resolve(mappingValue(doc, "repository"))
	if v := c.Repository.Verify; v != nil {
		n := resolve(mappingValue(repo, "verify"))
		v.check(d, n, "repository.verify", false)
		v.required(d, n, "repository.verify", "verify: {schedule: \"0 6 * * 0\", sample: 5}")
		v.checkNarrowing(d, n)
	}
	if p := c.Repository.Prune; p != nil {
		n := resolve(mappingValue(repo, "prune"))
		p.check(d, n, "repository.prune", false)
		p.required(d, n, "repository.prune", "prune: {schedule: \"0 5 * * *\"}, or leave prune out to prune after each run")
	}
	if p := c.Repository.Drill; p != nil {
		n := resolve(mappingValue(repo, "drill"))
		p.check(d, n, "repository.drill", false)
		p.required(d, n, "repository.drill", "drill: {schedule: \"0 7 * * 6\"}")
	}
}

// check parses the timing in mapping n; where names its owner.
func (t *JobTiming) check(d *decoder, n *yaml.Node, where string, mirror bool) {
	if n == nil || n.Kind != yaml.MappingNode {
		return
	}
	sched := mappingValue(n, "schedule")
	switch {
	case t.Schedule == "" || !d.ok(sched):
	case t.Schedule == AfterRuns && !mirror:
		d.errorf(sched, "only a mirror can follow the runs; give a cron expression", "%s: schedule: %q is for mirrors", where, t.Schedule)
	case t.Schedule == AfterRuns:
	default:
		cr, err := schedules.ParseCron(t.Schedule)
		if err != nil {
			d.errorf(sched, scheduleHint, "%s: schedule: %v", where, err)
		}
		t.cron = cr
	}
	if j := mappingValue(n, "jitter"); t.Jitter != "" && d.ok(j) {
		dur, err := time.ParseDuration(t.Jitter)
		switch {
		case err != nil || dur <= 0:
			d.errorf(j, "a duration such as 10m or 1h", "%s: jitter: %q is not a positive duration", where, t.Jitter)
		case t.Schedule == "":
			d.errorf(j, "add a schedule, or remove jitter", "%s: jitter without a schedule", where)
		default:
			t.jitter = dur
		}
	}
	ws := mappingValue(n, "windows")
	if ws == nil || !d.ok(ws) {
		return
	}
	if t.Schedule == "" && len(t.Windows) > 0 {
		d.errorf(ws, "add a schedule: the windows say when its runs may go on", "%s: windows without a schedule", where)
		return
	}
	for i, s := range t.Windows {
		w, err := schedules.ParseWindow(s)
		if err != nil {
			d.errorf(sequence(ws)[i], windowHint, "%s: windows: %v", where, err)
			continue
		}
		t.windows = append(t.windows, w)
	}
	if t.Scheduled() && len(t.windows) == len(t.Windows) && len(t.windows) > 0 {
		if _, ok := t.next(time.Now().In(time.UTC)); !ok && t.cron.Every() == 0 {
			d.errorf(sched, "move the schedule into a window, or widen the windows", "%s: schedule: %q never falls inside its windows", where, t.Schedule)
		}
	}
}

// required reports a repository job without a schedule.
func (t *JobTiming) required(d *decoder, n *yaml.Node, where, hint string) {
	if t.Schedule == "" && n != nil && !d.misspelt(n, "schedule") {
		d.errorf(n, hint, "%s: missing key \"schedule\"", where)
	}
}

// resolve follows an alias.
func resolve(n *yaml.Node) *yaml.Node {
	if n != nil && n.Kind == yaml.AliasNode {
		return n.Alias
	}
	return n
}

// sequence returns the entries of a list node, or none.
func sequence(n *yaml.Node) []*yaml.Node {
	n = resolve(n)
	if n == nil || n.Kind != yaml.SequenceNode {
		return nil
	}
	return n.Content
}

// nextRun returns set's schedule and next run for plan, or nothing.
func (d *Director) nextRun(set *SetConfig) (string, *time.Time) {
	if set.Schedule == "" {
		return "", nil
	}
	if t, ok := d.Config.NextRun(set.Name, d.Now()); ok {
		return set.Schedule, &t
	}
	return set.Schedule, nil
}

// scheduleLine is plan's line on when a set runs next.
func scheduleLine(p SetPlan) string {
	if p.Schedule == "" {
		return ""
	}
	if p.NextRun == nil {
		return fmt.Sprintf("  next run   none within a year (schedule %q)\n", p.Schedule)
	}
	return fmt.Sprintf("  next run   %s (schedule %q, by depot daemon)\n", p.NextRun.Format("2006-01-02 15:04 MST"), p.Schedule)
}

// otherJobsText lists plan's scheduled mirrors, verify and prune with their
// next runs.
func (d *Director) otherJobsText() string {
	var b strings.Builder
	now := d.Now().In(d.Config.ScheduleLocation())
	for _, j := range d.Config.ScheduledJobs() {
		if j.Kind == JobSet {
			continue
		}
		if b.Len() == 0 {
			b.WriteString("\nscheduled jobs (depot daemon):\n")
		}
		next := "after the scheduled set runs"
		if j.Timing.Scheduled() {
			next = "none within a year"
			if t, ok := j.Timing.next(now); ok {
				next = t.Format("2006-01-02 15:04 MST")
			}
			next += fmt.Sprintf(" (schedule %q)", j.Timing.Schedule)
		}
		fmt.Fprintf(&b, "  %-14s %s: %s\n", j.Name, j.What, next)
	}
	return b.String()
}
