package backupitems

import (
	"os"

	"golang.org/x/sys/unix"
)

// writeBehind starts writing out, in the background, what a copy has just
// written under dir, a directory on this machine: one syncfs(2) of its file
// system. wait waits for it to end; calling it again returns at once.
//
// The kernel starts writing dirty data only once it fills a share of memory
// (10% by default: 2 GB of a 20 GB machine) or is 30 s old, so a first copy
// of a few GB reaches the disk only in the sync before the manifest, at the
// disk's full cost after everything else (2.6–3.0 s for 1.5 GB here).
// Started when rsync ends, the writing goes on beside the file list's read
// of the copy, which hashes data still in the page cache: CPU beside I/O.
// A sync every second during the copy instead slowed rsync by about what it
// saved (its journal commits and device flushes). Only a speed-up: the sync
// before the manifest still decides, and reports errors.
func writeBehind(dir string) (wait func()) {
	f, err := os.Open(dir)
	if err != nil {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer f.Close()
		_ = unix.Syncfs(int(f.Fd()))
	}()
	return func() { <-done }
}
