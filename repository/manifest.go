package repository

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"time"
)

// ManifestName is the file that makes a snapshot complete. It is written last.
const ManifestName = "manifest.json"

// ManifestFormat is the version of the manifest and file list formats.
const ManifestFormat = 1

// ItemStatus is an item's outcome in a manifest.
type ItemStatus string

// An item's status in a manifest.
const (
	StatusOK      ItemStatus = "ok"
	StatusWarning ItemStatus = "warning"
	StatusFailed  ItemStatus = "failed" // the snapshot is partial: it lacks this item
)

// Manifest is everything depot knows about a snapshot, stored inside it so the
// repository can be read without depot.
type Manifest struct {
	Format       int          `json:"format"`
	Set          string       `json:"set"`
	Stamp        string       `json:"stamp"`
	Started      time.Time    `json:"started"`
	Finished     time.Time    `json:"finished"`
	DepotVersion string       `json:"depot_version"`
	ConfigDigest string       `json:"config_digest"`  // "sha256:<hex>" of the config file's bytes
	Base         string       `json:"base,omitempty"` // stamp of the --link-dest base, if any
	Items        []ItemRecord `json:"items"`
}

// ItemRecord is one item's outcome in a snapshot.
type ItemRecord struct {
	Name     string     `json:"name"`
	Type     string     `json:"type"`
	Status   ItemStatus `json:"status"` // StatusOK, StatusWarning or StatusFailed
	Warnings []string   `json:"warnings,omitempty"`
	// Error is why a failed item failed; it has no content, file list or
	// stats in the snapshot.
	Error string `json:"error,omitempty"`
	Stats Stats  `json:"stats"`
	// FileList is the item's file list, relative to the snapshot directory.
	FileList       string `json:"file_list,omitempty"`
	FileListSHA256 string `json:"file_list_sha256,omitempty"`
	// Meta is what the item type keeps for its next run, e.g. the youngest
	// revision an svn item dumped.
	Meta map[string]string `json:"meta,omitempty"`
}

// Stats are an item's figures for one run.
type Stats struct {
	Files            int64 `json:"files"`             // regular files in the snapshot
	Bytes            int64 `json:"bytes"`             // their apparent size
	FilesTransferred int64 `json:"files_transferred"` // files whose data was copied this run
	BytesTransferred int64 `json:"bytes_transferred"`
}

// Totals sums the stats of all items.
func (m *Manifest) Totals() Stats {
	var t Stats
	for _, it := range m.Items {
		t.Files += it.Stats.Files
		t.Bytes += it.Stats.Bytes
		t.FilesTransferred += it.Stats.FilesTransferred
		t.BytesTransferred += it.Stats.BytesTransferred
	}
	return t
}

// ReadManifest reads the manifest of the snapshot in dir.
func (r Repo) ReadManifest(ctx context.Context, dir string) (*Manifest, error) {
	data, err := r.Files().ReadFile(ctx, filepath.Join(dir, ManifestName))
	if err != nil {
		return nil, fmt.Errorf("read manifest: %w", err)
	}
	return parseManifest(data, dir)
}

// parseManifest decodes the manifest of the snapshot in dir. A manifest that
// does not parse (truncated, say) or lacks its set and stamp makes the
// snapshot incomplete.
func parseManifest(data []byte, dir string) (*Manifest, error) {
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("read manifest %s: %w", filepath.Join(dir, ManifestName), err)
	}
	if m.Format > ManifestFormat {
		return nil, fmt.Errorf("read manifest %s: format %d is newer than this depot understands (%d)", dir, m.Format, ManifestFormat)
	}
	if m.Format < 1 || m.Set == "" || m.Stamp == "" {
		return nil, fmt.Errorf("read manifest %s: no format, set or stamp: not a depot manifest", filepath.Join(dir, ManifestName))
	}
	return &m, nil
}

func marshalManifest(m *Manifest) ([]byte, error) {
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode manifest: %w", err)
	}
	return append(data, '\n'), nil
}

// writeFileAtomic writes data to path through a temporary file and a rename.
func (r Repo) writeFileAtomic(ctx context.Context, path string, data []byte) error {
	tmp := path + ".tmp"
	if err := r.Files().WriteFile(ctx, tmp, data); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := r.Files().Sync(ctx, filepath.Dir(path)); err != nil {
		return fmt.Errorf("sync %s: %w", path, err)
	}
	if err := r.Files().Rename(ctx, tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
