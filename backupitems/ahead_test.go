package backupitems

import (
	"bytes"
	"errors"
	"testing"
)

func TestAheadWriterKeepsOrder(t *testing.T) {
	var want, got bytes.Buffer
	a := newAheadWriter(&got)
	for i := range 3000 { // writes of every size, across chunk boundaries
		p := bytes.Repeat([]byte{byte(i)}, i*7%5000)
		want.Write(p)
		if n, err := a.Write(p); n != len(p) || err != nil {
			t.Fatalf("Write = %d, %v", n, err)
		}
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), want.Bytes()) {
		t.Fatalf("got %d bytes, want the %d written, in order", got.Len(), want.Len())
	}
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

func TestAheadWriterStopsTheWriterOnError(t *testing.T) {
	a := newAheadWriter(&failingWriter{limit: aheadChunk})
	chunk := make([]byte, 64<<10)
	var err error
	written := 0
	for written < 100*aheadChunk && err == nil {
		_, err = a.Write(chunk)
		written += len(chunk)
	}
	if !errors.Is(err, errDiskFull) {
		t.Fatalf("after %d bytes, Write returned %v; want the writer's error", written, err)
	}
	if written > (aheadChunks+3)*aheadChunk {
		t.Errorf("the writer's error reached Write only after %d bytes", written)
	}
	if err := a.Close(); !errors.Is(err, errDiskFull) {
		t.Errorf("Close = %v", err)
	}
}
