package backupitems

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/depot-backup/depot/hosts"
	"github.com/depot-backup/depot/rsync"
)

func init() {
	Register(Type{
		Name:    "filesystem",
		Summary: "directory trees, copied by rsync; unchanged files are hard links to the previous snapshot",
		New:     func() Item { return &Filesystem{} },
		// rsync into the .partial sends only what is missing (when there
		// is no base; see Type.Resumable).
		Resumable: true,
	})
}

// Filesystem backs up directory trees with rsync --link-dest. Each path keeps
// its full name inside the item directory (/var/www lands in <item>/var/www),
// so several paths never collide and a restore puts them back where they were.
type Filesystem struct {
	Common        `yaml:",inline"`
	Paths         []string `yaml:"paths"`
	Exclude       []string `yaml:"exclude"`
	Format        string   `yaml:"format"`
	OneFileSystem bool     `yaml:"one_file_system"`
	ACLs          *bool    `yaml:"acls"`
	Xattrs        *bool    `yaml:"xattrs"`
	// AllowShrink lets the file count fall to zero or below half of the
	// base snapshot's (see CheckShrink).
	AllowShrink bool `yaml:"allow_shrink"`
	// HashWhileCopying hashes a first copy's files as rsync sends them
	// (see copyHasher) instead of reading the copy again afterwards. Off
	// by default: on 2 cores it slowed rsync more than it saved.
	HashWhileCopying bool `yaml:"hash_while_copying"`
}

var _ Item = (*Filesystem)(nil)

// Validate implements Item.
func (f *Filesystem) Validate() []FieldError {
	var errs []FieldError
	if len(f.Paths) == 0 {
		errs = append(errs, FieldError{Key: "paths", Index: -1, Message: "at least one path is required"})
	}
	for i, p := range f.Paths {
		if !filepath.IsAbs(p) {
			errs = append(errs, FieldError{Key: "paths", Index: i, Message: fmt.Sprintf("path %q is relative; write it from the root, e.g. /%s", p, p)})
		}
	}
	for i, e := range f.Exclude {
		if e == "" {
			errs = append(errs, FieldError{Key: "exclude", Index: i, Message: "empty pattern"})
		}
	}
	switch f.Format {
	case "", "tree":
	case "archive":
		errs = append(errs, FieldError{Key: "format", Index: -1, Message: "format archive is not available in this version; use tree"})
	default:
		errs = append(errs, FieldError{Key: "format", Index: -1, Message: fmt.Sprintf("unknown format %q; valid: tree", f.Format)})
	}
	return errs
}

// rsyncOptions returns the transfer for env: sources on env.Source, the
// destination on env.Repo, at most one of them remote.
func (f *Filesystem) rsyncOptions(env Env, tree TreeEnv) rsync.Options {
	o := f.transfer(env, tree)
	o.Between(env.Source, env.Repo)
	return o
}

// transfer is rsyncOptions with every path still local to its host. rsync
// itemizes every path when the listing must name them (tree.Remote).
func (f *Filesystem) transfer(env Env, tree TreeEnv) rsync.Options {
	return rsync.Options{
		Sources:       f.Paths,
		Dest:          env.Dir + "/",
		LinkDest:      env.Base,
		Relative:      true,
		HardLinks:     true,
		ACLs:          f.ACLs == nil || *f.ACLs,
		Xattrs:        f.Xattrs == nil || *f.Xattrs,
		NumericIDs:    true,
		OneFileSystem: f.OneFileSystem,
		Sparse:        true,
		Delete:        true,
		Excludes:      f.Exclude,
		ListAll:       tree.Remote,
	}
}

var _ TreeItem = (*Filesystem)(nil)

// Plan implements Item: PlanTree as for a repository on env.Repo with no
// base file list.
func (f *Filesystem) Plan(ctx context.Context, env Env) Plan {
	return f.PlanTree(ctx, env, TreeEnv{Remote: isRemote(env.Repo)})
}

