package repository

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Zone returns the time zone recorded in the repository's marker (see
// Marker.Timezone), and nil when there is no marker or it records none.
// Permanent rules match days in it when the config names no timezone, so
// that the process's TZ (cron's, a shell's) never decides which day a
// snapshot belongs to.
func (r Repo) Zone(ctx context.Context) (*time.Location, error) {
	m, err := r.ReadMarker(ctx)
	if errors.Is(err, ErrNotRepository) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if m.Timezone == "" {
		return nil, nil
	}
	loc, err := time.LoadLocation(m.Timezone)
	if err != nil {
		return nil, fmt.Errorf("%s: timezone %q: %w", r.MarkerPath(), m.Timezone, err)
	}
	return loc, nil
}
