package testenv

import (
	"errors"
	"testing"
)

// recorder records whether Need failed or skipped, instead of doing it.
type recorder struct {
	testing.TB
	fatal, skip string
}

func (r *recorder) Helper()        {}
func (r *recorder) Fatal(a ...any) { r.fatal = a[0].(string) }
func (r *recorder) Skip(a ...any)  { r.skip = a[0].(string) }

func TestNeed(t *testing.T) {
	missing := errors.New("connection refused")
	tests := []struct {
		name      string
		ci        string
		err       error
		wantFatal bool
		wantSkip  bool
	}{
		{"met", "true", nil, false, false},
		{"missing locally skips", "", missing, false, true},
		{"missing under CI fails", "true", missing, true, false},
		{"CI=false is local", "false", missing, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("CI", tt.ci)
			r := &recorder{TB: t}
			Need(r, "PostgreSQL", tt.err)
			if (r.fatal != "") != tt.wantFatal || (r.skip != "") != tt.wantSkip {
				t.Fatalf("fatal %q, skip %q; want fatal %v, skip %v", r.fatal, r.skip, tt.wantFatal, tt.wantSkip)
			}
			if msg := r.fatal + r.skip; tt.err != nil && msg != "PostgreSQL is not available: connection refused (scripts/test.sh installs and starts it)" {
				t.Errorf("message %q", msg)
			}
		})
	}
}