// Backup implements Item: BackupTree as for a repository on env.Repo with no
// base file list, the listing dropped.
func (f *Filesystem) Backup(ctx context.Context, env Env) (Result, error) {
	res, _, err := f.BackupTree(ctx, env, TreeEnv{Remote: isRemote(env.Repo)})
	return res, err
}

func isRemote(h hosts.Host) bool {
	_, remote := h.(hosts.Remote)
	return remote
}

// PlanTree implements TreeItem.
func (f *Filesystem) PlanTree(ctx context.Context, env Env, tree TreeEnv) Plan {
	p := Plan{Sources: f.Paths}
	// As Backup does: a symlinked source path is copied as what it points to.
	if followed, _, err := f.followLinks(ctx, env.Source, map[string]string{}); err == nil {
		f = followed
	}
	_, _, err := f.quickReady(env, tree)
	if err != nil {
		why := strings.TrimPrefix(err.Error(), errNoQuickWalk.Error()+": ")
		sparse, refusal := f.planFirstCopy(ctx, env, tree)
		if refusal == "" {
			p.Method = copyMethod
			return p
		}
		p.Method = "rsync over the whole tree: " + why
		if env.Base == "" {
			p.Method += "; not depot's copier: " + refusal
		}
		o := f.rsyncOptions(env, tree)
		o.Sparse = sparse
		if f.hashesWhileCopying(env, tree) {
			o.Sent = func(string, int64) {} // as the run, which hashes what rsync says it sent: the same argv
		}
		p.Commands = [][]string{rsyncArgv(o)}
		return p
	}
	p.Method = "quick: walk the source against the base's file list, hard-link what is unchanged; " +
		"then rsync, each run only if the walk finds paths for it: what it cannot prove unchanged (--checksum), then what changed or is new"
	for _, careful := range []bool{true, false} {
		o := f.quickTransfer(env, tree, careful)
		o.Between(env.Source, env.Repo)
		p.Commands = append(p.Commands, rsyncArgv(o))
	}
	return p
}

// rsyncArgv is the command rsync.RunBetween starts for o, once o.Between
// has placed its ends.
func rsyncArgv(o rsync.Options) []string { return append([]string{"rsync"}, o.Args()...) }

// BackupTree implements TreeItem.
func (f *Filesystem) BackupTree(ctx context.Context, env Env, tree TreeEnv) (Result, TreeListing, error) {
	started, err := f.checkSources(ctx, env.Source)
	if err != nil {
		return Result{}, TreeListing{}, err
	}
	meta := map[string]string{metaWalkStarted: strconv.FormatInt(started, 10), metaWalkKey: f.walkKey(env)}
	f, linkWarnings, err := f.followLinks(ctx, env.Source, meta)
	if err != nil {
		return Result{}, TreeListing{}, err
	}
	q, err := f.walk(ctx, env, tree)
	var out Result
	var list TreeListing
	if err == nil {
		out, list, err = f.quick(ctx, env, tree, q)
	}
	if errors.Is(err, errNoQuickWalk) || errors.Is(err, ErrNoTreeLink) {
		copied := false
		if q != nil {
			copied, out, list, err = f.firstCopy(ctx, env, tree, q, err)
		}
		if !copied {
			env.Log.Info("copying with rsync's own walk", "why", err)
			out, list, err = f.rsyncWalk(ctx, env, tree, q == nil || needsSparse(env, q.spill.sparse))
		}
		if q != nil {
			// The walk before the copy tells the next run what is
			// unchanged (see treequick.go); paths it missed stay unknown.
			list.Source = q.spill.source()
			closeHashes := list.Close
			list.Close = func() {
				q.spill.close()
				if closeHashes != nil {
					closeHashes()
				}
			}
		}
	}
	if err != nil && q != nil {
		q.spill.close()
	}
	out.Meta = meta
	out.Warnings = append(linkWarnings, out.Warnings...)
	return out, list, err
}

