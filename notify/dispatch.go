package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Notifier delivers an event once. ctx carries the attempt's deadline; an
// error means the attempt failed and may be retried. Errors must not carry
// secrets (tokens, the key in a ping URL).
type Notifier interface {
	Notify(ctx context.Context, ev Event) error
}

var (
	_ Notifier = (*healthchecks)(nil)
	_ Notifier = (*webhook)(nil)
	_ Notifier = (*command)(nil)
	_ Notifier = (*email)(nil)
)

// Dispatcher sends events to the configured notifiers.
type Dispatcher struct {
	targets []target
	log     *slog.Logger
	// Backoff is the wait before the first retry; it doubles for each next.
	Backoff time.Duration
	// Sleep waits d or until ctx ends; tests replace it.
	Sleep func(ctx context.Context, d time.Duration) error
}

type target struct {
	cfg Config
	n   Notifier
}

// New makes a dispatcher for cfgs, which Check has accepted. It logs to log.
func New(cfgs []Config, log *slog.Logger) (*Dispatcher, error) {
	d := &Dispatcher{log: log, Backoff: time.Second, Sleep: sleep}
	for i, c := range cfgs {
		if ps := c.Check(); len(ps) > 0 {
			return nil, fmt.Errorf("notify[%d]: %s: %s", i, ps[0].Key, ps[0].Msg)
		}
		var n Notifier
		switch c.Type {
		case "healthchecks":
			n = &healthchecks{cfg: c}
		case "webhook":
			n = &webhook{cfg: c}
		case "command":
			n = &command{argv: c.Command}
		case "email":
			n = &email{cfg: c}
		}
		d.targets = append(d.targets, target{cfg: c, n: n})
	}
	return d, nil
}

// Send delivers ev to every notifier that wants its kind, all at once, and
// returns when each has succeeded or used up its retries. It never fails:
// a notifier that cannot be reached is logged. Send goes on after ctx is
// cancelled, for the failure of an interrupted run must be told too; each
// attempt's timeout bounds it.
func (d *Dispatcher) Send(ctx context.Context, ev Event) {
	if d == nil {
		return
	}
	ctx = context.WithoutCancel(ctx)
	var wg sync.WaitGroup
	for _, t := range d.targets {
		if !t.cfg.wants(ev.Kind) {
			continue
		}
		wg.Go(func() { d.deliver(ctx, t, ev) })
	}
	wg.Wait()
}

func (d *Dispatcher) deliver(ctx context.Context, t target, ev Event) {
	wait := d.Backoff
	attempts := t.cfg.retries() + 1
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, t.cfg.timeout())
		err := t.n.Notify(actx, ev)
		if err != nil && actx.Err() != nil {
			err = fmt.Errorf("no answer within %s", t.cfg.timeout())
		}
		cancel()
		if err == nil {
			d.log.Debug("notified", "notifier", t.cfg.label(), "event", ev.Kind, "set", ev.Set)
			return
		}
		err = redact(err, t.cfg)
		if attempt >= attempts {
			d.log.Warn("notification failed", "notifier", t.cfg.label(), "event", ev.Kind, "set", ev.Set, "attempts", attempt, "err", err)
			return
		}
		d.log.Info("notification failed; retrying", "notifier", t.cfg.label(), "event", ev.Kind, "set", ev.Set, "attempt", attempt, "retry_in", wait, "err", err)
		if d.Sleep(ctx, wait) != nil {
			return
		}
		wait *= 2
	}
}

// redact keeps secrets out of an error that is to be logged: Go's HTTP
// client names the whole URL, and a token could be echoed by a server.
func redact(err error, c Config) error {
	var uerr *url.Error
	if errors.As(err, &uerr) {
		err = uerr.Err
	}
	msg := err.Error()
	secrets := []string{c.URL}
	if u, perr := url.Parse(c.URL); perr == nil && u.Path != "" && u.Path != "/" {
		secrets = append(secrets, u.Path, u.RawQuery)
	}
	if tok, terr := c.token(); terr == nil && tok != "" {
		secrets = append(secrets, tok)
	}
	for _, s := range secrets {
		if s != "" {
			msg = strings.ReplaceAll(msg, s, "[redacted]")
		}
	}
	return errors.New(msg)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
