package main

import (
	"errors"
	"io"
	"io/fs"
	"strings"
	"testing"

	"github.com/depot-backup/depot/director"
)

// TestUsageErrorKeepsItsCause: a usage error wrapping a cause still exits 2,
// prints the cause, and errors.Is finds the cause through it.
func TestUsageErrorKeepsItsCause(t *testing.T) {
	cause := &fs.PathError{Op: "open", Path: "/nope/depot.yaml", Err: fs.ErrNotExist}
	tests := []struct {
		name string
		err  *director.UsageError
		want string
	}{
		{"cause only", &director.UsageError{Err: cause}, "open /nope/depot.yaml: file does not exist"},
		{"message and cause", &director.UsageError{Msg: "--config", Err: cause}, "--config: open /nope/depot.yaml: file does not exist"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.err.Error() != tt.want {
				t.Errorf("Error() = %q, want %q", tt.err.Error(), tt.want)
			}
			if !errors.Is(tt.err, fs.ErrNotExist) {
				t.Error("errors.Is does not find the cause")
			}
			var out strings.Builder
			if code := report(tt.err, &out); code != exitUsage || out.String() != "depot: "+tt.want+"\n" {
				t.Errorf("report: exit %d, %q", code, out.String())
			}
		})
	}
	if (&director.UsageError{Msg: "plain"}).Unwrap() != nil {
		t.Error("a usage error without a cause unwraps to something")
	}
	// An error whose text looks like cobra's is not a usage error: only its
	// type or the phase it came from makes it one.
	if code := report(errors.New("unknown command in a hook's output"), io.Discard); code != exitFailed {
		t.Errorf("an ordinary error that mentions an unknown command: exit %d, want %d", code, exitFailed)
	}
}
