package director

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"path"
	"sort"
	"strings"

	"github.com/depot-backup/depot/repository"
)

// VerifyMirror compares a mirror's snapshots and manifests with the
// repository's and prints what is missing, extra or different; then it
// hashes the files of each mirror snapshot that matches (or of sample of
// them picked at random) against the snapshot's file lists, each inode once.
// The snapshots whose files differ are recorded in the mirror, and the next
// depot mirror copies them again.
func (d *Director) VerifyMirror(ctx context.Context, name string, sample *int) error {
	m, ok := d.mirror(name)
	if !ok {
		return &UsageError{Msg: fmt.Sprintf("no mirror %q in %s", name, d.Config.File)}
	}
	if m.IsRestic() {
		if sample != nil {
			return &UsageError{Msg: "a restic mirror is sampled by a share of its data: --sample 5%"}
		}
		return d.verifyRestic(ctx, m, "")
	}
	cache := newHashCache()
	addr, dir, _ := ParseTarget(m.Target)
	dst := repository.Repo{Root: dir}
	var hostFS *repository.HostFS
	if addr != "" {
		hostFS = repository.NewHostFS(d.hosts.get(addr))
		defer hostFS.Close()
		dst.FS = hostFS
	}
	verify := func(s repository.Snapshot) (int, []string) {
		if hostFS != nil {
			return verifySnapshotOnHost(ctx, dst, hostFS, s, cache)
		}
		return verifySnapshot(ctx, dst, s, cache)
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
	type pair struct {
		set, name string
		mirror    repository.Snapshot
	}
	var matched []pair // same section, same manifest: their files are hashed
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
			name := s.Name()
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
					break
				}
				matched = append(matched, pair{set, name, h})
				continue
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
	hash := make([]bool, len(matched))
	for i := range hash {
		hash[i] = sample == nil || i < *sample
	}
	rand.Shuffle(len(hash), func(i, j int) { hash[i], hash[j] = hash[j], hash[i] })
	var damaged []string
	for i, m := range matched {
		if !hash[i] {
			same++
			fmt.Fprintf(d.Out, "ok         %s: the manifest matches (files not hashed: --sample)\n", m.name)
			continue
		}
		files, problems := verify(m.mirror)
		if err := ctx.Err(); err != nil {
			return err
		}
		if len(problems) == 0 {
			same++
			fmt.Fprintf(d.Out, "ok         %s: %d files match the file lists\n", m.name, files)
			continue
		}
		for _, p := range problems {
			fmt.Fprintf(d.Out, "different  %s: %s\n", m.name, p)
		}
		damaged = append(damaged, m.set+"/"+m.mirror.Stamp)
		diffs++
	}
	if err := repository.WriteDamaged(ctx, dst, damaged); err != nil {
		d.Log.Warn("could not record the damaged snapshots in the mirror; depot mirror will not copy them again", "err", err)
	} else if len(damaged) > 0 {
		d.Log.Warn("damaged snapshots on the mirror: depot mirror copies them again", "mirror", name, "snapshots", strings.Join(damaged, " "))
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
