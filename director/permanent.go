package director

import (
	"fmt"
	"reflect"
	"strings"
	"time"

	// Time zone names must resolve on machines without /usr/share/zoneinfo.
	_ "time/tzdata"

	"gopkg.in/yaml.v3"

	"github.com/depot-backup/depot/repository"
	"github.com/depot-backup/depot/schedules"
)

// PermanentConfig is the permanent section: calendar rules that pick which
// holding snapshots migrate there, and how many of them stay.
type PermanentConfig struct {
	Rules []RuleConfig `yaml:"rules"`
	// Timezone is the IANA name of the zone whose calendar days the rules
	// match; empty for this machine's local time.
	Timezone string `yaml:"timezone"`
}

// Location returns the time zone the rules match days in.
func (p PermanentConfig) Location() *time.Location {
	if p.Timezone == "" {
		return time.Local
	}
	loc, err := time.LoadLocation(p.Timezone)
	if err != nil {
		return time.Local // unreachable: validate loaded it
	}
	return loc
}

// RuleConfig is one permanent rule. A day matches when each of days, months
// and weekdays that is given matches it; a rule with none matches every day.
type RuleConfig struct {
	Name     string
	Calendar schedules.Calendar
	Keep     *int // required: the newest matching snapshots kept; 0 keeps all
	node     *yaml.Node
}

// ruleKeys are the keys of a rule as written.
type ruleKeys struct {
	Name     string   `yaml:"name"`
	Days     []string `yaml:"days"`
	Months   []string `yaml:"months"`
	Weekdays []string `yaml:"weekdays"`
	Keep     *int     `yaml:"keep"`
}

const (
	ruleHint = "e.g. {name: monthly, days: [1], keep: 12}"
	keepHint = "how many of the newest matching snapshots stay in permanent; 0 keeps them forever"
)

// decodeNode decodes a rule strictly, then reads each calendar value, so a
// wrong one is reported at its own position.
func (r *RuleConfig) decodeNode(d *decoder, n *yaml.Node) {
	r.node = n
	if n.Kind != yaml.MappingNode {
		d.errorf(n, ruleHint, "permanent rule: want a mapping with name and keep, got %s", describe(n))
		return
	}
	var keys ruleKeys
	where := r.where()
	d.decode(n, reflect.ValueOf(&keys).Elem(), where)
	r.Name, r.Keep = keys.Name, keys.Keep
	r.Calendar.Days = parseEach(d, mappingValue(n, "days"), keys.Days, where+": days", "1 to 31, or last", schedules.ParseDay)
	r.Calendar.Months = parseEach(d, mappingValue(n, "months"), keys.Months, where+": months", "1 to 12, or jan to dec, or january to december", schedules.ParseMonth)
	r.Calendar.Weekdays = parseEach(d, mappingValue(n, "weekdays"), keys.Weekdays, where+": weekdays",
		"sunday to saturday (or sun to sat), optionally after first, second, third, fourth, fifth or last", schedules.ParseWeekday)
}

// where names the rule in messages.
func (r *RuleConfig) where() string {
	if name := mappingValue(r.node, "name"); name != nil && name.Kind == yaml.ScalarNode && name.Value != "" {
		return fmt.Sprintf("permanent rule %q", name.Value)
	}
	return "permanent rule"
}

// parseEach parses the values of the list at seq, reporting each bad one at
// its position. A list that did not decode was reported already.
func parseEach[T any](d *decoder, seq *yaml.Node, vals []string, where, hint string, parse func(string) (T, error)) []T {
	if seq == nil || !d.ok(seq) {
		return nil
	}
	if seq.Kind == yaml.AliasNode {
		seq = seq.Alias
	}
	var out []T
	for i, s := range vals {
		v, err := parse(s)
		if err != nil {
			d.errorf(seq.Content[i], hint, "%s: %v", where, err)
			continue
		}
		out = append(out, v)
	}
	return out
}

