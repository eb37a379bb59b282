package director

import (
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/depot-backup/depot/repository"
)

// Mirror types.
const (
	MirrorRsync  = "rsync"  // a depot repository on another disk or SSH host (the default)
	MirrorRestic = "restic" // a restic repository: object storage, REST, SFTP
)

// ResticMirrorConfig are the keys of a mirror of type restic.
type ResticMirrorConfig struct {
	Type string `yaml:"type"` // rsync (default) or restic
	// Repository is the restic repository URL (s3:…, rest:…, sftp:…,
	// rclone:…, or a path).
	Repository   string `yaml:"repository"`
	PasswordFile string `yaml:"password_file"`
	PasswordEnv  string `yaml:"password_env"`
	// EnvFile holds KEY=value lines for the backend, e.g.
	// AWS_ACCESS_KEY_ID: restic gets them in its environment, never in
	// its argv.
	EnvFile string `yaml:"env_file"`
	// Retention, when set, is the mirror's own: which of its snapshots it
	// keeps. By default it drops what the repository's retention dropped.
	Retention *MirrorRetention `yaml:"retention"`
}

// MirrorRetention is a restic mirror's own retention: like the
// repository's, the newest max_recent_backups of each set plus what the
// calendar rules keep (e.g. more yearlies offsite).
type MirrorRetention struct {
	MaxRecentBackups *int         `yaml:"max_recent_backups"`
	Rules            []RuleConfig `yaml:"rules"`
}

// IsRestic reports whether the mirror is a restic repository.
func (m MirrorConfig) IsRestic() bool { return m.Type == MirrorRestic }

// Where names the mirror's destination in messages: its target, or its
// restic repository with any password in the URL left out.
func (m MirrorConfig) Where() string {
	if m.IsRestic() {
		return redactURL(m.Repository)
	}
	return m.Target
}

var urlPassword = regexp.MustCompile(`(://[^/:@]*):[^/@]*@`)

// redactURL hides the password of user:password@ in a URL.
func redactURL(u string) string { return urlPassword.ReplaceAllString(u, "$1:***@") }

// restic returns the runner for a restic mirror.
func (m MirrorConfig) restic() repository.Restic {
	r := repository.Restic{Repository: m.Repository, PasswordFile: expandHome(m.PasswordFile), PasswordEnv: m.PasswordEnv, EnvFile: expandHome(m.EnvFile)}
	if m.BwLimit != "" {
		r.Limit = kibPerSecond(m.BwLimit)
	}
	return r
}

// kibPerSecond turns a validated bwlimit (500, 10M, 1.5G) into KiB/s.
func kibPerSecond(s string) int {
	mult := 1.0
	switch strings.ToUpper(s[len(s)-1:]) {
	case "K":
		s = s[:len(s)-1]
	case "M":
		mult, s = 1024, s[:len(s)-1]
	case "G":
		mult, s = 1024*1024, s[:len(s)-1]
	}
	f, _ := strconv.ParseFloat(s, 64)
	return max(1, int(f*mult))
}

// resticPolicy is the policy of a restic mirror's own retention.
func (m MirrorConfig) resticPolicy(c *Config) repository.Policy {
	r := m.Retention
	p := repository.Policy{MaxRecent: DefaultMaxRecent, Location: c.Repository.Permanent.Location()}
	if r.MaxRecentBackups != nil {
		p.MaxRecent = *r.MaxRecentBackups
	}
	for _, rule := range r.Rules {
		keep := 0
		if rule.Keep != nil {
			keep = *rule.Keep
		}
		p.Rules = append(p.Rules, repository.Rule{Name: rule.Name, Calendar: rule.Calendar, Keep: keep})
	}
	return p
}

const resticHint = "e.g. {name: cloud, type: restic, repository: \"s3:https://s3.example.com/bucket/depot\", password_file: /etc/depot/restic.pass}"

// validateResticMirror checks the keys of one mirror against its type.
func (c *Config) validateResticMirror(d *decoder, mn *yaml.Node, m MirrorConfig, where string, at func(string) *yaml.Node) {
	switch m.Type {
	case "", MirrorRsync:
		for _, k := range []string{"repository", "password_file", "password_env", "env_file", "retention"} {
			if mappingValue(mn, k) != nil {
				d.errorf(at(k), "set type: restic for a restic repository, or give a target", "%s: %s belongs to a mirror of type restic", where, k)
			}
		}
		return
	case MirrorRestic:
	default:
		d.errorf(at("type"), "rsync (a depot repository on a disk or SSH host) or restic", "%s: type: unknown mirror type %q", where, m.Type)
		return
	}
	if m.Target != "" {
		d.errorf(at("target"), "a restic mirror names its restic repository URL in repository:", "%s: a mirror of type restic has no target", where)
	}
	if m.Delete != nil {
		d.errorf(at("delete"), "a restic mirror drops what the repository's retention dropped, or what its own retention: says", "%s: delete belongs to a mirror of type rsync", where)
	}
	if m.Repository == "" {
		d.errorf(mn, resticHint, "%s: missing key \"repository\"", where)
	}
	switch {
	case m.PasswordFile == "" && m.PasswordEnv == "":
		d.errorf(mn, "password_file: FILE or password_env: VARIABLE", "%s: a restic mirror needs password_file or password_env", where)
	case m.PasswordFile != "" && m.PasswordEnv != "":
		d.errorf(at("password_env"), "keep one of them", "%s: password_file and password_env are both set", where)
	case m.PasswordEnv != "" && !validEnvName.MatchString(m.PasswordEnv):
		d.errorf(at("password_env"), "the name of an environment variable, e.g. DEPOT_RESTIC_PASSWORD", "%s: password_env: %q is not a variable name", where, m.PasswordEnv)
	}
	if r := m.Retention; r != nil {
		if r.MaxRecentBackups != nil && *r.MaxRecentBackups < 1 {
			d.errorf(at("retention"), "keep at least the newest snapshot", "%s: retention: max_recent_backups must be 1 or more", where)
		}
		seen := map[string]bool{}
		for _, rule := range r.Rules {
			switch {
			case rule.Name == "":
				d.errorf(rule.node, ruleHint, "%s: retention rule: missing key \"name\"", where)
			case seen[rule.Name]:
				d.errorf(rule.node, "", "%s: retention rule name %q is used twice", where, rule.Name)
			}
			switch {
			case rule.Keep == nil:
				d.errorf(rule.node, keepHint, "%s: retention rule %q: missing key \"keep\"", where, rule.Name)
			case *rule.Keep < 0:
				d.errorf(rule.node, keepHint, "%s: retention rule %q: keep must be 0 or more", where, rule.Name)
			}
			seen[rule.Name] = true
		}
	}
}

var validEnvName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
