package backupitems

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"testing"

	"github.com/depot-backup/depot/hosts"
)

// tool runs a shell script as the dump tool would run, its output into stdout.
func tool(script string) func(io.Writer) error {
	return func(stdout io.Writer) error {
		return hosts.Local{}.Run(context.Background(), hosts.Command{Argv: []string{"sh", "-c", script}, Stdout: stdout})
	}
}

func TestThroughPipeCopiesEverything(t *testing.T) {
	var got bytes.Buffer
	// 9 MB in writes of many sizes, more than the pipe holds.
	if err := throughPipe(&got, tool(`i=0; while [ $i -lt 300 ]; do head -c $((i * 200)) /dev/zero | tr '\0' x; echo $i; i=$((i+1)); done`)); err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	for i := range 300 {
		want.Write(bytes.Repeat([]byte("x"), i*200))
		want.WriteString(itoa(i) + "\n")
	}
	if sha256.Sum256(got.Bytes()) != sha256.Sum256(want.Bytes()) {
		t.Fatalf("got %d bytes, want the %d written, in order", got.Len(), want.Len())
	}
}

func itoa(i int) string {
	if i < 10 {
		return string(rune('0' + i))
	}
	return itoa(i/10) + string(rune('0'+i%10))
}

// failingWriter fails once it has taken limit bytes, as a full disk does.
type failingWriter struct{ limit, n int }

var errDiskFull = errors.New("no space left on device")

func (f *failingWriter) Write(p []byte) (int, error) {
	if f.n+len(p) > f.limit {
		return 0, errDiskFull
	}
	f.n += len(p)
	return len(p), nil
}

// TestThroughPipeStopsTheTool: when the output cannot be written, the tool
// gets a broken pipe and stops, instead of dumping on into nowhere, and the
// write error is what is reported when the tool's exit does not say.
func TestThroughPipeStopsTheTool(t *testing.T) {
	err := throughPipe(&failingWriter{limit: 1 << 20}, tool(`exec yes depot`))
	var exit *hosts.ExitError
	if !errors.As(err, &exit) || exit.Code != -1 {
		t.Errorf("err %v, want yes killed by SIGPIPE", err)
	}
	err = throughPipe(&failingWriter{limit: 1 << 20}, tool(`yes depot; echo "yes ended, the script goes on" >&2`))
	if !errors.Is(err, errDiskFull) {
		t.Errorf("err %v, want the write error", err)
	}
}

// TestThroughPipeToolFails: a tool that fails is reported as it failed, and
// what it wrote before is not waited for.
func TestThroughPipeToolFails(t *testing.T) {
	err := throughPipe(io.Discard, tool(`head -c 3000000 /dev/zero; echo broken >&2; exit 3`))
	var exit *hosts.ExitError
	if !errors.As(err, &exit) || exit.Code != 3 {
		t.Fatalf("err %v, want exit 3", err)
	}
}
