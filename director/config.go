// Package director loads the config and drives everything depot does with it:
// plan, run, list and restore.
package director

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/depot-backup/depot/backupitems"
	"github.com/depot-backup/depot/hosts"
	"github.com/depot-backup/depot/notify"
)

// DefaultMaxRecent is holding.max_recent_backups when the config leaves it out.
const DefaultMaxRecent = 10

// DefaultConfigPaths are tried in order when --config is not given.
var DefaultConfigPaths = []string{"depot.yaml", "/etc/depot/depot.yaml"}

// Config is a loaded, valid config file.
type Config struct {
	Version    int              `yaml:"version"`
	Repository RepositoryConfig `yaml:"repository"`
	SSH        SSHConfig        `yaml:"ssh"`
	Sets       []SetConfig      `yaml:"sets"`
	Mirrors    []MirrorConfig   `yaml:"mirrors"`
	// Hooks run around every set's run, outside the set's own hooks.
	Hooks      HooksConfig     `yaml:"hooks"`
	Notify     []notify.Config `yaml:"notify"`
	Metrics    MetricsConfig   `yaml:"metrics"`
	AlertAfter string          `yaml:"alert_after"` // a duration: status exits 1 when a set's last success is older
	// Concurrency is how many sets one run backs up at once (0 or 1: one
	// after another); never two sets of one source host at once.
	Concurrency int `yaml:"concurrency"`

	File   string `yaml:"-"` // path it was loaded from
	Digest string `yaml:"-"` // "sha256:<hex>" of its bytes
}

// RepositoryConfig says where snapshots go and how many stay.
type RepositoryConfig struct {
	Path string `yaml:"path"`
	// Host is "user@host[:port]" of a remote repository (push mode); empty
	// for a repository on this machine.
	Host      string          `yaml:"host"`
	Holding   HoldingConfig   `yaml:"holding"`
	Permanent PermanentConfig `yaml:"permanent"`

	RepositoryJobs `yaml:",inline"` // verify and prune schedules
	// MaxDelete is how many snapshots of a set one prune may delete beyond
	// the normal roll-over without depot prune --confirm; nil for the
	// default (see repository.DefaultMaxDelete).
	MaxDelete *int `yaml:"max_delete"`
}

// SSHConfig is how depot reaches remote hosts, for its own connections and
// for the ssh that rsync runs alike.
type SSHConfig struct {
	IdentityFile      string `yaml:"identity_file"` // default ~/.ssh/id_ed25519, id_ecdsa, id_rsa
	KnownHosts        string `yaml:"known_hosts"`   // default ~/.ssh/known_hosts
	AcceptNewHostKeys bool   `yaml:"accept_new_host_keys"`
	ConnectTimeout    string `yaml:"connect_timeout"` // a duration, default 10s
}

// Options returns the settings for hosts.NewSSH.
func (s SSHConfig) Options() hosts.SSHOptions {
	timeout, _ := time.ParseDuration(s.ConnectTimeout)
	return hosts.SSHOptions{
		IdentityFile:      expandHome(s.IdentityFile),
		KnownHosts:        expandHome(s.KnownHosts),
		AcceptNewHostKeys: s.AcceptNewHostKeys,
		ConnectTimeout:    timeout,
	}
}

// expandHome turns a leading ~/ into the home directory.
func expandHome(p string) string {
	if rest, ok := strings.CutPrefix(p, "~/"); ok {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, rest)
		}
	}
	return p
}

// HoldingConfig is the holding section's retention.
type HoldingConfig struct {
	MaxRecentBackups *int `yaml:"max_recent_backups"`
}

// MaxRecent returns max_recent_backups or its default.
func (h HoldingConfig) MaxRecent() int {
	if h.MaxRecentBackups == nil {
		return DefaultMaxRecent
	}
	return *h.MaxRecentBackups
}

// SetConfig is one backup set: items backed up together into one snapshot.
type SetConfig struct {
	Name string `yaml:"name"`
	// Source is "user@host[:port]" of the host whose data the set backs up
	// (pull mode); empty for this machine.
	Source string       `yaml:"source"`
	Items  []ItemConfig `yaml:"items"`
	Hooks  HooksConfig  `yaml:"hooks"`
	// AlertAfter overrides the top-level alert_after for this set.
	AlertAfter string `yaml:"alert_after"`

	JobTiming `yaml:",inline"` // schedule, jitter, windows
}

// ItemConfig holds a decoded item of any registered type, with the node it came from
// for error positions.
type ItemConfig struct {
	backupitems.Item
	node *yaml.Node
}

// Set returns the set named name.
func (c *Config) Set(name string) (*SetConfig, bool) {
	for i := range c.Sets {
		if c.Sets[i].Name == name {
			return &c.Sets[i], true
		}
	}
	return nil, false
}

