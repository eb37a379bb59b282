package backupitems

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/depot-backup/depot/hosts"
)

func init() {
	Register(Type{
		Name:    "svn",
		Summary: "Subversion repositories, as a chain of incremental svnadmin dumps: each run dumps only the new revisions",
		New:     func() Item { return &SVN{} },
	})
}

// SVN backs up a Subversion repository as range files
// rFROM-TO.svndump.zst, each an `svnadmin dump --incremental` of revisions
// FROM to TO. A run dumps only the revisions added since the base snapshot
// and hard-links the base's ranges, so every snapshot holds the whole chain
// from revision 0 and deleting one never breaks another.
type SVN struct {
	Common     `yaml:",inline"`
	Repository string `yaml:"repository"`
}

var (
	_ Item     = (*SVN)(nil)
	_ Restorer = (*SVN)(nil)
)

// Result.Meta keys: the youngest revision dumped and the repository's UUID.
const (
	svnMetaYoungest = "youngest"
	svnMetaUUID     = "uuid"
)

// Validate implements Item.
func (s *SVN) Validate() []FieldError {
	switch {
	case s.Repository == "":
		return []FieldError{{Key: "repository", Index: -1, Message: "required: the repository's path on the source host, e.g. /var/svn/code"}}
	case !filepath.IsAbs(s.Repository):
		return []FieldError{{Key: "repository", Index: -1, Message: fmt.Sprintf("path %q is relative; write it from the root", s.Repository)}}
	}
	return nil
}

// Plan implements Item.
func (s *SVN) Plan(ctx context.Context, env Env) Plan {
	p := Plan{Sources: []string{s.Repository}}
	from, to := 0, "HEAD"
	base, err := strconv.Atoi(env.PrevMeta[svnMetaYoungest])
	hasBase := err == nil && env.Base != ""
	if hasBase {
		from = base + 1
	}
	uuid, err := s.look(ctx, env.Source, "uuid")
	if err == nil {
		var y string
		if y, err = s.look(ctx, env.Source, "youngest"); err == nil {
			to = y
		}
	}
	youngest, yerr := strconv.Atoi(to)
	switch {
	case err != nil:
		p.Method = "the run will fail unless this is fixed: " + err.Error()
	case yerr != nil:
		p.Method = fmt.Sprintf("svnlook youngest %s: unexpected output %q", s.Repository, to)
	case hasBase && env.PrevMeta[svnMetaUUID] != uuid:
		from, p.Method = 0, "another repository than the base's: every revision afresh"
	case hasBase && base > youngest:
		from, p.Method = 0, "older than the base's revision: every revision afresh"
	case hasBase:
		p.Method = fmt.Sprintf("link the base's dumps of revisions 0 to %d, dump the new ones", base)
	}
	if yerr == nil && from > youngest {
		p.Method = fmt.Sprintf("no new revisions since the base's %d: link its dumps", base)
		return p
	}
	p.Commands = [][]string{s.dumpArgv(strconv.Itoa(from), to)}
	return p
}

func (s *SVN) dumpArgv(from, to string) []string {
	return []string{"svnadmin", "dump", "--incremental", "--quiet", "--revision=" + from + ":" + to, "--", s.Repository}
}

// svnRange is one range file.
type svnRange struct {
	name     string
	from, to int
}

var svnRangeName = regexp.MustCompile(`^r(\d+)-(\d+)\.svndump\.zst$`)

func svnRangeFile(from, to int) string { return fmt.Sprintf("r%06d-%06d.svndump.zst", from, to) }

// svnChain returns the range files among names in revision order, and
// whether they form an unbroken chain from revision 0 up to the last one.
func svnChain(names []string) ([]svnRange, bool) {
	var rs []svnRange
	for _, n := range names {
		m := svnRangeName.FindStringSubmatch(n)
		if m == nil {
			continue
		}
		from, err1 := strconv.Atoi(m[1])
		to, err2 := strconv.Atoi(m[2])
		if err1 == nil && err2 == nil && from <= to {
			rs = append(rs, svnRange{n, from, to})
		}
	}
	sort.Slice(rs, func(i, j int) bool { return rs[i].from < rs[j].from })
	next := 0
	for _, r := range rs {
		if r.from != next {
			return rs, false
		}
		next = r.to + 1
	}
	return rs, len(rs) > 0
}

