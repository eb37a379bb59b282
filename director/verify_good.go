package director

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/depot-backup/depot/repository"
)

// badFile is a file that failed verification, with what its list says.
type badFile struct {
	path  string // on disk
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

// goodCopies prints, for each file that failed, the snapshots of the
// repository and of the mirrors on this machine that hold the same path with
// the content its list records (another inode, read and hashed now): where
// to restore it from.
func (d *Director) goodCopies(ctx context.Context, repo repository.Repo, cache *hashCache) {
	if len(cache.bad) == 0 {
		return
	}
	roots := []struct{ name, root string }{{"", repo.Root}}
	var remote []string
	for _, m := range d.Config.Mirrors {
		addr, dir, err := ParseTarget(m.Target)
		if err != nil {
			continue
		}
		if addr != "" {
			remote = append(remote, m.Name)
			continue
		}
		roots = append(roots, struct{ name, root string }{"mirror " + m.Name + ": ", dir})
	}
	fmt.Fprintln(d.Out, "good copies of the files that failed (same path, same SHA-256):")
	for _, b := range cache.bad {
		rel, err := filepath.Rel(repo.Root, b.path)
		parts := strings.SplitN(filepath.ToSlash(rel), "/", 5)
		if err != nil || len(parts) < 5 {
			continue
		}
		section, set, stamp, item, inItem := parts[0], parts[1], parts[2], parts[3], parts[4]
		var badIno uint64
		if info, err := os.Lstat(b.path); err == nil {
			badIno = info.Sys().(*syscall.Stat_t).Ino
		}
		var found []string
		for _, r := range roots {
			snaps, err := repository.Repo{Root: r.root}.Snapshots(ctx, set)
			if err != nil {
				continue
			}
			for i := len(snaps) - 1; i >= 0 && len(found) < 3; i-- {
				s := snaps[i]
				if !s.Complete || r.name == "" && s.Section == section && s.Stamp == stamp {
					continue
				}
				p := filepath.Join(s.Path, item, filepath.FromSlash(inItem))
				info, err := os.Lstat(p)
				if err != nil || !info.Mode().IsRegular() || info.Size() != b.entry.Size {
					continue
				}
				if r.name == "" && info.Sys().(*syscall.Stat_t).Ino == badIno {
					continue // the same inode: the same damage
				}
				hash := repository.HashEntry
				if cache.sample == nil { // the cache reads each inode once
					hash = func(p string, e repository.Entry) (string, error) { return cache.hash(p, info, e) }
				}
				if h, err := hash(p, b.entry); err == nil && h == b.entry.Hash {
					found = append(found, r.name+s.Name())
				}
			}
		}
		where := "none found"
		if len(found) > 0 {
			where = strings.Join(found, ", ")
		}
		if len(remote) > 0 {
			where += " (mirrors over SSH not searched: " + strings.Join(remote, ", ") + ")"
		}
		fmt.Fprintf(d.Out, "  %s/%s/%s/%s/%s: %s\n", section, set, stamp, item, inItem, where)
	}
}
