package director

import (
	"context"
	"strings"
	"time"

	"github.com/depot-backup/depot/repository"
)

// maxConcurrency bounds the config's concurrency: each running set holds a
// connection, an rsync and its pipes.
const maxConcurrency = 64

// runConcurrently runs sets, up to n at once and never two of one source
// host at once, each with a director of its own (forSet), starting them in
// the config's order as slots and hosts free up. Once the run must end
// (stopped, cancelled) no further set starts; the running ones end as
// their context tells them.
func (d *Director) runConcurrently(ctx context.Context, repo repository.Repo, sets []*SetConfig, n int, wait time.Duration) runResults {
	type done struct {
		host string
		setOutcome
	}
	finished := make(chan done)
	busy := map[string]bool{}
	pending := append([]*SetConfig(nil), sets...)
	running := 0
	var res runResults
	for {
		for i := 0; i < len(pending) && running < n && res.end == nil && ctx.Err() == nil; {
			set, host := pending[i], sourceHost(pending[i].Source)
			if host != "" && busy[host] {
				i++
				continue
			}
			pending = append(pending[:i], pending[i+1:]...)
			busy[host] = host != ""
			running++
			sd := d.forSet(false)
			go func() { finished <- done{host, sd.runOne(ctx, repo, set, wait)} }()
		}
		if running == 0 {
			break
		}
		o := <-finished
		running--
		delete(busy, o.host)
		res.add(o.setOutcome)
	}
	if res.end == nil && len(pending) > 0 {
		res.end = ctx.Err()
	}
	return res
}

// forSet returns a director for one set's run, which may go on beside
// others (in one run, or in the daemon's jobs): the config, connections,
// clock and outputs are shared; the logger and the progress, which
// runReported replaces for the set's run, are its own. A terminal's live
// line follows one set at a time, so sets run concurrently show none
// (showProgress false).
func (d *Director) forSet(showProgress bool) *Director {
	c := *d
	c.progress = nil
	if !showProgress {
		c.Progress = nil
	}
	return &c
}

// sourceHost names the host of a set's source ("user@host[:port]") without
// its user, so two users on one machine count as one host; "" for this
// machine.
func sourceHost(source string) string {
	if i := strings.LastIndex(source, "@"); i >= 0 {
		return source[i+1:]
	}
	return source
}
