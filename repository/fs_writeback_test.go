package repository

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestStartWriteback: each tick flushes once, stop waits for a flush under
// way and then releases, and a second stop does nothing.
func TestStartWriteback(t *testing.T) {
	tick := make(chan time.Time) // unbuffered: a send returns once the loop took it
	flushed, done := 0, 0
	release := make(chan struct{})
	stop := startWriteback(tick, func() {
		flushed++
		<-release
	}, func() { done++ })
	tick <- time.Now()
	stopped := make(chan struct{})
	go func() {
		stop()
		close(stopped)
	}()
	select {
	case <-stopped:
		t.Fatal("stop returned while a flush was under way")
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	<-stopped
	stop()
	if flushed != 1 || done != 1 {
		t.Fatalf("flushed %d times, done %d times; want 1 and 1", flushed, done)
	}
}

// TestLocalWriteback: a tick of LocalFS's writeback leaves none of a file
// written under the directory dirty in the page cache (cachestat(2)): its
// data went to the disk before anyone synced.
func TestLocalWriteback(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "data")
	if err := os.WriteFile(p, bytes.Repeat([]byte("depot"), 4<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	dirty := func() uint64 {
		t.Helper()
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		var cs unix.Cachestat_t
		if err := unix.Cachestat(uint(f.Fd()), &unix.CachestatRange{}, &cs, 0); err != nil {
			t.Skipf("cachestat: %v", err)
		}
		return cs.Dirty + cs.Writeback
	}
	if dirty() == 0 {
		t.Skip("the kernel wrote the file out already (memory pressure or a slow test)")
	}
	tick := make(chan time.Time)
	stop := LocalFS{}.writebackAt(dir, tick)
	tick <- time.Now()
	stop()
	if n := dirty(); n != 0 {
		t.Fatalf("%d pages still dirty or under writeback after a tick", n)
	}
}

// TestLocalWritebackMissingDir: a directory that cannot be opened costs only
// the speed-up.
func TestLocalWritebackMissingDir(t *testing.T) {
	stop := LocalFS{}.StartWriteback(filepath.Join(t.TempDir(), "gone"))
	stop()
	stop()
}

// TestBuildWriteback: a build in a repository on this machine writes back;
// one on another host (HostFS) gets a stop that does nothing.
func TestBuildWriteback(t *testing.T) {
	if _, ok := FS(LocalFS{}).(Writebacker); !ok {
		t.Fatal("LocalFS does not write back")
	}
	if _, ok := FS(&HostFS{}).(Writebacker); ok {
		t.Fatal("HostFS writes back: its data is on another host")
	}
}