// rsyncWalk copies the item with one rsync --link-dest run over the whole
// tree, with -S when sparse says so (see needsSparse).
//
// With hash_while_copying, when Dir is on this machine, the files rsync
// sends are hashed as they arrive (see copyHasher), for the file list.
// When Dir is on this machine, the copy is written out to the disk from the
// moment rsync ends (see writeBehind); the listing's Close waits for that.
func (f *Filesystem) rsyncWalk(ctx context.Context, env Env, tree TreeEnv, sparse bool) (Result, TreeListing, error) {
	o := f.transfer(env, tree)
	o.Sparse = sparse
	itemized := newItemizedPaths() // what the listing names, sorted on disk
	o.Itemized = itemized.add
	var hasher *copyHasher
	if f.hashesWhileCopying(env, tree) {
		var err error
		if hasher, err = newCopyHasher(env.Dir); err != nil {
			env.Log.Info("not hashing while copying", "why", err)
		} else {
			o.Sent = hasher.sent
		}
	}
	began := time.Now()
	res, err := rsync.RunBetween(ctx, env.Source, env.Repo, o)
	env.Log.Info("rsync done", "seconds", time.Since(began).Seconds(), "sparse", o.Sparse)
	var hashes *CopyHashes
	if hasher != nil {
		copied := time.Since(began)
		var herr error
		hashes, herr = hasher.finish()
		if herr != nil {
			env.Log.Info("hashing while copying failed; the file list reads every file", "why", herr)
		} else if err == nil {
			env.Log.Info("hashed while copying", "files_read", hasher.hashed.Load(), "not_read", hasher.dropped.Load(),
				"rsync_ms", copied.Milliseconds(), "hash_wait_ms", (time.Since(began) - copied).Milliseconds())
		}
	}
	if err != nil {
		if hashes != nil {
			hashes.close()
		}
		itemized.close()
		return Result{}, TreeListing{}, err
	}
	out := Result{
		Warnings:         res.Warnings,
		FilesTransferred: res.Stats.FilesTransferred,
		BytesTransferred: res.Stats.BytesTransferred,
	}
	var list TreeListing
	if tree.Remote {
		// With --relative, /var/www lands in Dir/var/www: the local tree
		// that matches Dir is the source's root.
		list = TreeListing{Root: "/", Paths: itemized.listing}
	}
	list.Close = itemized.close
	if hashes != nil {
		list.Hashed, list.Close = hashes.Lookup(), func() { hashes.close(); itemized.close() }
	}
	if !tree.Remote && !isRemote(env.Repo) {
		// The copy goes to the disk while the file list reads it.
		wait, closeRest := writeBehind(env.Dir), list.Close
		list.Close = func() {
			wait()
			closeRest()
		}
	}
	return out, list, nil
}

// needsSparse says whether a copy with rsync's own walk keeps rsync's -S,
// after a walk of the source that found sparse files that may have holes:
// unless that walk, on this machine, saw none. -S keeps holes, but rsync
// then scans every byte it writes for runs of zeros (13% of its CPU on a
// tree without holes). A file given holes between the walk and its copy is
// then stored whole: the same data, more space.
func needsSparse(env Env, sparse int) bool {
	return isRemote(env.Source) || sparse > 0
}

// planFirstCopy is what a run decides after its walk, from a walk of its
// own: whether rsync keeps -S (see needsSparse), and why the copier may not
// copy (see copierRefusal), "" when it may. A source no walk can see (see
// walkable) keeps rsync and -S, as in the run.
func (f *Filesystem) planFirstCopy(ctx context.Context, env Env, tree TreeEnv) (sparse bool, refusal string) {
	if isRemote(env.Source) {
		return true, f.copierRefusal(env, tree, f.planDir(env, tree), 1, 0)
	}
	nSparse, special := 0, 0
	_, err := f.walkSourceEach(ctx, env, func(e sourceEntry) error {
		if e.mayBeSparse() {
			nSparse++
			return errSparseSeen
		}
		if e.isSpecial() {
			special++
		}
		return nil
	})
	if err != nil && !errors.Is(err, errSparseSeen) {
		return true, "rsync's own walk: " + strings.TrimPrefix(err.Error(), errNoQuickWalk.Error()+": ")
	}
	return needsSparse(env, nSparse), f.copierRefusal(env, tree, f.planDir(env, tree), nSparse, special)
}

