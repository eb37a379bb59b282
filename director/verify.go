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
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/depot-backup/depot/repository"
)

// ErrVerifyFailed means verify found a difference; each has been printed.
var ErrVerifyFailed = errors.New("verification failed")

// Verify re-reads snapshots (of one set, one SET@STAMP, or all) and checks
// every file against its snapshot's file list: present, same size, same
// SHA-256; and nothing on disk that the list lacks. A repository on another
// host is read through its file system, each file streamed here.
func (d *Director) Verify(ctx context.Context, target string) error {
	return d.VerifyWith(ctx, target, VerifyOptions{})
}

// VerifyWith is Verify narrowed by o: the snapshots of the last o.Since, and
// a sample of the files (o.Percent, o.MaxBytes); each file that fails is
// reported with the snapshots and mirrors that still hold a good copy.
func (d *Director) VerifyWith(ctx context.Context, target string, o VerifyOptions) error {
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
			if err := checkSetName(set); err != nil {
				return err
			}
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
	snaps = d.verifySince(snaps, o.Since)
	if o.Snapshots > 0 {
		snaps = pickSnapshots(snaps, o.Snapshots)
	}
	cache := newHashCache()
	if o.Percent > 0 || o.MaxBytes > 0 {
		if o.Seed == 0 {
			o.Seed = rand.Uint64N(1_000_000) + 1
		}
		cache.sample = newFileSample(o.Seed, sampleFraction(o, snaps), o.MaxBytes)
	}
	failed := 0
	lanes := verifyLanes
	if _, remote := repo.FS.(*repository.HostFS); remote || cache.sample != nil {
		lanes = 1 // one session at a time; a sample's byte budget picks in order
	}
	results := verifyInLanes(snaps, lanes, func(s repository.Snapshot) (int, []string, bool) {
		return verifyOrGone(ctx, repo, s, cache)
	})
	gone := 0
	for i, s := range snaps {
		name := s.Name()
		<-results[i].done
		files, problems := results[i].files, results[i].problems
		if err := ctx.Err(); err != nil {
			for _, r := range results[i:] {
				<-r.done
			}
			return err
		}
		if results[i].gone {
			gone++
			fmt.Fprintf(d.Out, "gone  %s: deleted while it was verified (a prune or forget at the same time); nothing to check\n", name)
			if o.Log {
				d.Log.Warn("snapshot deleted while verified", "snapshot", name)
			}
			continue
		}
		if len(problems) == 0 {
			fmt.Fprintf(d.Out, "ok    %s: %d files match the manifest\n", name, files)
			if o.Log {
				d.Log.Info("verified", "snapshot", name, "files", files)
			}
			continue
		}
		if o.Log {
			d.Log.Error("verify failed", "snapshot", name, "problems", problems)
		}
		failed++
		for _, p := range problems {
			fmt.Fprintf(d.Out, "FAIL  %s: %s\n", name, p)
		}
	}
	if cache.sample != nil {
		fmt.Fprintln(d.Out, cache.sample.summary())
	}
	d.goodCopies(ctx, repo, cache)
	verified := len(snaps) - failed - gone
	if gone > 0 {
		fmt.Fprintf(d.Out, "%d snapshots: %d verified, %d failed, %d deleted while verified\n", len(snaps), verified, failed, gone)
	} else {
		fmt.Fprintf(d.Out, "%d snapshots: %d verified, %d failed\n", len(snaps), verified, failed)
	}
	if o.Log {
		attrs := []any{"snapshots", len(snaps), "verified", verified, "failed", failed, "gone", gone, "bad_files", len(cache.bad)}
		if cache.sample != nil {
			attrs = append(attrs, "sample", cache.sample.summary())
		}
		d.Log.Info("verify done", attrs...)
	}
	if failed > 0 {
		return fmt.Errorf("%w: %d of %d snapshots", ErrVerifyFailed, failed, len(snaps))
	}
	return nil
}