// FindConfig returns path, or the first default config path that exists.
func FindConfig(path string) (string, error) {
	if path != "" {
		return path, nil
	}
	for _, p := range DefaultConfigPaths {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("no config file: neither ./%s nor %s exists; pass --config FILE", DefaultConfigPaths[0], DefaultConfigPaths[1])
}

// Load reads and validates the config at path. A config with problems returns
// ConfigErrors listing all of them.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("config %s does not exist", path)
	}
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	cfg, err := Parse(path, data)
	if err != nil {
		return nil, err
	}
	return cfg, nil
}

// Parse decodes and validates config bytes; file names them in errors.
func Parse(file string, data []byte) (*Config, error) {
	sum := sha256.Sum256(data)
	cfg := &Config{File: file, Digest: "sha256:" + hex.EncodeToString(sum[:])}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, ConfigErrors{syntaxError(file, data, err)}
	}
	d := newDecoder(file)
	if root.Kind == 0 || len(root.Content) == 0 || isNull(root.Content[0]) {
		return nil, ConfigErrors{{File: file, Line: 1, Col: 1, Msg: "the config is empty", Hint: "see examples/configs/ for a start"}}
	}
	doc := root.Content[0]
	d.decode(doc, reflect.ValueOf(cfg).Elem(), "")
	if doc.Kind == yaml.MappingNode {
		cfg.validate(d, doc)
	}
	if len(d.errs) > 0 {
		sort.SliceStable(d.errs, func(i, j int) bool {
			a, b := d.errs[i], d.errs[j]
			return a.Line < b.Line || a.Line == b.Line && a.Col < b.Col
		})
		return nil, d.errs
	}
	return cfg, nil
}

// decodeNode decodes an item: its type first, then the whole node strictly
// into that type's config. Messages name the item when it has a name.
func (it *ItemConfig) decodeNode(d *decoder, n *yaml.Node) {
	it.node = n
	if n.Kind != yaml.MappingNode {
		d.errorf(n, "", "item: want a mapping with name and type, got %s", describe(n))
		return
	}
	where := "item"
	if name := mappingValue(n, "name"); name != nil && name.Kind == yaml.ScalarNode && name.Value != "" {
		where = fmt.Sprintf("item %q", name.Value)
	}
	typeNode := mappingValue(n, "type")
	if typeNode == nil {
		d.errorf(n, "valid types: "+typeNames(), "%s: missing key \"type\"", where)
		return
	}
	t, ok := backupitems.Lookup(typeNode.Value)
	if !ok {
		d.errorf(typeNode, "valid types: "+typeNames(), "%s: unknown type %q", where, typeNode.Value)
		return
	}
	item := t.New()
	d.decode(n, reflect.ValueOf(item).Elem(), where)
	it.Item = item
}

func typeNames() string {
	var names []string
	for _, t := range backupitems.Types() {
		names = append(names, t.Name)
	}
	return strings.Join(names, ", ")
}

