package director

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"

	"github.com/depot-backup/depot/repository"
)

// ErrVerifyFailed means verify found a difference; each has been printed.
var ErrVerifyFailed = errors.New("verification failed")

// Verify re-reads snapshots (of one set, one SET@STAMP, or all) and checks
// every file against its snapshot's file list: present, same size, same
// SHA-256; and nothing on disk that the list lacks.
func (d *Director) Verify(ctx context.Context, target string) error {
	if d.Config.Repository.Host != "" {
		return &UsageError{Msg: "verify reads every file of a snapshot: run it on the repository host " + d.Config.Repository.Host}
	}
	repo, err := d.openRepo(ctx)
	if err != nil {
		return err
	}
	var snaps []repository.Snapshot
	set, _, hasStamp := strings.Cut(target, "@")
	switch {
	case hasStamp:
		s, err := d.findSnapshot(ctx, target)
		if err != nil {
			return err
		}
		snaps = append(snaps, s)
	default:
		names := []string{set}
		if set != "" {
			if err := d.knownSet(ctx, repo, set); err != nil {
				return err
			}
		}
		if set == "" {
			var err error
			if names, err = repo.Sets(ctx); err != nil {
				return err
			}
		}
		for _, n := range names {
			more, err := repo.Snapshots(ctx, n)
			if err != nil {
				return err
			}
			snaps = append(snaps, more...)
		}
	}
	failed := 0
	for _, s := range snaps {
		name := s.Section + "/" + s.Set + "/" + s.Stamp
		files, problems := d.verifySnapshot(ctx, repo, s)
		if err := ctx.Err(); err != nil {
			return err
		}
		if len(problems) == 0 {
			fmt.Fprintf(d.Out, "ok    %s: %d files match the manifest\n", name, files)
			continue
		}
		failed++
		for _, p := range problems {
			fmt.Fprintf(d.Out, "FAIL  %s: %s\n", name, p)
		}
	}
	fmt.Fprintf(d.Out, "%d snapshots: %d verified, %d failed\n", len(snaps), len(snaps)-failed, failed)
	if failed > 0 {
		return ErrVerifyFailed
	}
	return nil
}

// maxProblems bounds what one snapshot reports.
const maxProblems = 20

func (d *Director) verifySnapshot(ctx context.Context, repo repository.Repo, s repository.Snapshot) (int, []string) {
	if !s.Complete {
		_, err := repo.ReadManifest(ctx, s.Path)
		if err == nil || errors.Is(err, fs.ErrNotExist) {
			return 0, []string{"no manifest: incomplete"}
		}
		return 0, []string{"incomplete: the manifest does not parse: " + err.Error()}
	}
	m := s.Manifest
	var problems []string
	report := func(format string, args ...any) {
		if len(problems) < maxProblems {
			problems = append(problems, fmt.Sprintf(format, args...))
		}
	}
	for _, extra := range unlistedTopLevel(s.Path, m) {
		report("%s: in the snapshot but not in its manifest", extra)
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
		listPath := filepath.Join(s.Path, it.FileList)
		data, err := os.ReadFile(listPath)
		if err != nil {
			report("item %s: %v", it.Name, err)
			continue
		}
		if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != it.FileListSHA256 {
			report("item %s: file list %s does not match its hash in the manifest", it.Name, it.FileList)
			continue
		}
		n, err := verifyItem(ctx, filepath.Join(s.Path, it.Name), data, func(msg string) { report("item %s: %s", it.Name, msg) })
		if err != nil {
			report("item %s: %v", it.Name, err)
		}
		files += n
	}
	return files, problems
}

// unlistedTopLevel returns the names directly in a snapshot directory that
// its manifest does not account for: leftovers of an item that failed or
// is no longer configured, or anything else put there.
func unlistedTopLevel(dir string, m *repository.Manifest) []string {
	known := map[string]bool{repository.ManifestName: true, repository.FileListDir: true}
	for _, it := range m.Items {
		if it.Status != repository.StatusFailed {
			known[it.Name] = true
		}
	}
	entries, _ := os.ReadDir(dir)
	var out []string
	for _, e := range entries {
		if !known[e.Name()] {
			out = append(out, e.Name())
		}
	}
	return out
}