// planDir is the item directory a run will copy into: an interrupted run's
// that it resumes, or its own new one.
func (f *Filesystem) planDir(env Env, tree TreeEnv) string {
	if tree.Resumes != "" {
		return tree.Resumes
	}
	return env.Dir
}

// firstCopy makes the copy with depot's copier, when copierRefusal allows
// it after the walk q, instead of the quick path, which could not copy
// (why); copied is false when it did not copy, and rsync is to: err then
// says why.
func (f *Filesystem) firstCopy(ctx context.Context, env Env, tree TreeEnv, q *quickWalk, why error) (copied bool, out Result, list TreeListing, err error) {
	if refusal := f.copierRefusal(env, tree, env.Dir, q.spill.sparse, q.spill.special); refusal != "" {
		if env.Base == "" {
			env.Log.Info("not depot's copier", "why", refusal)
		}
		return false, Result{}, TreeListing{}, why
	}
	env.Log.Info("copying with depot's copier", "why", why)
	out, list, err = f.copyTree(ctx, env, q)
	if errors.Is(err, errCopierCannot) {
		env.Log.Info("depot's copier stopped; rsync copies instead", "why", err)
		return false, Result{}, TreeListing{}, err
	}
	return true, out, list, err
}

// errSparseSeen ends planFirstCopy's walk at the first file that may have holes.
var errSparseSeen = errors.New("a file may have holes")

// hashesWhileCopying says whether a copy with rsync's own walk hashes the
// files rsync sends as it sends them: when the item asks for it and the copy
// lands on this machine.
func (f *Filesystem) hashesWhileCopying(env Env, tree TreeEnv) bool {
	return f.HashWhileCopying && !tree.Remote && !isRemote(env.Repo)
}

// Check implements Checker: every path exists and is readable on the source.
func (f *Filesystem) Check(ctx context.Context, env Env) []Check {
	script := `for p; do if [ ! -e "$p" ]; then echo "missing $p"; elif [ ! -r "$p" ]; then echo "unreadable $p"; else echo "ok $p"; fi; done`
	var out bytes.Buffer
	argv := append([]string{"sh", "-c", script, "sh"}, f.Paths...)
	if err := env.Source.Run(ctx, hosts.Command{Argv: argv, Stdout: &out}); err != nil {
		return []Check{{What: "source paths on " + env.Source.Name(), Err: err}}
	}
	var checks []Check
	for _, line := range strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n") {
		state, p, _ := strings.Cut(line, " ")
		c := Check{What: fmt.Sprintf("source %s on %s", p, env.Source.Name()), Detail: "readable"}
		switch state {
		case "missing":
			c.Err = fmt.Errorf("does not exist")
		case "unreadable":
			c.Err = fmt.Errorf("not readable by this user")
		}
		checks = append(checks, c)
	}
	return checks
}

// checkSources fails on a source path that does not exist, so a typo or an
// unmounted disk never makes an empty snapshot. It returns the source host's
// clock (unix seconds) from before the copy starts.
func (f *Filesystem) checkSources(ctx context.Context, h hosts.Host) (int64, error) {
	script := `date +%s || exit 1; for p; do if [ ! -e "$p" ] && [ ! -L "$p" ]; then printf '%s\n' "$p"; fi; done`
	var out bytes.Buffer
	argv := append([]string{"sh", "-c", script, "sh"}, f.Paths...)
	if err := h.Run(ctx, hosts.Command{Argv: argv, Stdout: &out}); err != nil {
		return 0, fmt.Errorf("check source paths on %s: %w", h.Name(), err)
	}
	clock, missing, _ := strings.Cut(out.String(), "\n")
	started, err := strconv.ParseInt(clock, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("check source paths on %s: date +%%s printed %q", h.Name(), clock)
	}
	if missing, _, _ = strings.Cut(missing, "\n"); missing != "" {
		where := ""
		if _, ok := h.(hosts.Remote); ok {
			where = " on " + h.Name()
		}
		return 0, fmt.Errorf("source path %s does not exist%s", missing, where)
	}
	return started, nil
}