// validatePermanent checks what decoding cannot: the time zone exists, the
// section has rules, and each rule has a unique name and a keep of 0 or more.
func (c *Config) validatePermanent(d *decoder, repo *yaml.Node) {
	if n := c.Repository.MaxDelete; n != nil && *n < 0 {
		d.errorf(mappingValue(repo, "max_delete"), "how many snapshots of a set one prune may delete beyond the normal roll-over; 0 or more",
			"repository.max_delete: must be 0 or more, got %d", *n)
	}
	perm := mappingValue(repo, "permanent")
	if perm == nil || perm.Kind != yaml.MappingNode || !d.ok(perm) && len(c.Repository.Permanent.Rules) == 0 {
		return
	}
	p := c.Repository.Permanent
	if tz := mappingValue(perm, "timezone"); tz != nil && d.ok(tz) && p.Timezone != "" {
		if _, err := time.LoadLocation(p.Timezone); err != nil {
			d.errorf(tz, "an IANA name such as Europe/Berlin or UTC; leave it out for this machine's local time",
				"repository.permanent.timezone: unknown time zone %q", p.Timezone)
		}
	}
	rules := mappingValue(perm, "rules")
	if len(p.Rules) == 0 {
		if d.ok(rules) && !d.misspelt(perm, "rules") {
			n := perm
			if rules != nil {
				n = rules
			}
			d.errorf(n, "add rules, e.g. rules: [{name: monthly, days: [1], keep: 12}], or remove permanent", "repository.permanent: no rules")
		}
		return
	}
	seen := map[string]*yaml.Node{}
	for _, r := range p.Rules {
		n := r.node
		if n == nil || n.Kind != yaml.MappingNode {
			continue // reported by the decoder
		}
		name := mappingValue(n, "name")
		switch {
		case !d.ok(name), r.Name == "" && d.misspelt(n, "name"):
		case r.Name == "":
			d.errorf(n, ruleHint, "permanent rule: missing key \"name\"")
		case seen[r.Name] != nil:
			d.errorf(name, fmt.Sprintf("first at line %d", seen[r.Name].Line), "permanent rule name %q is used twice", r.Name)
		default:
			seen[r.Name] = name
		}
		keep := mappingValue(n, "keep")
		switch {
		case !d.ok(keep), r.Keep == nil && d.misspelt(n, "keep"):
		case keep != nil && isNull(keep):
			d.errorf(keep, keepHint, "%s: keep: want a whole number, got nothing", r.where())
		case r.Keep == nil:
			d.errorf(n, keepHint, "%s: missing key \"keep\"", r.where())
		case *r.Keep < 0:
			d.errorf(keep, keepHint, "%s: keep: must be 0 or more, got %d", r.where(), *r.Keep)
		}
	}
}

// policy is the retention policy the config describes.
func (c *Config) policy() repository.Policy {
	p := repository.Policy{MaxRecent: c.Repository.Holding.MaxRecent(), Location: c.Repository.Permanent.Location(), MaxDelete: c.Repository.MaxDelete}
	for _, r := range c.Repository.Permanent.Rules {
		keep := 0
		if r.Keep != nil {
			keep = *r.Keep
		}
		p.Rules = append(p.Rules, repository.Rule{Name: r.Name, Calendar: r.Calendar, Keep: keep})
	}
	return p
}

// retentionSummary describes the policy in a line: "holding keeps 10;
// permanent rules monthly (day 1, keep 12) in Europe/Berlin", with days in
// loc (see Director.location).
func (c *Config) retentionSummary(loc *time.Location) string {
	p := c.policy()
	p.Location = loc
	s := fmt.Sprintf("holding keeps %d", p.MaxRecent)
	if len(p.Rules) == 0 {
		return s + "; no permanent rules"
	}
	rules := make([]string, len(p.Rules))
	for i, r := range p.Rules {
		rules[i] = fmt.Sprintf("%s (%s, keep %d)", r.Name, r.Calendar, r.Keep)
	}
	return fmt.Sprintf("%s; permanent rules %s in %s", s, strings.Join(rules, ", "), zoneName(p.Location))
}
