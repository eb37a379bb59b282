// Package backupitems holds the kinds of things depot backs up. Each type lives
// in one file and registers itself in init(); the config loader looks a type up
// by the item's `type:`, decodes the item strictly into the value New returns,
// and calls Validate.
package backupitems

import (
	"context"
	"fmt"
	"io"
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
	// Plan describes what Backup would do in env, without writing
	// anything: it may ask the source host what Backup would find there
	// (a dump tool, the databases, the youngest revision), so that it names
	// the commands Backup will start. env.Out is nil.
	Plan(ctx context.Context, env Env) Plan
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
	Source hosts.Host // the host that has the data; dumps run here
	Repo   hosts.Host // the host the repository is on; Dir and Base are paths there
	Dir    string     // the item's directory in the snapshot being built
	Base   string     // the item's directory in the base snapshot, or "" for none
	// Out writes files into Dir, wherever Dir is, and stores a file that is
	// identical to the base snapshot's file of the same name as a hard link.
	Out Output
	// PrevMeta is what the item recorded in the base snapshot
	// (Result.Meta), or nil.
	PrevMeta map[string]string
	Log      *slog.Logger
}

// Output writes the files of an item into the snapshot being built.
type Output interface {
	// Create starts the file name (slash-separated, relative to the item's
	// directory). Its data goes to a temporary file until Commit.
	Create(ctx context.Context, name string) (OutputFile, error)
	// LinkBase makes name a hard link to the base snapshot's file of the
	// same name, for data known to be unchanged (an svn range dumped earlier).
	LinkBase(ctx context.Context, name string) error
	// BaseFiles lists the base snapshot's files of this item, sorted;
	// none when there is no base.
	BaseFiles(ctx context.Context) ([]string, error)
}

// Output names are plain file names: an item's output is one flat directory.

// OutputFile is a file being written. Exactly one of Commit or Abort must be
// called; after either, further calls do nothing.
type OutputFile interface {
	io.Writer
	// Commit makes the file final under its name. If the base snapshot has
	// a file of that name with the same content, the new file becomes a hard
	// link to it, so unchanged data is stored once.
	Commit() (FileInfo, error)
	// Abort discards the temporary file.
	Abort()
}

// FileInfo describes a committed file.
type FileInfo struct {
	Size   int64
	SHA256 string
	Linked bool // a hard link to the base's identical file
}

// Plan is what an item will read and how.
type Plan struct {
	Sources []string
	Method  string // how, when the type has more than one way, and why; else ""
	// Commands are the commands Backup will start to copy or dump the data,
	// in order, with secrets shown as ***. On the quick path, each rsync
	// run listed starts only if the walk finds paths for it.
	Commands [][]string
}

// Secret stands for a secret in a planned command.
const Secret = "***"

// Result is the outcome of a successful Backup.
type Result struct {
	Warnings         []string
	FilesTransferred int64
	BytesTransferred int64
	// Meta is kept in the manifest and handed to the next run as
	// Env.PrevMeta, e.g. the youngest revision an svn item dumped.
	Meta map[string]string
}

// Checker is an item type that can test, without backing anything up, that
// a run will work: sources readable, services reachable, tools installed.
type Checker interface {
	Check(ctx context.Context, env Env) []Check
}

// Check is the outcome of one check: What was checked, and Err if it failed
// or Detail if it passed.
type Check struct {
	What   string
	Detail string
	Err    error
}

// Restorer is an item type that can load its data back into a service, not
// only copy its files out (which depot does for every type).
type Restorer interface {
	Restore(ctx context.Context, env RestoreEnv) error
}

// TargetError is a Restorer's refusal of the target it was given (--to-svn
// for a database, no --to-database for one): the command line's mistake, not
// a failed restore.
type TargetError struct{ Msg string }

func (e *TargetError) Error() string { return e.Msg }

// RestoreEnv is where a restore reads from and writes to.
type RestoreEnv struct {
	Source hosts.Host // the host the set backs up, where the service runs
	In     Input      // the item's files in the chosen snapshot
	Meta   map[string]string
	// Exactly one target is set: Database, Server or SVNPath.
	Database string // --to-database: load a dump into this new database
	// SourceDatabase (--database) picks the dump to load when the item
	// holds several databases.
	SourceDatabase string
	// Server (--to-server) loads the globals (users, roles) and then every
	// database under its own name into a server that holds none of them.
	Server bool
	// RestoreHost and RestorePort (--restore-host, --restore-port) name
	// the server to load into, over the item's restore_host and host.
	RestoreHost string
	RestorePort int
	SVNPath     string // --to-svn: create a repository here and load every range
	Force       bool   // write into a database that exists and is not empty
	Log         *slog.Logger
}

// Input reads an item's files from a snapshot.
type Input interface {
	// Files lists the item's regular files (slash-separated, relative to the
	// item's directory), sorted.
	Files(ctx context.Context) ([]string, error)
	// Open streams one file; the caller closes it.
	Open(ctx context.Context, name string) (io.ReadCloser, error)
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
	// Resumable types reuse what an interrupted attempt left in the item's
	// directory (rsync sends only what is missing) when the item has no
	// base snapshot; the others, and every item with a base, start each
	// attempt from an empty directory.
	Resumable bool
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