// pickSnapshots returns n of the complete snapshots, picked at random, in
// their order (all of them when there are no more than n).
func pickSnapshots(snaps []repository.Snapshot, n int) []repository.Snapshot {
	var complete []int
	for i, s := range snaps {
		if s.Complete {
			complete = append(complete, i)
		}
	}
	rand.Shuffle(len(complete), func(i, j int) { complete[i], complete[j] = complete[j], complete[i] })
	complete = complete[:min(n, len(complete))]
	slices.Sort(complete)
	out := make([]repository.Snapshot, len(complete))
	for k, i := range complete {
		out[k] = snaps[i]
	}
	return out
}

// maxProblems bounds what one snapshot reports.
const maxProblems = 20

// verifyOrGone is verifyAnywhere, and whether the snapshot was deleted
// while it was verified: verify takes no lock, so a prune or forget can
// remove a snapshot under it, and then what it found missing says nothing
// about the repository. Files of a deleted snapshot are no longer looked
// for in good copies.
func verifyOrGone(ctx context.Context, repo repository.Repo, s repository.Snapshot, cache *hashCache) (int, []string, bool) {
	files, problems := verifyAnywhere(ctx, repo, s, cache)
	if len(problems) == 0 || ctx.Err() != nil {
		return files, problems, false
	}
	there, err := repo.Files().Exists(ctx, s.Path)
	if err != nil || len(there) != 1 || there[0] {
		return files, problems, false
	}
	cache.forgetBad(s.Path)
	return files, nil, true
}

// verifyAnywhere is verifySnapshot for a repository on this machine, and
// verifySnapshotOnHost for one on another host.
func verifyAnywhere(ctx context.Context, repo repository.Repo, s repository.Snapshot, cache *hashCache) (int, []string) {
	if fsys, ok := repo.FS.(*repository.HostFS); ok {
		return verifySnapshotOnHost(ctx, repo, fsys, s, cache)
	}
	return verifySnapshot(ctx, repo, s, cache)
}

// verifySnapshot checks a snapshot on this machine against its manifest and
// file lists; it returns the regular files listed and what differs.
func verifySnapshot(ctx context.Context, repo repository.Repo, s repository.Snapshot, cache *hashCache) (int, []string) {
	if problem := incomplete(ctx, repo, s); problem != "" {
		return 0, []string{problem}
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
		buf := listBuffers.Get().(*[]byte)
		data, err := readFileInto(listPath, (*buf)[:0])
		if err != nil {
			listBuffers.Put(buf)
			report("item %s: %v", it.Name, err)
			continue
		}
		if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != it.FileListSHA256 {
			listBuffers.Put(buf)
			report("item %s: file list %s does not match its hash in the manifest", it.Name, it.FileList)
			continue
		}
		n, err := verifyItem(ctx, filepath.Join(s.Path, it.Name), data, cache, func(msg string) { report("item %s: %s", it.Name, msg) })
		*buf = data
		listBuffers.Put(buf)
		if err != nil {
			report("item %s: %v", it.Name, err)
		}
		files += n
	}
	return files, problems
}

// listBuffers hold file lists while they are verified: a list of 100,000
// files is about 5 MB, which a new buffer for each snapshot would allocate,
// clear and give back to the system again.
var listBuffers = sync.Pool{New: func() any { return new([]byte) }}

// readFileInto is os.ReadFile into buf's space.
func readFileInto(name string, buf []byte) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b := bytes.NewBuffer(buf[:0])
	if _, err := b.ReadFrom(f); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// incomplete says why s is not a complete snapshot, or "" when it is.
func incomplete(ctx context.Context, repo repository.Repo, s repository.Snapshot) string {
	if s.Complete {
		return ""
	}
	_, err := repo.ReadManifest(ctx, s.Path)
	if err == nil || errors.Is(err, fs.ErrNotExist) {
		return "no manifest: incomplete"
	}
	return "incomplete: the manifest does not parse: " + err.Error()
}

