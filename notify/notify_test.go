package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// receiver is a real HTTP server recording what it gets.
type receiver struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []request
}

type request struct {
	Method, Path, Query string
	Header              http.Header
	Body                []byte
}

// newReceiver starts a server answering with status, or, for status 0,
// never answering until the client gives up.
func newReceiver(t testing.TB, status int) *receiver {
	t.Helper()
	r := &receiver{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.reqs = append(r.reqs, request{req.Method, req.URL.Path, req.URL.RawQuery, req.Header.Clone(), body})
		r.mu.Unlock()
		if status == 0 {
			<-req.Context().Done()
			return
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) got() []request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]request(nil), r.reqs...)
}

// newDispatcher makes a dispatcher logging into the returned buffer, whose
// retries wait no time but record the waits they would make.
func newDispatcher(t testing.TB, cfgs ...Config) (*Dispatcher, *bytes.Buffer, *[]time.Duration) {
	t.Helper()
	var logs bytes.Buffer
	d, err := New(cfgs, slog.New(slog.NewTextHandler(&syncWriter{w: &logs}, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	waits := &[]time.Duration{}
	d.Sleep = func(_ context.Context, w time.Duration) error {
		mu.Lock()
		defer mu.Unlock()
		*waits = append(*waits, w)
		return nil
	}
	return d, &logs, waits
}

type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func intp(n int) *int { return &n }

func testEvent(k Kind) Event {
	ev := Event{Kind: k, Set: "web", Status: "ok", Stamp: "2026-12-02T020000Z", Host: "h1", Version: "v1.2.3",
		Started: time.Date(2026, 12, 2, 2, 0, 0, 0, time.UTC), LogTail: "level=INFO msg=\"backing up\"\n"}
	if k == Failure {
		ev.Status = "failed"
		ev.Errors = []string{"item db: sh exited 3"}
		ev.Items = []Item{{Name: "db", Type: "command", Status: "failed", Error: "sh exited 3"}}
	}
	return ev
}

func TestHealthchecksPings(t *testing.T) {
	tests := []struct {
		name        string
		path        string // appended to the receiver's URL
		kinds       []Kind
		wantMethods string
		wantPaths   []string
		wantQuery   []string
	}{
		{"plain", "/ping/abc-123", Kinds, "POST", []string{"/ping/abc-123/start", "/ping/abc-123", "/ping/abc-123", "/ping/abc-123/fail"}, nil},
		{"query kept", "/ping/abc?rid=1", []Kind{Start, Failure}, "POST", []string{"/ping/abc/start", "/ping/abc/fail"}, []string{"rid=1", "rid=1"}},
		{"uptime kuma template", "/api/push/TOK?status={status}&msg={event}+{set}", []Kind{Success, Failure}, "GET",
			[]string{"/api/push/TOK", "/api/push/TOK"}, []string{"status=up&msg=success+web", "status=down&msg=failure+web"}},
		{"cronitor template", "/p/KEY/{set}?state={state}", []Kind{Start, Warning, Failure}, "GET",
			[]string{"/p/KEY/web", "/p/KEY/web", "/p/KEY/web"}, []string{"state=run", "state=complete", "state=fail"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newReceiver(t, http.StatusOK)
			d, logs, _ := newDispatcher(t, Config{Type: "healthchecks", URL: r.URL + tt.path})
			for _, k := range tt.kinds {
				d.Send(context.Background(), testEvent(k))
			}
			got := r.got()
			if len(got) != len(tt.wantPaths) {
				t.Fatalf("%d requests, want %d\n%s", len(got), len(tt.wantPaths), logs)
			}
			for i, req := range got {
				if req.Method != tt.wantMethods || req.Path != tt.wantPaths[i] {
					t.Errorf("request %d: %s %s, want %s %s", i, req.Method, req.Path, tt.wantMethods, tt.wantPaths[i])
				}
				if tt.wantQuery != nil && req.Query != tt.wantQuery[i] {
					t.Errorf("request %d: query %q, want %q", i, req.Query, tt.wantQuery[i])
				}
				if req.Method == "POST" && string(req.Body) != testEvent(Start).LogTail {
					t.Errorf("request %d: body %q, want the log tail", i, req.Body)
				}
			}
		})
	}
}

func TestHealthchecksBodyIsAtMost100kB(t *testing.T) {
	r := newReceiver(t, http.StatusOK)
	d, _, _ := newDispatcher(t, Config{Type: "healthchecks", URL: r.URL + "/ping/x"})
	ev := testEvent(Success)
	ev.LogTail = strings.Repeat("old line that scrolls away\n", 10_000) + "the last line\n"
	d.Send(context.Background(), ev)
	got := r.got()
	if len(got) != 1 {
		t.Fatalf("%d requests", len(got))
	}
	body := string(got[0].Body)
	if len(body) > MaxLogTail || !strings.HasSuffix(body, "the last line\n") || !strings.HasPrefix(body, "old line") {
		t.Errorf("body of %d bytes, starting %q, ending %q", len(body), body[:20], body[len(body)-20:])
	}
}

func TestWebhookPostsTheEvent(t *testing.T) {
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("file-secret-42\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DEPOT_TEST_HOOK_TOKEN", "env-secret-17")
	tests := []struct {
		name string
		cfg  Config
		auth string
	}{
		{"no token", Config{}, ""},
		{"token from env", Config{TokenEnv: "DEPOT_TEST_HOOK_TOKEN"}, "Bearer env-secret-17"},
		{"token from file", Config{TokenFile: tokenFile}, "Bearer file-secret-42"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newReceiver(t, http.StatusNoContent)
			cfg := tt.cfg
			cfg.Type, cfg.URL, cfg.Headers = "webhook", r.URL+"/hook", []string{"X-Team: ops", "X-Env:prod"}
			d, _, _ := newDispatcher(t, cfg)
			d.Send(context.Background(), testEvent(Start)) // not wanted by default
			d.Send(context.Background(), testEvent(Failure))
			got := r.got()
			if len(got) != 1 {
				t.Fatalf("%d requests, want only the failure", len(got))
			}
			req := got[0]
			if req.Header.Get("Authorization") != tt.auth || req.Header.Get("X-Team") != "ops" || req.Header.Get("X-Env") != "prod" ||
				req.Header.Get("Content-Type") != "application/json" {
				t.Errorf("headers %v", req.Header)
			}
			var ev Event
			if err := json.Unmarshal(req.Body, &ev); err != nil {
				t.Fatal(err)
			}
			if ev.Kind != Failure || ev.Set != "web" || len(ev.Items) != 1 || ev.Items[0].Name != "db" || ev.Items[0].Status != "failed" || len(ev.Errors) != 1 {
				t.Errorf("event %+v", ev)
			}
			if strings.Contains(string(req.Body), "backing up") {
				t.Error("the log tail is in the webhook's JSON")
			}
		})
	}
}

func TestFailedDeliveryIsRetriedAndLoggedWithoutSecrets(t *testing.T) {
	t.Setenv("DEPOT_TEST_HOOK_TOKEN", "env-secret-17")
	tests := []struct {
		name    string
		status  int // 0: never answers
		typ     string
		retries int
		wantErr string
	}{
		{"500, healthchecks", http.StatusInternalServerError, "healthchecks", 2, "HTTP 500 Internal Server Error"},
		{"500, webhook", http.StatusInternalServerError, "webhook", 1, "HTTP 500 Internal Server Error"},
		{"times out", 0, "webhook", 1, "no answer within 200ms"},
		{"no retries", http.StatusBadGateway, "webhook", 0, "HTTP 502 Bad Gateway"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newReceiver(t, tt.status)
			cfg := Config{Type: tt.typ, URL: r.URL + "/ping/uuid-secret-99", Timeout: "200ms", Retries: intp(tt.retries)}
			if tt.typ == "webhook" {
				cfg.TokenEnv = "DEPOT_TEST_HOOK_TOKEN"
			}
			d, logs, waits := newDispatcher(t, cfg)
			start := time.Now()
			d.Send(context.Background(), testEvent(Failure))
			if took := time.Since(start); took > time.Duration(tt.retries+1)*time.Second {
				t.Errorf("Send took %s", took)
			}
			if n := len(r.got()); n != tt.retries+1 {
				t.Errorf("%d attempts, want %d", n, tt.retries+1)
			}
			var want []time.Duration
			for i := range tt.retries {
				want = append(want, time.Second<<i)
			}
			if len(*waits) != len(want) || (len(want) > 0 && (*waits)[len(want)-1] != want[len(want)-1]) {
				t.Errorf("waits %v, want %v", *waits, want)
			}
			out := logs.String()
			if !strings.Contains(out, "notification failed") || !strings.Contains(out, tt.wantErr) || !strings.Contains(out, tt.typ+" http://127.0.0.1") {
				t.Errorf("log lacks the failure:\n%s", out)
			}
			for _, secret := range []string{"uuid-secret-99", "env-secret-17"} {
				if strings.Contains(out, secret) {
					t.Errorf("log shows the secret %q:\n%s", secret, out)
				}
			}
		})
	}
}

func TestUnreachableNotifierDoesNotBlockOthers(t *testing.T) {
	dead := newReceiver(t, 0)
	ok := newReceiver(t, http.StatusOK)
	d, _, _ := newDispatcher(t,
		Config{Type: "webhook", URL: dead.URL, Timeout: "300ms", Retries: intp(0)},
		Config{Type: "webhook", URL: ok.URL})
	start := time.Now()
	d.Send(context.Background(), testEvent(Success))
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("Send took %s", took)
	}
	if len(ok.got()) != 1 {
		t.Error("the working webhook got nothing")
	}
}