// verifyItem checks an item's directory against its encoded file list,
// hashing in parallel, and returns the number of regular files checked.
func verifyItem(ctx context.Context, dir string, list []byte, report func(string)) (int, error) {
	r, err := repository.NewFileListReader(bytes.NewReader(list))
	if err != nil {
		return 0, err
	}
	defer r.Close()
	var mu sync.Mutex
	say := func(format string, args ...any) {
		mu.Lock()
		report(fmt.Sprintf(format, args...))
		mu.Unlock()
	}
	listed := map[string]bool{}
	work := make(chan repository.Entry, 256)
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for e := range work {
				if msg := checkEntry(filepath.Join(dir, filepath.FromSlash(e.Path)), e); msg != "" {
					say("%s: %s", e.Path, msg)
				}
			}
		}()
	}
	files := 0
	var readErr error
	for ctx.Err() == nil {
		e, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			readErr = err
			break
		}
		listed[e.Path] = true
		if e.IsRegular() {
			files++
		}
		work <- e
	}
	close(work)
	wg.Wait()
	if readErr != nil {
		return files, readErr
	}
	var extra []string
	filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
		rel, _ := filepath.Rel(dir, p)
		if err == nil && rel != "." && !listed[filepath.ToSlash(rel)] {
			extra = append(extra, filepath.ToSlash(rel))
		}
		return nil
	})
	sort.Strings(extra)
	for _, p := range extra {
		say("%s: on disk but not in the file list", p)
	}
	return files, ctx.Err()
}

// checkEntry compares one path with its file list entry; "" means it matches.
func checkEntry(p string, e repository.Entry) string {
	info, err := os.Lstat(p)
	if err != nil {
		return "missing"
	}
	switch {
	case e.IsRegular() && !info.Mode().IsRegular():
		return "not a regular file"
	case e.IsRegular() && info.Size() != e.Size:
		return fmt.Sprintf("size %d, the list says %d", info.Size(), e.Size)
	case e.IsSymlink() && info.Mode()&fs.ModeSymlink == 0:
		return "not a symlink"
	case e.IsDir() && !info.IsDir():
		return "not a directory"
	}
	if !e.IsRegular() && !e.IsSymlink() {
		return ""
	}
	got, err := repository.HashEntry(p, e)
	switch {
	case err != nil:
		return err.Error()
	case got != e.Hash && e.IsSymlink():
		return "symlink target differs"
	case got != e.Hash:
		return "content differs from the hash in the file list"
	}
	return ""
}

// VerifyMirror compares a mirror's snapshots and manifests with the
// repository's and prints what is missing, extra or different.
func (d *Director) VerifyMirror(ctx context.Context, name string) error {
	m, ok := d.mirror(name)
	if !ok {
		return &UsageError{Msg: fmt.Sprintf("no mirror %q in %s", name, d.Config.File)}
	}
	addr, dir, _ := ParseTarget(m.Target)
	dst := repository.Repo{Root: dir}
	if addr != "" {
		fs := repository.NewHostFS(d.hosts.get(addr))
		defer fs.Close()
		dst.FS = fs
	}
	src := d.repo()
	sets := map[string]bool{}
	for _, r := range []repository.Repo{src, dst} {
		names, err := r.Sets(ctx)
		if err != nil {
			return err
		}
		for _, n := range names {
			sets[n] = true
		}
	}
	var names []string
	for n := range sets {
		names = append(names, n)
	}
	sort.Strings(names)
	diffs, same := 0, 0
	for _, set := range names {
		want, err := completeByStamp(ctx, src, set)
		if err != nil {
			return err
		}
		have, err := completeByStamp(ctx, dst, set)
		if err != nil {
			return err
		}
		for _, stamp := range sortedStamps(want) {
			s := want[stamp]
			h, ok := have[stamp]
			name := s.Section + "/" + set + "/" + stamp
			switch {
			case !ok:
				fmt.Fprintf(d.Out, "missing    %s\n", name)
			case h.Section != s.Section:
				fmt.Fprintf(d.Out, "different  %s: in %s on the mirror\n", name, h.Section)
			default:
				a, errA := src.Files().ReadFile(ctx, path.Join(s.Path, repository.ManifestName))
				b, errB := dst.Files().ReadFile(ctx, path.Join(h.Path, repository.ManifestName))
				if errA != nil || errB != nil || !bytes.Equal(a, b) {
					fmt.Fprintf(d.Out, "different  %s: manifests differ\n", name)
				} else {
					same++
					continue
				}
			}
			diffs++
		}
		for _, stamp := range sortedStamps(have) {
			h := have[stamp]
			if _, ok := want[stamp]; !ok {
				fmt.Fprintf(d.Out, "extra      %s/%s/%s\n", h.Section, set, stamp)
				diffs++
			}
		}
	}
	fmt.Fprintf(d.Out, "mirror %s: %d snapshots match, %d differences\n", name, same, diffs)
	if diffs > 0 {
		return ErrVerifyFailed
	}
	return nil
}

func completeByStamp(ctx context.Context, r repository.Repo, set string) (map[string]repository.Snapshot, error) {
	snaps, err := r.Snapshots(ctx, set)
	if err != nil {
		return nil, err
	}
	out := map[string]repository.Snapshot{}
	for _, s := range snaps {
		if s.Complete {
			out[s.Stamp] = s
		}
	}
	return out, nil
}

func sortedStamps(m map[string]repository.Snapshot) []string {
	out := make([]string, 0, len(m))
	for s := range m {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}
