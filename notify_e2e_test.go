package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/depot-backup/depot/director"
	"github.com/depot-backup/depot/notify"
)

// hookReceiver is a real HTTP server recording the requests it gets.
type hookReceiver struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []string // "METHOD PATH BODY"
}

func newHookReceiver(t testing.TB) *hookReceiver {
	t.Helper()
	r := &hookReceiver{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.reqs = append(r.reqs, req.Method+" "+req.URL.Path+" "+string(body))
		r.mu.Unlock()
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *hookReceiver) got() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.reqs...)
}

// writeExec writes an executable shell script into dir.
func writeExec(t testing.TB, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// notifyEnv is newEnv's set "web" plus extra items and every kind of
// notifier, each recording what it gets.
type notifyEnv struct {
	*testEnv
	webhook, hc *hookReceiver
	commandLog  string // one JSON event per line
	mailLog     string // messages, each ended by a line "--END--"
}

func newNotifyEnv(t *testing.T, items string) *notifyEnv {
	t.Helper()
	e := &notifyEnv{testEnv: newEnv(t, 10), webhook: newHookReceiver(t), hc: newHookReceiver(t)}
	e.commandLog = filepath.Join(e.dir, "command.log")
	e.mailLog = filepath.Join(e.dir, "mail.log")
	notifier := writeExec(t, e.dir, "notifier", `cat >> "`+e.commandLog+`"; echo >> "`+e.commandLog+`"`)
	sendmail := writeExec(t, e.dir, "sendmail", `{ echo "ARGS: $*"; cat; echo "--END--"; } >> "`+e.mailLog+`"`)
	cfg, err := os.ReadFile(e.config)
	if err != nil {
		t.Fatal(err)
	}
	cfg = append(cfg, []byte(items+fmt.Sprintf(`
notify:
  - { type: webhook, url: "%s/hook", on: [success, warning, failure] }
  - { type: healthchecks, url: "%s/ping/uuid-1" }
  - { type: command, command: [%s], on: [failure, success] }
  - { type: email, to: [ops@example.com], sendmail: %s, on: [failure] }
`, e.webhook.URL, e.hc.URL, notifier, sendmail))...)
	if err := os.WriteFile(e.config, cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *notifyEnv) commandEvents(t testing.TB) []notify.Event {
	t.Helper()
	data, _ := os.ReadFile(e.commandLog)
	var evs []notify.Event
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		if line == "" {
			continue
		}
		var ev notify.Event
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("command notifier got %q: %v", line, err)
		}
		evs = append(evs, ev)
	}
	return evs
}

func TestFailingItemNotifiesEveryNotifierOnce(t *testing.T) {
	e := newNotifyEnv(t, `      - name: db
        type: command
        command: [sh, -c, 'echo "dump exploded" >&2; exit 7']
`)
	code, _, errs := depot(t, "--config", e.config, "run")
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s", code, errs)
	}
	// webhook: exactly one event, a failure naming the item.
	hooks := e.webhook.got()
	if len(hooks) != 1 {
		t.Fatalf("webhook got %d requests, want 1: %q", len(hooks), hooks)
	}
	var ev notify.Event
	if err := json.Unmarshal([]byte(strings.SplitN(hooks[0], " ", 3)[2]), &ev); err != nil {
		t.Fatal(err)
	}
	failedItem := func(ev notify.Event) string {
		for _, it := range ev.Items {
			if it.Status == "failed" {
				return it.Name + ": " + it.Error
			}
		}
		return ""
	}
	if ev.Kind != notify.Failure || ev.Set != "web" || ev.Status != "failed" || !strings.HasPrefix(failedItem(ev), "db: ") ||
		!strings.Contains(failedItem(ev), "dump exploded") || len(ev.Errors) != 1 {
		t.Errorf("webhook event %+v", ev)
	}
	// healthchecks: /start, then exactly one /fail whose body is the log tail.
	pings := e.hc.got()
	if len(pings) != 2 || !strings.HasPrefix(pings[0], "POST /ping/uuid-1/start ") || !strings.HasPrefix(pings[1], "POST /ping/uuid-1/fail ") {
		t.Fatalf("healthchecks pings %q", pings)
	}
	if !strings.Contains(pings[1], "item=db") || !strings.Contains(pings[1], "dump exploded") {
		t.Errorf("the /fail body does not tell the failure: %q", pings[1])
	}
	// command: one failure event on stdin.
	if evs := e.commandEvents(t); len(evs) != 1 || evs[0].Kind != notify.Failure || !strings.HasPrefix(failedItem(evs[0]), "db: ") {
		t.Errorf("command events %+v", evs)
	}
	// email: one message through sendmail -t.
	mail, _ := os.ReadFile(e.mailLog)
	if n := strings.Count(string(mail), "--END--"); n != 1 {
		t.Fatalf("%d mails, want 1:\n%s", n, mail)
	}
	for _, want := range []string{"ARGS: -t -i", "To: ops@example.com", "Subject: depot: set web failed on", "item db (command): failed", "dump exploded"} {
		if !strings.Contains(string(mail), want) {
			t.Errorf("mail lacks %q:\n%s", want, mail)
		}
	}
	// history and status tell the same.
	recs := decodeJSON[[]director.HistoryRecord](t, mustDepot(t, "--config", e.config, "history", "--json"))
	if len(recs) != 1 || recs[0].Status != "partial" || fmt.Sprint(recs[0].FailedItems) != "[db]" {
		t.Errorf("history %+v", recs)
	}
}