// writeScript writes an executable shell script.
func writeScript(t testing.TB, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "script")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCommandGetsTheEventOnStdin(t *testing.T) {
	out := filepath.Join(t.TempDir(), "got")
	script := writeScript(t, `{ echo "$DEPOT_EVENT $DEPOT_SET $DEPOT_STATUS"; cat; } > "`+out+`"`)
	d, logs, _ := newDispatcher(t, Config{Type: "command", Command: []string{script}, On: []string{"failure"}})
	d.Send(context.Background(), testEvent(Success))
	d.Send(context.Background(), testEvent(Failure))
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatalf("%v\n%s", err, logs)
	}
	first, body, _ := strings.Cut(string(data), "\n")
	if first != "failure web failed" {
		t.Errorf("environment: %q", first)
	}
	var ev Event
	if err := json.Unmarshal([]byte(body), &ev); err != nil || ev.Kind != Failure || ev.Items[0].Name != "db" {
		t.Errorf("stdin: %q, %v", body, err)
	}
}

func TestCommandFailureIsLogged(t *testing.T) {
	script := writeScript(t, `echo "no route to pager" >&2; exit 4`)
	d, logs, _ := newDispatcher(t, Config{Type: "command", Command: []string{script}, Retries: intp(1)})
	d.Send(context.Background(), testEvent(Failure))
	if !strings.Contains(logs.String(), "exited 4: no route to pager") || !strings.Contains(logs.String(), "attempts=2") {
		t.Errorf("log:\n%s", logs)
	}
}

