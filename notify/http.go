package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// healthchecks pings a healthchecks.io-style URL: URL/start when a run
// begins, URL on success (and on warning: the snapshot was made), URL/fail on
// failure, each with the log's tail as the body. A URL with placeholders is a
// template instead, for Uptime Kuma, Cronitor and the like: nothing is
// appended, and {event}, {set}, {stamp}, {status} (up or down) and {state}
// (run, complete or fail) are filled in; it is fetched with GET.
type healthchecks struct{ cfg Config }

// templated reports whether a URL has placeholders.
func templated(u string) bool { return strings.Contains(u, "{") && strings.Contains(u, "}") }

// pingURL is the URL to call for ev.
func (h *healthchecks) pingURL(ev Event) string {
	u := h.cfg.URL
	if templated(u) {
		status, state := "up", map[Kind]string{Start: "run", Success: "complete", Warning: "complete", Failure: "fail"}[ev.Kind]
		if ev.Kind == Failure {
			status = "down"
		}
		return strings.NewReplacer("{event}", string(ev.Kind), "{set}", url.QueryEscape(ev.Set), "{stamp}", ev.Stamp,
			"{status}", status, "{state}", state).Replace(u)
	}
	base, query, _ := strings.Cut(u, "?")
	base = strings.TrimSuffix(base, "/")
	switch ev.Kind {
	case Start:
		base += "/start"
	case Failure:
		base += "/fail"
	}
	if query != "" {
		base += "?" + query
	}
	return base
}

// Notify implements Notifier.
func (h *healthchecks) Notify(ctx context.Context, ev Event) error {
	method, body := http.MethodPost, io.Reader(strings.NewReader(tail(ev.LogTail)))
	if templated(h.cfg.URL) {
		method, body = http.MethodGet, nil
	}
	req, err := http.NewRequestWithContext(ctx, method, h.pingURL(ev), body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "text/plain; charset=utf-8")
	return do(req)
}

// tail returns the last MaxLogTail bytes of s, from a line start.
func tail(s string) string {
	if len(s) <= MaxLogTail {
		return s
	}
	s = s[len(s)-MaxLogTail:]
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return s
}

// webhook POSTs the event as JSON.
type webhook struct{ cfg Config }

// Notify implements Notifier.
func (w *webhook) Notify(ctx context.Context, ev Event) error {
	body, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "depot/"+ev.Version)
	for _, h := range w.cfg.Headers {
		name, value, _ := strings.Cut(h, ":")
		req.Header.Set(strings.TrimSpace(name), strings.TrimSpace(value))
	}
	tok, err := w.cfg.token()
	if err != nil {
		return err
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	return do(req)
}

// do sends req and wants a 2xx answer.
func do(req *http.Request) error {
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("HTTP %s", resp.Status)
	}
	return nil
}