// look runs svnlook SUBCOMMAND on the repository and returns its one line.
func (s *SVN) look(ctx context.Context, h hosts.Host, sub string) (string, error) {
	out, err := output(ctx, h, "svnlook", sub, "--", s.Repository)
	if err != nil {
		return "", fmt.Errorf("svnlook %s %s: %w", sub, s.Repository, err)
	}
	return strings.TrimSpace(out), nil
}

// Backup implements Item.
func (s *SVN) Backup(ctx context.Context, env Env) (Result, error) {
	uuid, err := s.look(ctx, env.Source, "uuid")
	if err != nil {
		return Result{}, err
	}
	youngestOut, err := s.look(ctx, env.Source, "youngest")
	if err != nil {
		return Result{}, err
	}
	youngest, err := strconv.Atoi(youngestOut)
	if err != nil {
		return Result{}, fmt.Errorf("svnlook youngest %s: unexpected output %q", s.Repository, youngestOut)
	}
	res := Result{Meta: map[string]string{svnMetaYoungest: strconv.Itoa(youngest), svnMetaUUID: uuid}}

	// The base's chain is reused when it is whole and of this repository at
	// a revision it still has; else the chain starts afresh at revision 0.
	from := 0
	var chain []svnRange
	if base, err := strconv.Atoi(env.PrevMeta[svnMetaYoungest]); err == nil && env.Base != "" {
		names, err := env.Out.BaseFiles(ctx)
		if err != nil {
			return Result{}, err
		}
		rs, whole := svnChain(names)
		switch {
		case env.PrevMeta[svnMetaUUID] != uuid:
			res.Warnings = append(res.Warnings, fmt.Sprintf("%s is another repository than the base's (UUID %s, was %s): dumping every revision afresh", s.Repository, uuid, env.PrevMeta[svnMetaUUID]))
		case base > youngest:
			res.Warnings = append(res.Warnings, fmt.Sprintf("%s is at revision %d, older than the base's %d: dumping every revision afresh", s.Repository, youngest, base))
		case !whole || rs[len(rs)-1].to != base:
			res.Warnings = append(res.Warnings, "the base snapshot's chain of dumps is incomplete: dumping every revision afresh")
		default:
			chain, from = rs, base+1
		}
	}
	for _, r := range chain {
		if err := env.Out.LinkBase(ctx, r.name); err != nil {
			return Result{}, fmt.Errorf("link %s: %w", r.name, err)
		}
	}
	if from > youngest {
		return res, nil // no new revisions
	}
	if _, err := findTool(ctx, env.Source, "svnadmin"); err != nil {
		return Result{}, err
	}
	name := svnRangeFile(from, youngest)
	argv := s.dumpArgv(strconv.Itoa(from), strconv.Itoa(youngest))
	info, err := storeStream(ctx, env.Out, name, true, func(stdout io.Writer) error {
		return env.Source.Run(ctx, hosts.Command{Argv: argv, Stdout: stdout})
	})
	if err != nil {
		return Result{}, fmt.Errorf("svnadmin dump -r %d:%d %s: %w", from, youngest, s.Repository, err)
	}
	res.tally(info)
	return res, nil
}

// Restore implements Restorer: it creates a repository at env.SVNPath on the
// source host and loads every range, in order.
func (s *SVN) Restore(ctx context.Context, env RestoreEnv) error {
	if env.SVNPath == "" {
		return &TargetError{Msg: "an svn item restores with --to-svn PATH or --to DIR"}
	}
	if !filepath.IsAbs(env.SVNPath) {
		return &TargetError{Msg: fmt.Sprintf("--to-svn %s: write the path from the root", env.SVNPath)}
	}
	names, err := env.In.Files(ctx)
	if err != nil {
		return err
	}
	chain, whole := svnChain(names)
	if !whole {
		return fmt.Errorf("the snapshot's dumps do not form a chain from revision 0 (%d range files)", len(chain))
	}
	if err := env.Source.Run(ctx, hosts.Command{Argv: []string{"svnadmin", "create", "--", env.SVNPath}}); err != nil {
		return fmt.Errorf("svnadmin create %s: %w", env.SVNPath, err)
	}
	for _, r := range chain {
		env.Log.Info("loading", "range", r.name, "into", env.SVNPath)
		err := loadDump(ctx, env.In, r.name, func(stdin io.Reader) error {
			return env.Source.Run(ctx, hosts.Command{Argv: []string{"svnadmin", "load", "--quiet", "--", env.SVNPath}, Stdin: stdin})
		})
		if err != nil {
			return fmt.Errorf("svnadmin load %s into %s: %w", r.name, env.SVNPath, err)
		}
	}
	return nil
}