func TestEmailThroughSendmail(t *testing.T) {
	dir := t.TempDir()
	// The stand-in records its arguments and the message it is given.
	sendmail := writeScript(t, `echo "$@" > "`+dir+`/args"; cat > "`+dir+`/message"`)
	d, logs, _ := newDispatcher(t, Config{Type: "email", To: []string{"ops@example.com", "root@localhost"}, From: "backup@h1", Sendmail: sendmail})
	ev := testEvent(Failure)
	ev.Changes = &Changes{Base: "holding/2026-12-01T020000Z", Added: ChangeList{Count: 3, Paths: []string{"site/a", "site/b"}}}
	d.Send(context.Background(), ev)
	args, err := os.ReadFile(filepath.Join(dir, "args"))
	if err != nil {
		t.Fatalf("sendmail did not run: %v\n%s", err, logs)
	}
	if strings.TrimSpace(string(args)) != "-t -i" {
		t.Errorf("sendmail args %q", args)
	}
	msg, _ := os.ReadFile(filepath.Join(dir, "message"))
	head, body, ok := strings.Cut(string(msg), "\n\n")
	if !ok {
		t.Fatalf("no header/body separator:\n%s", msg)
	}
	for _, want := range []string{"From: backup@h1", "To: ops@example.com, root@localhost", "Subject: depot: set web failed on h1"} {
		if !strings.Contains(head, want+"\n") {
			t.Errorf("header lacks %q:\n%s", want, head)
		}
	}
	for _, want := range []string{"item db (command): failed", "error:    item db: sh exited 3", "3 added, 0 changed, 0 removed", "  + site/a\n", "… and 1 more", "log:\nlevel=INFO"} {
		if !strings.Contains(body, want) {
			t.Errorf("body lacks %q:\n%s", want, body)
		}
	}
}