// mappingValue returns the value node of key in mapping n, or nil.
func mappingValue(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// validName is what a set or item may be called: each becomes a directory name.
var validName = regexp.MustCompile(`^[A-Za-z0-9_-][A-Za-z0-9._-]*$`)

const nameHint = "use letters, digits, '.', '_' and '-', not starting with '.'"

// reservedNames are file names a snapshot uses for itself.
var reservedNames = map[string]bool{"manifest.json": true, "manifest.json.tmp": true}

func (c *Config) validate(d *decoder, doc *yaml.Node) {
	at := func(parent *yaml.Node, key string) *yaml.Node {
		if v := mappingValue(parent, key); v != nil {
			return v
		}
		return parent
	}
	switch {
	case !d.ok(mappingValue(doc, "version")), d.misspelt(doc, "version"):
		// reported by the decoder
	case mappingValue(doc, "version") == nil:
		d.errorf(doc, "add `version: 1` at the top", "missing key \"version\"")
	case c.Version != 1:
		d.errorf(at(doc, "version"), "this depot reads version 1", "version: unsupported version %d", c.Version)
	}
	repo := mappingValue(doc, "repository")
	switch {
	case repo != nil && repo.Kind != yaml.MappingNode, !d.ok(mappingValue(repo, "path")),
		repo == nil && d.misspelt(doc, "repository"), c.Repository.Path == "" && d.misspelt(repo, "path"):
		// reported by the decoder
	case repo == nil:
		d.errorf(doc, "add repository: {path: /srv/depot}", "missing key \"repository\"")
	case c.Repository.Path == "":
		d.errorf(at(repo, "path"), "the directory that holds the snapshots, e.g. /srv/depot", "repository: missing key \"path\"")
	case !filepath.IsAbs(c.Repository.Path):
		d.errorf(at(repo, "path"), "write it from the root, e.g. /srv/depot", "repository.path: %q is relative", c.Repository.Path)
	}
	if c.Repository.Host != "" {
		if _, _, _, err := hosts.ParseAddress(c.Repository.Host); err != nil {
			d.errorf(at(repo, "host"), "e.g. backup@repo.example.com or backup@repo.example.com:2222", "repository.host: %v", err)
		}
	}
	if t := c.SSH.ConnectTimeout; t != "" {
		if dur, err := time.ParseDuration(t); err != nil || dur <= 0 {
			d.errorf(at(mappingValue(doc, "ssh"), "connect_timeout"), "a duration such as 10s or 1m", "ssh.connect_timeout: %q is not a positive duration", t)
		}
	}
	if n := c.Repository.Holding.MaxRecentBackups; n != nil && *n < 1 && d.ok(mappingValue(mappingValue(repo, "holding"), "max_recent_backups")) {
		d.errorf(at(at(repo, "holding"), "max_recent_backups"), "keep at least the newest snapshot", "repository.holding.max_recent_backups: must be at least 1, got %d", *n)
	}
	c.validatePermanent(d, repo)
	c.validateMirrors(d, mappingValue(doc, "mirrors"))
	c.validateReporting(d, doc)
	if n := mappingValue(doc, "concurrency"); n != nil && d.ok(n) && (c.Concurrency < 0 || c.Concurrency > maxConcurrency) {
		d.errorf(n, fmt.Sprintf("how many sets run at once, 1 to %d", maxConcurrency), "concurrency: must be 1 to %d, got %d", maxConcurrency, c.Concurrency)
	}
	c.validateSchedules(d, doc)
	setsNode := mappingValue(doc, "sets")
	if len(c.Sets) == 0 {
		if d.ok(setsNode) && (setsNode != nil || !d.misspelt(doc, "sets")) {
			d.errorf(at(doc, "sets"), "add at least one set with items", "sets: no backup sets")
		}
		return
	}
	if setsNode.Kind == yaml.AliasNode {
		setsNode = setsNode.Alias
	}
	seenSets := map[string]*yaml.Node{}
	for i := range c.Sets {
		s := &c.Sets[i]
		sn := setsNode.Content[i]
		if sn.Kind != yaml.MappingNode && sn.Kind != yaml.AliasNode {
			continue // reported by the decoder
		}
		where := fmt.Sprintf("set %q", s.Name)
		if s.Name == "" {
			where = fmt.Sprintf("sets[%d]", i)
		}
		switch {
		case !d.ok(mappingValue(sn, "name")), s.Name == "" && d.misspelt(sn, "name"):
			// reported by the decoder
		case s.Name == "":
			d.errorf(sn, "", "%s: missing key \"name\"", where)
		case !validName.MatchString(s.Name):
			d.errorf(at(sn, "name"), nameHint, "set name %q is not a valid directory name", s.Name)
		case seenSets[s.Name] != nil:
			d.errorf(at(sn, "name"), fmt.Sprintf("first at line %d", seenSets[s.Name].Line), "set name %q is used twice", s.Name)
		}
		if s.Name != "" && seenSets[s.Name] == nil {
			seenSets[s.Name] = at(sn, "name")
		}
		if s.Source != "" {
			if _, _, _, err := hosts.ParseAddress(s.Source); err != nil {
				d.errorf(at(sn, "source"), "e.g. www@web1.example.com or www@web1.example.com:2222", "%s: source: %v", where, err)
			} else if c.Repository.Host != "" {
				d.errorf(at(sn, "source"), "run depot on the repository host (pull) or on the source (push)", "%s: a remote source needs a local repository, and repository.host is set: rsync cannot copy between two remote hosts", where)
			}
		}
		if len(s.Items) == 0 {
			if !d.ok(mappingValue(sn, "items")) || d.misspelt(sn, "items") {
				continue // reported by the decoder
			}
			d.errorf(at(sn, "items"), "add at least one item, e.g. {name: files, type: filesystem, paths: [/etc]}", "%s: no items", where)
			continue
		}
		seenItems := map[string]*yaml.Node{}
		for _, it := range s.Items {
			c.validateItem(d, it, where, seenItems)
		}
	}
}

func (c *Config) validateItem(d *decoder, it ItemConfig, set string, seen map[string]*yaml.Node) {
	if !d.ok(it.node) {
		return
	}
	h := it.Header()
	nameNode := mappingValue(it.node, "name")
	switch {
	case h.Name == "":
		d.errorf(it.node, "", "%s: item of type %s: missing key \"name\"", set, h.Type)
		return
	case reservedNames[h.Name]:
		d.errorf(nameNode, "choose another name", "%s: item name %q is reserved for the snapshot's own files", set, h.Name)
	case !validName.MatchString(h.Name):
		d.errorf(nameNode, nameHint, "%s: item name %q is not a valid directory name", set, h.Name)
	case seen[h.Name] != nil:
		d.errorf(nameNode, fmt.Sprintf("first at line %d", seen[h.Name].Line), "%s: item name %q is used twice", set, h.Name)
	}
	if seen[h.Name] == nil {
		seen[h.Name] = nameNode
	}
	for _, fe := range it.Validate() {
		n := it.node
		if v := mappingValue(it.node, fe.Key); v != nil {
			n = v
			if fe.Index >= 0 && v.Kind == yaml.SequenceNode && fe.Index < len(v.Content) {
				n = v.Content[fe.Index]
			}
		}
		d.errorf(n, "", "%s: item %q: %s: %s", set, h.Name, fe.Key, fe.Message)
	}
}
