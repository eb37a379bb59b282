package director

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/depot-backup/depot/repository"
)

// Version is one distinct content of a path across snapshots.
type Version struct {
	Path      string    `json:"path"` // ITEM/REL
	Type      string    `json:"type"`
	SHA256    string    `json:"sha256,omitempty"`
	Size      int64     `json:"size"`
	Mtime     time.Time `json:"mtime"` // in the oldest snapshot holding it
	Snapshots []string  `json:"snapshots"`
}

// Versions finds PATH in every complete snapshot (of one set, or of all) and
// groups what it finds by content: each version with the snapshots that hold
// it, oldest first. Each list is read up to the path and no further.
func (d *Director) Versions(ctx context.Context, p, set string) ([]Version, error) {
	if strings.Trim(p, "/") == "" {
		return nil, &UsageError{Msg: "versions needs the path of a file: ITEM/PATH or the path on the source"}
	}
	repo, err := d.openRepo(ctx)
	if err != nil {
		return nil, err
	}
	sets := []string{set}
	if set == "" {
		if sets, err = repo.Sets(ctx); err != nil {
			return nil, err
		}
	} else {
		if err := checkSetName(set); err != nil {
			return nil, err
		}
		if err := d.knownSet(ctx, repo, set); err != nil {
			return nil, err
		}
	}
	var out []Version
	index := map[string]int{} // path, type and hash: the version's index in out
	dirs := 0
	// Every (snapshot, item) to look in, oldest snapshot first; the lists
	// are read two at a time, the answers grouped in this order.
	type look struct {
		snap  repository.Snapshot
		item  repository.ItemRecord
		rel   string
		entry repository.Entry
		ok    bool
		err   error
	}
	var looks []*look
	for _, name := range sets {
		snaps, err := repo.Snapshots(ctx, name)
		if err != nil {
			return nil, err
		}
		for _, s := range snaps {
			if !s.Complete {
				continue
			}
			q := resolvePath(s.Manifest, p)
			if q.rel == "" {
				return nil, &UsageError{Msg: fmt.Sprintf("%s is an item: versions takes the path of a file inside it", p)}
			}
			for _, it := range q.items {
				looks = append(looks, &look{snap: s, item: it, rel: q.rel})
			}
		}
	}
	sem := make(chan struct{}, 2)
	var wg sync.WaitGroup
	for _, l := range looks {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			l.entry, l.ok, l.err = findEntry(ctx, repo, l.snap, l.item, l.rel)
		}()
	}
	wg.Wait()
	for _, l := range looks {
		if l.err != nil {
			return nil, l.err
		}
		e := l.entry
		if !l.ok {
			continue
		}
		if e.IsDir() {
			dirs++
			continue
		}
		full := l.item.Name + "/" + e.Path
		key := full + "\x00" + entryType(e) + "\x00" + e.Hash
		if e.Hash == "" {
			key += fmt.Sprintf("\x00%d\x00%d", e.Size, e.Mtime)
		}
		i, seen := index[key]
		if !seen {
			i = len(out)
			index[key] = i
			out = append(out, Version{Path: full, Type: entryType(e), SHA256: e.Hash, Size: e.Size, Mtime: time.Unix(0, e.Mtime).UTC()})
		}
		out[i].Snapshots = append(out[i].Snapshots, l.snap.Name())
	}
	if len(out) == 0 && dirs > 0 {
		return nil, &UsageError{Msg: fmt.Sprintf("%s is a directory: versions takes the path of a file (depot ls SET %s lists it)", p, p)}
	}
	if len(out) == 0 {
		where := "any snapshot"
		if set != "" {
			where = "any snapshot of " + set
		}
		return nil, fmt.Errorf("no file %s in %s (paths are ITEM/PATH, or the path on the source)", p, where)
	}
	return out, nil
}

// findEntry reads an item's list up to rel.
func findEntry(ctx context.Context, repo repository.Repo, s repository.Snapshot, it repository.ItemRecord, rel string) (repository.Entry, bool, error) {
	data, err := readItemList(ctx, repo, s, it)
	if err != nil {
		return repository.Entry{}, false, err
	}
	e, ok, err := repository.FindEntry(bytes.NewReader(data), rel)
	if err != nil {
		return repository.Entry{}, false, fmt.Errorf("snapshot %s: item %s: %w", s.Name(), it.Name, err)
	}
	return e, ok, nil
}

// PrintVersions writes versions as a table or as JSON.
func (d *Director) PrintVersions(vs []Version, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(d.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(vs)
	}
	tw := tabwriter.NewWriter(d.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VERSION\tPATH\tSHA256\tSIZE\tMTIME\tSNAPSHOTS\t")
	for i, v := range vs {
		hash := v.SHA256
		if len(hash) > 12 {
			hash = hash[:12]
		}
		if hash == "" {
			hash = "-"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%s\t%s\t\n", i+1, v.Path, hash, v.Size, v.Mtime.Format("2006-01-02 15:04:05"), strings.Join(v.Snapshots, " "))
	}
	return tw.Flush()
}