func TestCheck(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string // "" for a valid config; else "key: message part"
	}{
		{"healthchecks", Config{Type: "healthchecks", URL: "https://hc-ping.com/uuid"}, ""},
		{"webhook with token", Config{Type: "webhook", URL: "https://x/hook", TokenEnv: "T", Headers: []string{"X-A: b"}, On: []string{"failure", "warning"}}, ""},
		{"command", Config{Type: "command", Command: []string{"/bin/true"}, Timeout: "1m", Retries: intp(0)}, ""},
		{"email", Config{Type: "email", To: []string{"root@localhost"}}, ""},
		{"no type", Config{URL: "https://x"}, "type: missing"},
		{"unknown type", Config{Type: "slack"}, `type: unknown type "slack"`},
		{"url missing", Config{Type: "webhook"}, "url: missing"},
		{"url not http", Config{Type: "healthchecks", URL: "ftp://x/secret"}, "url: not an http or https URL"},
		{"foreign key", Config{Type: "healthchecks", URL: "https://x", To: []string{"a@b"}}, "to: not a key of a healthchecks notifier"},
		{"two tokens", Config{Type: "webhook", URL: "https://x", TokenEnv: "A", TokenFile: "/b"}, "token_file: token_env and token_file both set"},
		{"bad header", Config{Type: "webhook", URL: "https://x", Headers: []string{"no colon"}}, "headers:"},
		{"bad event", Config{Type: "webhook", URL: "https://x", On: []string{"failed"}}, `on: unknown event "failed"`},
		{"bad timeout", Config{Type: "webhook", URL: "https://x", Timeout: "10"}, "timeout:"},
		{"negative retries", Config{Type: "webhook", URL: "https://x", Retries: intp(-1)}, "retries:"},
		{"command missing", Config{Type: "command"}, "command: missing"},
		{"email without to", Config{Type: "email"}, "to: missing"},
		{"email two in one", Config{Type: "email", To: []string{"a@b, c@d"}}, "to:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ps := tt.cfg.Check()
			if tt.want == "" {
				if len(ps) > 0 {
					t.Fatalf("problems: %v", ps)
				}
				return
			}
			if len(ps) == 0 {
				t.Fatalf("no problem, want %q", tt.want)
			}
			if got := ps[0].Key + ": " + ps[0].Msg; !strings.HasPrefix(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
			if strings.Contains(ps[0].Msg, "secret") {
				t.Errorf("message repeats the URL: %q", ps[0].Msg)
			}
		})
	}
}
