// Package notify tells people and machines how a backup went. A Dispatcher
// sends each Event to the notifiers that asked for its kind (healthchecks,
// webhook, command, email); a delivery has a timeout and is retried with
// backoff, and a failed delivery is logged, never fatal to a backup.
package notify

import (
	"fmt"
	"strings"
	"time"
)

// Kind is what happened: the kinds a notifier can subscribe to with `on:`.
type Kind string

// The event kinds.
const (
	Start   Kind = "start"   // a set's run begins
	Success Kind = "success" // it made a snapshot without warnings
	Warning Kind = "warning" // it made a snapshot, with warnings (vanished files, an after hook failed)
	Failure Kind = "failure" // it failed, or one of its items did
)

// Kinds are all kinds, in the order of a run.
var Kinds = []Kind{Start, Success, Warning, Failure}

// Event is one set's run as notifiers see it; webhook and command receive it
// as JSON.
type Event struct {
	Kind     Kind      `json:"event"`
	Set      string    `json:"set"`
	Status   string    `json:"status"` // "running", "ok", "warning" or "failed"
	Stamp    string    `json:"stamp,omitempty"`
	Snapshot string    `json:"snapshot,omitempty"` // section/set/stamp
	Host     string    `json:"host"`               // the machine depot ran on
	Version  string    `json:"depot_version"`
	Started  time.Time `json:"started"`
	// Finished and DurationSeconds are zero in a start event.
	Finished        time.Time `json:"finished"`
	DurationSeconds float64   `json:"duration_seconds"`
	Items           []Item    `json:"items,omitempty"`
	Errors          []string  `json:"errors,omitempty"`
	Warnings        []string  `json:"warnings,omitempty"`
	Changes         *Changes  `json:"changes,omitempty"`
	// LogTail is the end of the run's log, at most MaxLogTail bytes: the
	// body of a healthchecks ping and of an email.
	LogTail string `json:"-"`
}

// Item is one item's outcome in an event.
type Item struct {
	Name             string `json:"name"`
	Type             string `json:"type"`
	Status           string `json:"status"` // "ok", "warning" or "failed"
	Error            string `json:"error,omitempty"`
	Files            int64  `json:"files"`
	Bytes            int64  `json:"bytes"`
	FilesTransferred int64  `json:"files_transferred"`
	BytesTransferred int64  `json:"bytes_transferred"`
}

// Changes is what the snapshot changed since its base, from the two file
// lists: counts, and the first paths of each kind (item/path).
type Changes struct {
	Base    string     `json:"base"` // section/stamp of the base snapshot
	Added   ChangeList `json:"added"`
	Changed ChangeList `json:"changed"`
	Removed ChangeList `json:"removed"`
}

// ChangeList counts the paths of one kind of change and names the first ones.
type ChangeList struct {
	Count int64    `json:"count"`
	Paths []string `json:"paths"`
}

// MaxLogTail bounds Event.LogTail (healthchecks keeps at most 100 kB of a ping body).
const MaxLogTail = 100_000

// Summary is the event in a few lines for people: the subject line first.
func (ev Event) Summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n\n", ev.Subject())
	fmt.Fprintf(&b, "set:      %s\n", ev.Set)
	fmt.Fprintf(&b, "status:   %s\n", ev.Status)
	if ev.Snapshot != "" {
		fmt.Fprintf(&b, "snapshot: %s\n", ev.Snapshot)
	}
	fmt.Fprintf(&b, "started:  %s\n", ev.Started.UTC().Format(time.RFC3339))
	if !ev.Finished.IsZero() {
		fmt.Fprintf(&b, "took:     %s\n", time.Duration(ev.DurationSeconds*float64(time.Second)).Round(time.Millisecond))
	}
	for _, e := range ev.Errors {
		fmt.Fprintf(&b, "error:    %s\n", e)
	}
	for _, w := range ev.Warnings {
		fmt.Fprintf(&b, "warning:  %s\n", w)
	}
	for _, it := range ev.Items {
		fmt.Fprintf(&b, "item %s (%s): %s, %d files, %d bytes, %d files (%d bytes) transferred", it.Name, it.Type, it.Status, it.Files, it.Bytes, it.FilesTransferred, it.BytesTransferred)
		if it.Error != "" {
			fmt.Fprintf(&b, ": %s", it.Error)
		}
		b.WriteString("\n")
	}
	if c := ev.Changes; c != nil {
		fmt.Fprintf(&b, "\nsince %s: %d added, %d changed, %d removed\n", c.Base, c.Added.Count, c.Changed.Count, c.Removed.Count)
		for _, l := range []struct {
			sign string
			list ChangeList
		}{{"+", c.Added}, {"~", c.Changed}, {"-", c.Removed}} {
			for _, p := range l.list.Paths {
				fmt.Fprintf(&b, "  %s %s\n", l.sign, p)
			}
			if more := l.list.Count - int64(len(l.list.Paths)); more > 0 {
				fmt.Fprintf(&b, "  %s … and %d more\n", l.sign, more)
			}
		}
	}
	return b.String()
}

// Subject is the event in one line: "depot: set web failed on host1".
func (ev Event) Subject() string {
	what := map[Kind]string{Start: "started", Success: "succeeded", Warning: "succeeded with warnings", Failure: "failed"}[ev.Kind]
	return fmt.Sprintf("depot: set %s %s on %s", ev.Set, what, ev.Host)
}
