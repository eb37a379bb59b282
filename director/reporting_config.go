package director

import (
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// MetricsConfig is where depot publishes Prometheus metrics.
type MetricsConfig struct {
	// Textfile is written atomically after every run, for node_exporter's
	// textfile collector.
	Textfile string `yaml:"textfile"`
	// Listen is the address the daemon serves /metrics on; default
	// DefaultMetricsListen, loopback only.
	Listen string `yaml:"listen"`
}

// DefaultMetricsListen is where the daemon serves /metrics unless told.
const DefaultMetricsListen = "127.0.0.1:9134"

// ListenOrDefault returns listen, or its default.
func (m MetricsConfig) ListenOrDefault() string {
	if m.Listen == "" {
		return DefaultMetricsListen
	}
	return m.Listen
}

// ParseAge reads an age such as 26h, 90m or 2d (days of 24 hours).
func ParseAge(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseFloat(days, 64)
		if err != nil || n <= 0 {
			return 0, fmt.Errorf("%q is not an age such as 26h or 2d", s)
		}
		return time.Duration(n * float64(24*time.Hour)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%q is not an age such as 26h or 2d", s)
	}
	return d, nil
}

// validateReporting checks what tells the world about runs: hooks, notify,
// metrics and alert_after, at the top level and in each set.
func (c *Config) validateReporting(d *decoder, doc *yaml.Node) {
	at := func(parent *yaml.Node, key string) *yaml.Node {
		if v := mappingValue(parent, key); v != nil {
			return v
		}
		return parent
	}
	validateHooks(d, mappingValue(doc, "hooks"), c.Hooks, "")
	if n := mappingValue(doc, "alert_after"); n != nil && d.ok(n) && c.AlertAfter != "" {
		if _, err := ParseAge(c.AlertAfter); err != nil {
			d.errorf(n, "how old a set's last success may be before status alerts, e.g. 26h", "alert_after: %v", err)
		}
	}
	if metrics := mappingValue(doc, "metrics"); metrics != nil && d.ok(metrics) {
		if p := c.Metrics.Textfile; p != "" && !filepath.IsAbs(p) {
			d.errorf(at(metrics, "textfile"), "e.g. /var/lib/prometheus/node-exporter/depot.prom", "metrics.textfile: %q is relative", p)
		}
		if l := c.Metrics.Listen; l != "" {
			if _, port, err := net.SplitHostPort(l); err != nil || port == "" {
				d.errorf(at(metrics, "listen"), "host:port, e.g. 127.0.0.1:9134", "metrics.listen: %q is not host:port", l)
			}
		}
	}
	if nn := mappingValue(doc, "notify"); nn != nil && nn.Kind == yaml.SequenceNode && len(nn.Content) == len(c.Notify) {
		for i := range c.Notify {
			n := nn.Content[i]
			if n.Kind != yaml.MappingNode || !d.ok(n) {
				continue
			}
			for _, p := range c.Notify[i].Check() {
				d.errorf(at(n, p.Key), "", "notify[%d] (%s): %s: %s", i, c.Notify[i].Type, p.Key, p.Msg)
			}
		}
	}
	sets := mappingValue(doc, "sets")
	if sets == nil || sets.Kind != yaml.SequenceNode || len(sets.Content) != len(c.Sets) {
		return
	}
	for i := range c.Sets {
		s, sn := &c.Sets[i], sets.Content[i]
		if sn.Kind != yaml.MappingNode {
			continue
		}
		validateHooks(d, mappingValue(sn, "hooks"), s.Hooks, fmt.Sprintf("set %q", s.Name))
		if n := mappingValue(sn, "alert_after"); n != nil && d.ok(n) && s.AlertAfter != "" {
			if _, err := ParseAge(s.AlertAfter); err != nil {
				d.errorf(n, "e.g. 26h or 8d", "set %q: alert_after: %v", s.Name, err)
			}
		}
	}
}

// alertAfter is how old set's last success may be, or 0 for no limit.
func (c *Config) alertAfter(set *SetConfig) time.Duration {
	s := c.AlertAfter
	if set != nil && set.AlertAfter != "" {
		s = set.AlertAfter
	}
	d, _ := ParseAge(s)
	return d
}
