package repository

import (
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Writebacker is an FS that can write out, in the background, what is being
// written to it, before anyone asks for a sync: LocalFS. A repository on
// another host has nothing of the kind (its data is written out there).
type Writebacker interface {
	// StartWriteback starts writing out the data written to dir's file
	// system until stop is called; stop waits for the writing to end. It
	// is only a speed-up: durability is still the business of Sync.
	StartWriteback(dir string) (stop func())
}

var _ Writebacker = LocalFS{}

// writebackEvery is how often a build's data is written out while items
// still write it. The kernel itself starts only when dirty data passes a
// share of memory (10% here: 2 GB of a 20 GB machine) or is 30 s old, so a
// first copy of a few GB would otherwise reach the disk only in the sync
// before the manifest, after the copy, at the disk's full cost (2.6–3.0 s
// for 1.5 GB here). Written out every second, it goes beside the copy,
// which writes slower than the disk takes it.
const writebackEvery = time.Second

// StartWriteback implements Writebacker: a goroutine calls syncfs(2) on
// dir's file system every writebackEvery. syncfs blocks only that goroutine
// (on its own thread while it waits); the copy goes on writing meanwhile.
// An error (dir gone, a file system that cannot sync) ends nothing but the
// speed-up: the Sync before publishing reports it.
func (fsys LocalFS) StartWriteback(dir string) (stop func()) {
	t := time.NewTicker(writebackEvery)
	stopSync := fsys.writebackAt(dir, t.C)
	return func() {
		stopSync()
		t.Stop()
	}
}

// writebackAt is StartWriteback with its ticks from tick.
func (LocalFS) writebackAt(dir string, tick <-chan time.Time) (stop func()) {
	f, err := os.Open(dir)
	if err != nil {
		return func() {}
	}
	return startWriteback(tick, func() { _ = unix.Syncfs(int(f.Fd())) }, func() { f.Close() })
}

// startWriteback calls flush at every tick until stop is called; stop waits
// for a flush under way, then calls done. Calling stop again does nothing.
func startWriteback(tick <-chan time.Time, flush func(), done func()) (stop func()) {
	quit, ended := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(ended)
		for {
			select {
			case <-quit:
				return
			case <-tick:
				flush()
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			close(quit)
			<-ended
			done()
		})
	}
}