// unlistedTopLevel returns the names directly in a snapshot directory that
// its manifest does not account for: leftovers of an item that failed or
// is no longer configured, or anything else put there.
func unlistedTopLevel(dir string, m *repository.Manifest) []string {
	entries, _ := os.ReadDir(dir)
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = e.Name()
	}
	return unlisted(names, m)
}

// unlisted returns the names of a snapshot directory's entries that its
// manifest does not account for.
func unlisted(names []string, m *repository.Manifest) []string {
	known := map[string]bool{repository.ManifestName: true, repository.FileListDir: true, repository.RecordName: true}
	for _, it := range m.Items {
		if it.Status != repository.StatusFailed {
			known[it.Name] = true
		}
	}
	var out []string
	for _, n := range names {
		if !known[n] {
			out = append(out, n)
		}
	}
	return out
}

// verifyItem checks an item's directory against its encoded file list,
// hashing in parallel, and returns the number of regular files checked.
func verifyItem(ctx context.Context, dir string, list []byte, cache *hashCache, report func(string)) (int, error) {
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
	work := make(chan repository.Entry, 256)
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for e := range work {
				p := filepath.Join(dir, filepath.FromSlash(e.Path))
				if msg := checkEntry(p, e, cache); msg != "" {
					cache.noteBad(p, e)
					say("%s: %s", e.Path, msg)
				}
			}
		}()
	}
	wctx, stopWalk := context.WithCancel(ctx)
	defer stopWalk()
	walked, spent := make(chan []dirent, 4), make(chan []dirent, 6)
	go walkSorted(wctx, dir, walked, spent)
	var w *dirent
	var batch, whole []dirent
	nextW := func() {
		if len(batch) == 0 {
			if whole != nil {
				select {
				case spent <- whole: // w, its last entry, is done with
				default:
				}
			}
			batch = <-walked // nil once the walk is done
			whole = batch
		}
		if len(batch) == 0 {
			w = nil
			return
		}
		w, batch = &batch[0], batch[1:]
	}
	nextW()
	extra := func() { say("%s: on disk but not in the file list", w.rel) }
	// toward advances the walk to path, reporting what it passes as extra.
	toward := func(path []byte) {
		for w != nil && w.rel != string(path) && repository.PathLessBytes(w.rel, path) {
			extra()
			nextW()
		}
	}
	next, stopList := listAhead(ctx, r)
	defer stopList()
	files := 0
	var readErr error
	for ctx.Err() == nil {
		line, err := next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			readErr = err
			break
		}
		// Most lines of a further snapshot are files linked from one
		// checked already: confirmed from the line's bytes, without
		// parsing it into an entry.
		if path, hash, ok := r.Peek(line); ok {
			toward(path)
			if w != nil && w.rel == string(path) && w.typ == unix.DT_REG && confirmed(cache, fileID{w.dev, w.ino}, hash) {
				if readErr = r.Accept(w.rel); readErr != nil {
					break
				}
				files++
				nextW()
				continue
			}
		}
		e, err := r.Parse(line)
		if err != nil {
			readErr = err
			break
		}
		if e.IsRegular() {
			files++
		}
		toward([]byte(e.Path))
		if w != nil && w.rel == e.Path {
			known := e.IsRegular() && w.typ == unix.DT_REG && confirmed(cache, fileID{w.dev, w.ino}, e.Hash)
			dir := e.IsDir() && w.typ == unix.DT_DIR
			nextW()
			if known || dir {
				continue // this inode matched the list in an earlier snapshot, or a directory is one
			}
		}
		work <- e
	}
	close(work)
	wg.Wait()
	if readErr != nil {
		return files, readErr
	}
	for ; w != nil && ctx.Err() == nil; nextW() {
		extra()
	}
	return files, ctx.Err()
}

// checkEntry compares one path with its file list entry; "" means it matches.
func checkEntry(p string, e repository.Entry, cache *hashCache) string {
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
	got, err := cache.hash(p, info, e)
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
