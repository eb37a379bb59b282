package archive

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// TestFrameWriter writes streams across frame boundaries in writes of many
// sizes and reads them back with an ordinary zstd decoder.
func TestFrameWriter(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	text := make([]byte, 3*frameSize+12345)
	for i := range text {
		text[i] = "abcdefgh\n"[rng.IntN(9)]
	}
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"one byte", []byte{'x'}},
		{"exactly one frame", text[:frameSize]},
		{"several frames", text},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			fw, err := newFrameWriter(&out)
			if err != nil {
				t.Fatal(err)
			}
			for p := tc.data; len(p) > 0; {
				n := min(len(p), 1+rng.IntN(1<<20))
				if _, err := fw.Write(p[:n]); err != nil {
					t.Fatal(err)
				}
				p = p[n:]
			}
			if err := fw.Close(); err != nil {
				t.Fatal(err)
			}
			zr, err := zstd.NewReader(&out)
			if err != nil {
				t.Fatal(err)
			}
			defer zr.Close()
			got, err := io.ReadAll(zr)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tc.data) {
				t.Fatalf("read back %d bytes, wrote %d (or they differ)", len(got), len(tc.data))
			}
		})
	}
}

type failWriter struct{}

var errFull = errors.New("disk full")

func (failWriter) Write([]byte) (int, error) { return 0, errFull }

// TestFrameWriterError: a failing destination surfaces in Close (and in the
// writes after it), and nothing hangs.
func TestFrameWriterError(t *testing.T) {
	fw, err := newFrameWriter(failWriter{})
	if err != nil {
		t.Fatal(err)
	}
	chunk := bytes.Repeat([]byte("x"), 1<<20)
	for range 5 * frameSize / len(chunk) {
		if _, err := fw.Write(chunk); err != nil {
			break
		}
	}
	if err := fw.Close(); !errors.Is(err, errFull) {
		t.Fatalf("Close: %v, want %v", err, errFull)
	}
}

// TestFrameWriterFindsDistantRepeats: data that repeats 6 MB later is
// compressed as a repeat, so a frame spans more than 6 MB (with 4 MB
// frames the repeat lands in another frame and costs its full size).
func TestFrameWriterFindsDistantRepeats(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	block := make([]byte, 6<<20)
	for i := range block {
		block[i] = byte(rng.Uint32())
	}
	data := append(append([]byte{}, block...), block[:2<<20]...)
	var out bytes.Buffer
	fw, err := newFrameWriter(&out)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := fw.Close(); err != nil {
		t.Fatal(err)
	}
	if limit := len(block) + 1<<20; out.Len() > limit {
		t.Fatalf("%d bytes (6 MB random, then 2 MB of it again) compressed to %d, want at most %d", len(data), out.Len(), limit)
	}
	zr, err := zstd.NewReader(&out)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	if got, err := io.ReadAll(zr); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back %d bytes (%v), wrote %d (or they differ)", len(got), err, len(data))
	}
}
