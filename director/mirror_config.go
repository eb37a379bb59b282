package director

import (
	"fmt"
	"path"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/depot-backup/depot/hosts"
)

// MirrorConfig is a copy of the repository on another disk or host.
type MirrorConfig struct {
	Name    string `yaml:"name"`
	Target  string `yaml:"target"`  // /path, or user@host[:port]:/path
	BwLimit string `yaml:"bwlimit"` // rsync --bwlimit: KiB/s, or with a K, M or G suffix
	// Delete removes from the mirror what the repository no longer has,
	// once every new snapshot is on the mirror. Default true.
	Delete *bool `yaml:"delete"`

	JobTiming `yaml:",inline"` // schedule (or after-runs), jitter, windows

	ResticMirrorConfig `yaml:",inline"` // type, and a restic mirror's keys
}

// DeleteOrDefault returns delete, true when unset.
func (m MirrorConfig) DeleteOrDefault() bool { return m.Delete == nil || *m.Delete }

// ParseTarget splits a mirror target into host address ("" for this
// machine) and absolute path.
func ParseTarget(target string) (addr, dir string, err error) {
	if strings.HasPrefix(target, "/") {
		return "", path.Clean(target), nil
	}
	addr, dir, ok := strings.Cut(target, ":/")
	if !ok {
		return "", "", fmt.Errorf("%q: want /path or user@host[:port]:/path", target)
	}
	if _, _, _, err := hosts.ParseAddress(addr); err != nil {
		return "", "", err
	}
	return addr, path.Clean("/" + dir), nil
}

// validBwLimit is what rsync's --bwlimit takes.
var validBwLimit = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?[KMGkmg]?$`)

func (c *Config) validateMirrors(d *decoder, node *yaml.Node) {
	if node == nil || node.Kind != yaml.SequenceNode || len(node.Content) != len(c.Mirrors) {
		return
	}
	seen := map[string]*yaml.Node{}
	for i, m := range c.Mirrors {
		mn := node.Content[i]
		if mn.Kind != yaml.MappingNode {
			continue // reported by the decoder
		}
		at := func(key string) *yaml.Node {
			if v := mappingValue(mn, key); v != nil {
				return v
			}
			return mn
		}
		where := fmt.Sprintf("mirror %q", m.Name)
		switch {
		case m.Name == "":
			where = fmt.Sprintf("mirrors[%d]", i)
			d.errorf(mn, "", "%s: missing key \"name\"", where)
		case !validName.MatchString(m.Name):
			d.errorf(at("name"), nameHint, "mirror name %q is not a valid name", m.Name)
		case seen[m.Name] != nil:
			d.errorf(at("name"), fmt.Sprintf("first at line %d", seen[m.Name].Line), "mirror name %q is used twice", m.Name)
		default:
			seen[m.Name] = at("name")
		}
		c.validateResticMirror(d, mn, m, where, at)
		switch _, _, err := ParseTarget(m.Target); {
		case m.Type != "" && m.Type != MirrorRsync:
			// a restic mirror has no target
		case m.Target == "":
			d.errorf(mn, "a local path or user@host:/path", "%s: missing key \"target\"", where)
		case err != nil:
			d.errorf(at("target"), "e.g. /mnt/offsite/depot or backup@offsite.example.com:/srv/depot", "%s: target: %v", where, err)
		default:
			c.validateMirrorTarget(d, at("target"), m)
		}
		if m.BwLimit != "" && !validBwLimit.MatchString(m.BwLimit) {
			d.errorf(at("bwlimit"), "KiB per second, or with a suffix: 500, 10M, 1.5G", "%s: bwlimit: %q is not a rate", where, m.BwLimit)
		}
	}
}
