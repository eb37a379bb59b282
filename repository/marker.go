package repository

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"time"
)

// MarkerName is the file in .depot/ that makes a directory a depot
// repository. depot init writes it; nothing else creates a repository root,
// so a missing disk is never mistaken for an empty repository.
const MarkerName = "repository.json"

// MarkerFormat is the version of the marker's format.
const MarkerFormat = 1

// ErrNotRepository means a directory has no marker: it is not a depot
// repository, or its disk is not mounted.
var ErrNotRepository = errors.New("not a depot repository (is the disk mounted?); create it with depot init")

// ErrAlreadyRepository means init found a marker already there.
var ErrAlreadyRepository = errors.New("already a depot repository")

// Marker is .depot/repository.json.
type Marker struct {
	Format  int       `json:"format"`
	ID      string    `json:"id"`
	Created time.Time `json:"created"`
	// Timezone is the IANA name of the repository's zone: the calendar in
	// which retention reads a snapshot's day.
	Timezone string `json:"timezone"`
}

// MarkerPath is where the repository's marker is.
func (r Repo) MarkerPath() string { return filepath.Join(r.StateDir(), MarkerName) }

// ReadMarker reads the repository's marker. A root without one gives an
// error wrapping ErrNotRepository that names the root.
func (r Repo) ReadMarker(ctx context.Context) (Marker, error) {
	// One round trip when the marker is there; only when it is not is
	// the reason asked for.
	read, err := r.Files().ReadFiles(ctx, r.MarkerPath())
	if err != nil {
		return Marker{}, fmt.Errorf("open repository %s: %w", r.Root, err)
	}
	data := read[0]
	if data == nil {
		ok, err := r.Files().Exists(ctx, r.MarkerPath())
		if err != nil {
			return Marker{}, fmt.Errorf("open repository %s: %w", r.Root, err)
		}
		if !ok[0] {
			return Marker{}, fmt.Errorf("%s is %w", r.Root, ErrNotRepository)
		}
		if data, err = r.Files().ReadFile(ctx, r.MarkerPath()); err != nil {
			return Marker{}, fmt.Errorf("open repository %s: %w", r.Root, err)
		}
	}
	var m Marker
	if err := json.Unmarshal(data, &m); err != nil {
		return Marker{}, fmt.Errorf("open repository %s: %s: %w", r.Root, r.MarkerPath(), err)
	}
	if m.Format > MarkerFormat {
		return Marker{}, fmt.Errorf("open repository %s: format %d is newer than this depot understands (%d)", r.Root, m.Format, MarkerFormat)
	}
	return m, nil
}

// Open checks that the root is a depot repository and returns its marker.
// A repository made before markers existed (it has holding/ or permanent/
// and at least one snapshot whose manifest parses) is adopted: its marker is
// written once, with timezone, and adopted is true. Anything else without a
// marker, a missing root included, is refused with ErrNotRepository.
func (r Repo) Open(ctx context.Context, now time.Time, timezone string) (m Marker, adopted bool, err error) {
	m, err = r.ReadMarker(ctx)
	if !errors.Is(err, ErrNotRepository) {
		return m, false, err
	}
	if !r.adoptable(ctx) {
		return Marker{}, false, err
	}
	m, err = r.writeMarker(ctx, now, timezone)
	if err != nil {
		return Marker{}, false, fmt.Errorf("adopt repository %s: %w", r.Root, err)
	}
	return m, true, nil
}

// adoptable reports whether the root holds snapshots made by depot.
func (r Repo) adoptable(ctx context.Context) bool {
	sets, err := r.Sets(ctx)
	if err != nil {
		return false
	}
	for _, set := range sets {
		snaps, err := r.Snapshots(ctx, set)
		if err != nil {
			return false
		}
		for _, s := range snaps {
			if s.Complete {
				return true
			}
		}
	}
	return false
}

// Init makes root a depot repository: it creates the root (and its parents)
// if missing, makes it 0700, and writes the marker. A root that is already a
// repository gives ErrAlreadyRepository; a root with other content is
// refused unless it holds depot snapshots (then it is adopted).
func (r Repo) Init(ctx context.Context, now time.Time, timezone string) (Marker, error) {
	if m, err := r.ReadMarker(ctx); err == nil {
		return m, fmt.Errorf("%s is %w (id %s)", r.Root, ErrAlreadyRepository, m.ID)
	} else if !errors.Is(err, ErrNotRepository) {
		return Marker{}, err
	}
	entries, err := r.Files().ReadDir(ctx, r.Root)
	if err != nil {
		return Marker{}, fmt.Errorf("init %s: %w", r.Root, err)
	}
	if len(entries) > 0 && !r.adoptable(ctx) {
		return Marker{}, fmt.Errorf("init %s: the directory is not empty and holds no depot snapshots; choose an empty or new directory", r.Root)
	}
	if err := r.Files().MkdirAll(ctx, r.Root); err != nil {
		return Marker{}, fmt.Errorf("init %s: %w", r.Root, err)
	}
	m, err := r.writeMarker(ctx, now, timezone)
	if err != nil {
		return Marker{}, fmt.Errorf("init %s: %w", r.Root, err)
	}
	return m, nil
}

// writeMarker makes the root private and writes a new marker.
func (r Repo) writeMarker(ctx context.Context, now time.Time, timezone string) (Marker, error) {
	if err := r.Files().Chmod(ctx, r.Root, 0o700); err != nil {
		return Marker{}, err
	}
	if err := r.Files().MkdirAll(ctx, r.StateDir()); err != nil {
		return Marker{}, err
	}
	id := make([]byte, 16)
	if _, err := rand.Read(id); err != nil {
		return Marker{}, err
	}
	m := Marker{Format: MarkerFormat, ID: hex.EncodeToString(id), Created: now.UTC().Truncate(time.Second), Timezone: timezone}
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return Marker{}, err
	}
	if err := r.writeFileAtomic(ctx, r.MarkerPath(), append(data, '\n')); err != nil {
		return Marker{}, err
	}
	return m, nil
}
