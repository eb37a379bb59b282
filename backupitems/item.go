// Package backupitems holds the kinds of things depot backs up. Each type lives
// in one file and registers itself in init(); the config loader looks a type up
// by the item's `type:`, decodes the item strictly into the value New returns,
// and calls Validate.
package backupitems

import (
	"context"
	"fmt"
	"log/slog"
	"sort"

	"github.com/depot-backup/depot/hosts"
)

// Item is one configured item of a backup set.
type Item interface {
	// Header returns the fields every item has.
	Header() *Common
	// Validate checks the decoded config; errors name the offending key.
	Validate() []FieldError
	// Plan describes what Backup would do in env, without doing it.
	Plan(env Env) Plan
	// Backup writes the item's data into env.Dir. The directory exists and
	// may hold the files of an interrupted earlier attempt, which Backup
	// reuses or replaces. A returned error fails the set; warnings do not.
	Backup(ctx context.Context, env Env) (Result, error)
}

// Common are the keys every item has.
type Common struct {
	Name string `yaml:"name"`
	Type string `yaml:"type"`
}

// Header implements Item for types that embed Common.
func (c *Common) Header() *Common { return c }

// Env is where an item runs: the same for every mode, so an item does not care
// whether depot runs on the source or on the repository host.
type Env struct {
	Source hosts.Host // the host that has the data
	Dir    string     // the item's directory in the snapshot being built
	Base   string     // the item's directory in the base snapshot, or "" for none
	Log    *slog.Logger
}

// Plan is what an item will read and how.
type Plan struct {
	Sources []string
	Command []string // the main command it runs, for the reader of `depot plan`
}

// Result is the outcome of a successful Backup.
type Result struct {
	Warnings         []string
	FilesTransferred int64
	BytesTransferred int64
}

// FieldError is a config error in one key of an item.
type FieldError struct {
	Key     string // the YAML key, e.g. "paths"; "" for the item as a whole
	Index   int    // the element of a list key, or -1
	Message string
}

func (e FieldError) Error() string { return e.Key + ": " + e.Message }

// Type is a registered item type.
type Type struct {
	Name    string
	Summary string      // one line for help texts
	New     func() Item // a zero value to decode a config into
}

var registry = map[string]Type{}

// Register adds an item type. It panics on an empty or duplicate name: both are
// programming errors caught by any test run.
func Register(t Type) {
	if t.Name == "" || t.New == nil {
		panic("backupitems: Register needs a name and a constructor")
	}
	if _, dup := registry[t.Name]; dup {
		panic(fmt.Sprintf("backupitems: type %q registered twice", t.Name))
	}
	registry[t.Name] = t
}

// Lookup returns the type registered under name.
func Lookup(name string) (Type, bool) {
	t, ok := registry[name]
	return t, ok
}

// Types returns the registered types, sorted by name.
func Types() []Type {
	out := make([]Type, 0, len(registry))
	for _, t := range registry {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