func TestSuccessCarriesTheChangeReport(t *testing.T) {
	e := newNotifyEnv(t, "")
	mustDepot(t, "--config", e.config, "run")
	// One file added, one changed (same size, other bytes), one removed.
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(filepath.Join(e.src, "d0", "added.txt"), []byte("new\n"), 0o644))
	must(os.WriteFile(filepath.Join(e.src, "secret"), []byte("S3CRET\n"), 0o600))
	must(os.Remove(filepath.Join(e.src, "tool")))
	mustDepot(t, "--config", e.config, "run")
	hooks := e.webhook.got()
	if len(hooks) != 2 {
		t.Fatalf("webhook got %d requests, want 2", len(hooks))
	}
	var ev notify.Event
	if err := json.Unmarshal([]byte(strings.SplitN(hooks[1], " ", 3)[2]), &ev); err != nil {
		t.Fatal(err)
	}
	c := ev.Changes
	if ev.Kind != notify.Success || c == nil {
		t.Fatalf("event %+v", ev)
	}
	rel := func(p string) string { return "site/" + strings.TrimPrefix(filepath.Join(e.src, p), "/") }
	if c.Added.Count != 1 || c.Added.Paths[0] != rel("d0/added.txt") || c.Changed.Count != 1 || c.Changed.Paths[0] != rel("secret") ||
		c.Removed.Count != 1 || c.Removed.Paths[0] != rel("tool") {
		t.Errorf("changes %+v", c)
	}
	if len(ev.Items) != 1 || ev.Items[0].Files == 0 || ev.Snapshot == "" || ev.DurationSeconds <= 0 {
		t.Errorf("items %+v, snapshot %q, duration %v", ev.Items, ev.Snapshot, ev.DurationSeconds)
	}
	if pings := e.hc.got(); len(pings) != 4 || !strings.HasPrefix(pings[3], "POST /ping/uuid-1 ") {
		t.Errorf("healthchecks pings %q", pings)
	}
	if mail, _ := os.ReadFile(e.mailLog); len(mail) != 0 {
		t.Errorf("email on success, which it did not ask for:\n%s", mail)
	}
}

func TestUnreachableNotifierDoesNotFailTheRun(t *testing.T) {
	e := newEnv(t, 10)
	dead := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusInternalServerError) }))
	defer dead.Close()
	appendConfig(t, e.config, fmt.Sprintf(`notify:
  - { type: webhook, url: "%s/hook/secret-path", retries: 0 }
  - { type: healthchecks, url: "http://127.0.0.1:1/ping/uuid-secret", retries: 0, timeout: 2s }
`, dead.URL))
	code, _, errs := depot(t, "--config", e.config, "run")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errs)
	}
	if strings.Count(errs, "notification failed") < 2 || !strings.Contains(errs, "HTTP 500") {
		t.Errorf("failed deliveries not logged:\n%s", errs)
	}
	if strings.Contains(errs, "secret") {
		t.Errorf("a secret reached the log:\n%s", errs)
	}
}

func appendConfig(t testing.TB, config, text string) {
	t.Helper()
	f, err := os.OpenFile(config, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
}

// TestUnusableRepositoryIsNotified: a repository that cannot even be
// locked (here a path under a file; in life an unmounted disk) fails every
// set, and each notifier is told, once per set.
func TestUnusableRepositoryIsNotified(t *testing.T) {
	e := newNotifyEnv(t, "")
	blocker := filepath.Join(e.dir, "not-a-dir")
	if err := os.WriteFile(blocker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, _ := os.ReadFile(e.config)
	if err := os.WriteFile(e.config, []byte(strings.Replace(string(cfg), "path: "+e.repo, "path: "+filepath.Join(blocker, "repo"), 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errs := depot(t, "--config", e.config, "run")
	if code != 1 {
		t.Fatalf("exit %d\n%s", code, errs)
	}
	hooks := e.webhook.got()
	if len(hooks) != 1 || !strings.Contains(hooks[0], `"event":"failure"`) || !strings.Contains(hooks[0], "not a directory") {
		t.Errorf("webhook got %q", hooks)
	}
	if pings := e.hc.got(); len(pings) != 1 || !strings.HasPrefix(pings[0], "POST /ping/uuid-1/fail ") || !strings.Contains(pings[0], "not a directory") {
		t.Errorf("healthchecks got %q", pings)
	}
	if evs := e.commandEvents(t); len(evs) != 1 || evs[0].Set != "web" {
		t.Errorf("command got %+v", evs)
	}
}
