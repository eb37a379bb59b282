package director

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"strconv"

	"github.com/depot-backup/depot/repository"
)

// A mirror on another host is verified from here: one GNU find per item
// lists its tree (type, inode, size, symlink target), and each regular
// file's content is streamed over the SSH connection and hashed here, each
// inode once.

// remoteFile is one path of an item's tree on a host.
type remoteFile struct {
	kind   byte   // find's %y: f, d, l, ...
	inode  string // device:inode
	size   int64
	target string // a symlink's
}

// listTreeScript prints, for every path under $1, five NUL-terminated fields.
const listTreeScript = `cd "$1" && find . -mindepth 1 -printf '%y\0%D:%i\0%s\0%l\0%P\0'`

func listRemoteTree(ctx context.Context, fsys *repository.HostFS, dir string) (map[string]remoteFile, error) {
	out, err := fsys.Script(ctx, listTreeScript, dir)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", dir, err)
	}
	fields := bytes.Split(out, []byte{0})
	if len(fields) > 0 && len(fields[len(fields)-1]) == 0 {
		fields = fields[:len(fields)-1]
	}
	if len(fields)%5 != 0 {
		return nil, fmt.Errorf("list %s: find printed %d fields, not records of 5", dir, len(fields))
	}
	tree := make(map[string]remoteFile, len(fields)/5)
	for i := 0; i < len(fields); i += 5 {
		size, err := strconv.ParseInt(string(fields[i+2]), 10, 64)
		if err != nil || len(fields[i]) != 1 {
			return nil, fmt.Errorf("list %s: bad record for %q", dir, fields[i+4])
		}
		tree[string(fields[i+4])] = remoteFile{kind: fields[i][0], inode: string(fields[i+1]), size: size, target: string(fields[i+3])}
	}
	return tree, nil
}

// verifySnapshotOnHost is verifySnapshot for a snapshot on another host.
func verifySnapshotOnHost(ctx context.Context, repo repository.Repo, fsys *repository.HostFS, s repository.Snapshot, cache *hashCache) (int, []string) {
	if problem := incomplete(ctx, repo, s); problem != "" {
		return 0, []string{problem}
	}
	m, err := repo.ReadManifest(ctx, s.Path)
	if err != nil {
		return 0, []string{err.Error()}
	}
	var problems []string
	report := func(format string, args ...any) {
		if len(problems) < maxProblems {
			problems = append(problems, fmt.Sprintf(format, args...))
		}
	}
	if entries, err := fsys.ReadDir(ctx, s.Path); err == nil {
		names := make([]string, len(entries))
		for i, e := range entries {
			names[i] = e.Name
		}
		for _, extra := range unlisted(names, m) {
			report("%s: in the snapshot but not in its manifest", extra)
		}
	}
	files := 0
	for _, it := range m.Items {
		if it.Status == repository.StatusFailed {
			continue // no content; its directory, if any, was reported above
		}
		if it.FileList == "" {
			report("item %s: no file list", it.Name)
			continue
		}
		data, err := fsys.ReadFile(ctx, path.Join(s.Path, it.FileList))
		if err != nil {
			report("item %s: %v", it.Name, err)
			continue
		}
		if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != it.FileListSHA256 {
			report("item %s: file list %s does not match its hash in the manifest", it.Name, it.FileList)
			continue
		}
		dir := path.Join(s.Path, it.Name)
		paths, err := listRemoteTree(ctx, fsys, dir)
		if err != nil {
			report("item %s: %v", it.Name, err)
			continue
		}
		tree := remoteTree{fsys: fsys, dir: dir, files: paths}
		n, err := tree.verify(ctx, data, cache, func(msg string) { report("item %s: %s", it.Name, msg) })
		if err != nil {
			report("item %s: %v", it.Name, err)
		}
		files += n
	}
	return files, problems
}

// remoteTree is an item's directory on another host, as find listed it.
type remoteTree struct {
	fsys  *repository.HostFS
	dir   string
	files map[string]remoteFile // by path under dir
}

// verify checks the tree against its encoded file list and returns the
// number of regular files checked.
func (tree remoteTree) verify(ctx context.Context, list []byte, cache *hashCache, report func(string)) (int, error) {
	r, err := repository.NewFileListReader(bytes.NewReader(list))
	if err != nil {
		return 0, err
	}
	defer r.Close()
	files := 0
	listed := map[string]bool{}
	for ctx.Err() == nil {
		e, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return files, err
		}
		listed[e.Path] = true
		if e.IsRegular() {
			files++
		}
		if msg := tree.check(ctx, e, cache); msg != "" {
			cache.noteBad(path.Join(tree.dir, e.Path), e)
			report(e.Path + ": " + msg)
		}
	}
	var extra []string
	for p := range tree.files {
		if !listed[p] {
			extra = append(extra, p)
		}
	}
	sort.Strings(extra)
	for _, p := range extra {
		report(p + ": on disk but not in the file list")
	}
	return files, ctx.Err()
}

// check compares one path with its file list entry; "" means it matches.
func (tree remoteTree) check(ctx context.Context, e repository.Entry, cache *hashCache) string {
	fsys, dir := tree.fsys, tree.dir
	f, ok := tree.files[e.Path]
	switch {
	case !ok:
		return "missing"
	case e.IsRegular() && f.kind != 'f':
		return "not a regular file"
	case e.IsRegular() && f.size != e.Size:
		return fmt.Sprintf("size %d, the list says %d", f.size, e.Size)
	case e.IsSymlink() && f.kind != 'l':
		return "not a symlink"
	case e.IsDir() && f.kind != 'd':
		return "not a directory"
	case e.IsSymlink():
		if sum := sha256.Sum256([]byte(f.target)); hex.EncodeToString(sum[:]) != e.Hash {
			return "symlink target differs"
		}
		return ""
	case !e.IsRegular():
		return ""
	}
	got, err := cache.get(fsys.Host.Name()+" "+f.inode, func() (string, error) {
		rc, err := fsys.Open(ctx, path.Join(dir, e.Path))
		if err != nil {
			return "", err
		}
		defer rc.Close()
		h := sha256.New()
		if _, err := io.Copy(h, rc); err != nil {
			return "", err
		}
		return hex.EncodeToString(h.Sum(nil)), rc.Close()
	})
	switch {
	case err != nil:
		return err.Error()
	case got != e.Hash:
		return "content differs from the hash in the file list"
	}
	return ""
}
