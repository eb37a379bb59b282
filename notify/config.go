package notify

import (
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"
)

// Default delivery settings.
const (
	DefaultTimeout = 10 * time.Second
	DefaultRetries = 2
)

// Config is one entry of the config's `notify:` list. Which keys apply
// depends on Type; Check rejects the others.
type Config struct {
	Type    string   `yaml:"type"` // healthchecks, webhook, command or email
	On      []string `yaml:"on"`   // the kinds to send; default: all but start for webhook, command and email
	Timeout string   `yaml:"timeout"`
	Retries *int     `yaml:"retries"`

	URL       string   `yaml:"url"`        // healthchecks, webhook
	Headers   []string `yaml:"headers"`    // webhook: "Name: value"
	TokenEnv  string   `yaml:"token_env"`  // webhook: a bearer token from this variable
	TokenFile string   `yaml:"token_file"` // webhook: or from this file

	Command []string `yaml:"command"` // command: argv; the event as JSON on stdin

	To       []string `yaml:"to"`       // email: recipients
	From     string   `yaml:"from"`     // email: sender; default depot@<hostname>
	Sendmail string   `yaml:"sendmail"` // email: the sendmail program; default /usr/sbin/sendmail
}

// Problem is a mistake in a Config, at one of its keys.
type Problem struct {
	Key string
	Msg string
}

// keysOf lists the keys each type takes besides the common ones.
var keysOf = map[string][]string{
	"healthchecks": {"url"},
	"webhook":      {"url", "headers", "token_env", "token_file"},
	"command":      {"command"},
	"email":        {"to", "from", "sendmail"},
}

// Types are the notifier types, sorted.
func Types() []string {
	var out []string
	for t := range keysOf {
		out = append(out, t)
	}
	slices.Sort(out)
	return out
}

// Check returns what is wrong with c; nothing means New will accept it.
func (c *Config) Check() []Problem {
	var ps []Problem
	add := func(key, format string, args ...any) { ps = append(ps, Problem{key, fmt.Sprintf(format, args...)}) }
	keys, ok := keysOf[c.Type]
	if !ok {
		if c.Type == "" {
			add("type", "missing: one of %s", strings.Join(Types(), ", "))
		} else {
			add("type", "unknown type %q: want one of %s", c.Type, strings.Join(Types(), ", "))
		}
		return ps
	}
	set := map[string]bool{"url": c.URL != "", "headers": len(c.Headers) > 0, "token_env": c.TokenEnv != "", "token_file": c.TokenFile != "",
		"command": len(c.Command) > 0, "to": len(c.To) > 0, "from": c.From != "", "sendmail": c.Sendmail != ""}
	for _, k := range []string{"url", "headers", "token_env", "token_file", "command", "to", "from", "sendmail"} {
		if set[k] && !slices.Contains(keys, k) {
			add(k, "not a key of %s notifier (its keys: %s, on, timeout, retries)", article(c.Type), strings.Join(keys, ", "))
		}
	}
	for _, on := range c.On {
		if !slices.Contains(Kinds, Kind(on)) {
			add("on", "unknown event %q: want some of start, success, warning, failure", on)
		}
	}
	if c.Timeout != "" {
		if d, err := time.ParseDuration(c.Timeout); err != nil || d <= 0 {
			add("timeout", "%q is not a positive duration such as 10s", c.Timeout)
		}
	}
	if c.Retries != nil && (*c.Retries < 0 || *c.Retries > 10) {
		add("retries", "%d: want 0 to 10", *c.Retries)
	}
	switch c.Type {
	case "healthchecks", "webhook":
		if c.URL == "" {
			add("url", "missing: the URL to call")
		} else if u, err := url.Parse(c.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			add("url", "not an http or https URL") // the URL itself may hold a secret: not repeated
		}
		if c.TokenEnv != "" && c.TokenFile != "" {
			add("token_file", "token_env and token_file both set: choose one")
		}
		for _, h := range c.Headers {
			if name, _, ok := strings.Cut(h, ":"); !ok || strings.TrimSpace(name) == "" || strings.ContainsAny(name, " \t") {
				add("headers", "%q: want \"Name: value\"", name)
			}
		}
	case "command":
		if len(c.Command) == 0 {
			add("command", "missing: the program and its arguments as a list")
		} else if c.Command[0] == "" {
			add("command", "empty program name")
		}
	case "email":
		if len(c.To) == 0 {
			add("to", "missing: the recipients, e.g. [root@localhost]")
		}
		for _, a := range c.To {
			if !strings.Contains(a, "@") || strings.ContainsAny(a, "\r\n,") {
				add("to", "%q is not one mail address", a)
			}
		}
		if strings.ContainsAny(c.From, "\r\n") {
			add("from", "one line, please")
		}
	}
	return ps
}

// wants reports whether c subscribes to events of kind k.
func (c *Config) wants(k Kind) bool {
	if len(c.On) == 0 {
		// Healthchecks wants start (it measures durations); others are
		// told when a run ends.
		return k != Start || c.Type == "healthchecks"
	}
	return slices.Contains(c.On, string(k))
}

func (c *Config) timeout() time.Duration {
	if d, err := time.ParseDuration(c.Timeout); err == nil && d > 0 {
		return d
	}
	return DefaultTimeout
}

func (c *Config) retries() int {
	if c.Retries == nil {
		return DefaultRetries
	}
	return *c.Retries
}

// token reads the webhook's token, if it has one.
func (c *Config) token() (string, error) {
	switch {
	case c.TokenEnv != "":
		v := os.Getenv(c.TokenEnv)
		if v == "" {
			return "", fmt.Errorf("token_env %s is not set", c.TokenEnv)
		}
		return v, nil
	case c.TokenFile != "":
		data, err := os.ReadFile(c.TokenFile)
		if err != nil {
			return "", fmt.Errorf("token_file: %w", err)
		}
		return strings.TrimSpace(string(data)), nil
	}
	return "", nil
}

// label names the notifier in logs without any secret: a URL's scheme and
// host only (a healthchecks URL's path is its key), a program's name.
func (c *Config) label() string {
	switch c.Type {
	case "healthchecks", "webhook":
		if u, err := url.Parse(c.URL); err == nil {
			return c.Type + " " + u.Scheme + "://" + u.Host
		}
	case "command":
		return "command " + c.Command[0]
	case "email":
		return "email to " + strings.Join(c.To, ", ")
	}
	return c.Type
}

// article puts "a" or "an" before a notifier type.
func article(typ string) string {
	if strings.ContainsRune("aeiou", rune(typ[0])) {
		return "an " + typ
	}
	return "a " + typ
}
