package repository

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"time"
)

// MarkerName is the file in .depot/ that depot init writes; its timezone
// field is the repository's zone.
const MarkerName = "repository.json"

// Zone returns the time zone recorded in the repository's marker, and nil
// when the marker is missing or records none. Permanent rules match days in
// it when the config names no timezone, so that the process's TZ (cron's,
// a shell's) never decides which day a snapshot belongs to.
func (r Repo) Zone(ctx context.Context) (*time.Location, error) {
	path := filepath.Join(r.StateDir(), MarkerName)
	ok, err := r.Files().Exists(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if !ok[0] {
		return nil, nil
	}
	data, err := r.Files().ReadFile(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	var marker struct {
		Timezone string `json:"timezone"`
	}
	if err := json.Unmarshal(data, &marker); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if marker.Timezone == "" {
		return nil, nil
	}
	loc, err := time.LoadLocation(marker.Timezone)
	if err != nil {
		return nil, fmt.Errorf("%s: timezone %q: %w", path, marker.Timezone, err)
	}
	return loc, nil
}
