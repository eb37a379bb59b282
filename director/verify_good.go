package director

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/depot-backup/depot/repository"
)

// badFile is a file that failed verification, with what its list says.
type badFile struct {
	path  string // in the repository, on its host
	entry repository.Entry
}

// maxBadFiles bounds the files a verification looks for good copies of.
const maxBadFiles = 100

// noteBad records a file that failed, for goodCopies.
func (c *hashCache) noteBad(p string, e repository.Entry) {
	if !e.IsRegular() || e.Hash == "" {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.bad) < maxBadFiles {
		c.bad = append(c.bad, badFile{path: p, entry: e})
	}
}

// forgetBad drops the failed files below dir (a snapshot deleted while it
// was verified).
func (c *hashCache) forgetBad(dir string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.bad = slices.DeleteFunc(c.bad, func(b badFile) bool { return strings.HasPrefix(b.path, dir+"/") })
}

// copyRoot is a repository, or a mirror, searched for good copies.
type copyRoot struct {
	name string // "" for the repository, else "mirror NAME: "
	repo repository.Repo
}

// goodCopies prints, for each file that failed, the snapshots of the
// repository and of its mirrors (on this machine or reached over SSH) that
// hold the same path with the content its list records (another inode,
// read and hashed now): where to restore it from.
func (d *Director) goodCopies(ctx context.Context, repo repository.Repo, cache *hashCache) {
	if len(cache.bad) == 0 {
		return
	}
	roots := []copyRoot{{"", repo}}
	for _, m := range d.Config.Mirrors {
		addr, dir, err := ParseTarget(m.Target)
		if err != nil || m.IsRestic() {
			continue
		}
		r := repository.Repo{Root: dir}
		if addr != "" {
			fsys := repository.NewHostFS(d.hosts.get(addr))
			defer fsys.Close()
			r.FS = fsys
		}
		roots = append(roots, copyRoot{"mirror " + m.Name + ": ", r})
	}
	fmt.Fprintln(d.Out, "good copies of the files that failed (same path, same SHA-256):")
	for _, b := range cache.bad {
		rel := strings.TrimPrefix(filepath.ToSlash(b.path), strings.TrimSuffix(filepath.ToSlash(repo.Root), "/")+"/")
		parts := strings.SplitN(rel, "/", 5)
		if rel == b.path || len(parts) < 5 {
			continue
		}
		section, set, stamp, item, inItem := parts[0], parts[1], parts[2], parts[3], parts[4]
		badID, _, _ := probeFile(ctx, repo, b.path)
		var found, unreachable []string
		for _, r := range roots {
			snaps, err := r.repo.Snapshots(ctx, set)
			if err != nil {
				if r.name != "" {
					unreachable = append(unreachable, strings.TrimSuffix(r.name, ": "))
				}
				continue
			}
			for i := len(snaps) - 1; i >= 0 && len(found) < 3; i-- {
				s := snaps[i]
				if !s.Complete || r.name == "" && s.Section == section && s.Stamp == stamp {
					continue
				}
				p := path.Join(s.Path, item, inItem)
				id, size, ok := probeFile(ctx, r.repo, p)
				if !ok || size != b.entry.Size || id == badID {
					continue // not a file of its size, or the same inode: the same damage
				}
				if h, err := hashCopy(ctx, r.repo, p, id, b.entry, cache); err == nil && h == b.entry.Hash {
					found = append(found, r.name+s.Name())
				}
			}
		}
		where := "none found"
		if len(found) > 0 {
			where = strings.Join(found, ", ")
		}
		if len(unreachable) > 0 {
			where += " (not searched, unreachable: " + strings.Join(unreachable, ", ") + ")"
		}
		fmt.Fprintf(d.Out, "  %s/%s/%s/%s/%s: %s\n", section, set, stamp, item, inItem, where)
	}
}

// probeFileScript prints the type, device:inode and size of $1.
const probeFileScript = `find "$1" -maxdepth 0 -printf '%y\0%D:%i\0%s\0'`

// probeFile returns the identity (host and inode) and size of the regular
// file at p in r, or false when there is none.
func probeFile(ctx context.Context, r repository.Repo, p string) (string, int64, bool) {
	fsys, ok := r.FS.(*repository.HostFS)
	if !ok {
		info, err := os.Lstat(p)
		if err != nil || !info.Mode().IsRegular() {
			return "", 0, false
		}
		st := info.Sys().(*syscall.Stat_t)
		return fmt.Sprintf("local %d:%d", st.Dev, st.Ino), info.Size(), true
	}
	out, err := fsys.Script(ctx, probeFileScript, p)
	fields := bytes.Split(out, []byte{0})
	if err != nil || len(fields) != 4 || string(fields[0]) != "f" {
		return "", 0, false
	}
	size, err := strconv.ParseInt(string(fields[2]), 10, 64)
	if err != nil {
		return "", 0, false
	}
	return fsys.Host.Name() + " " + string(fields[1]), size, true
}

// hashCopy hashes the file at p in r (whose identity probeFile returned):
// on this machine through the cache, unless it holds a sample, which
// confirms unread files; on another host streamed here, each inode once.
func hashCopy(ctx context.Context, r repository.Repo, p, id string, e repository.Entry, cache *hashCache) (string, error) {
	fsys, ok := r.FS.(*repository.HostFS)
	if !ok {
		info, err := os.Lstat(p)
		if err != nil {
			return "", err
		}
		if cache.sample != nil {
			return repository.HashEntry(p, e)
		}
		return cache.hash(p, info, e)
	}
	return cache.get(id, func() (string, error) {
		rc, err := fsys.Open(ctx, p)
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
}
