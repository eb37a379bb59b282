package backupitems

import (
	"errors"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// pipeSize is the kernel buffer of the pipe a dump tool writes into, and the
// most read from it at once.
const pipeSize = 1 << 20

// throughPipe runs run with the write end of a pipe as the tool's standard
// output and copies what comes out of the read end into dst, in the calling
// process's own goroutine.
//
// Why not hand run dst and let the host copy: with a pipe of 64 KB (the
// kernel's default) the tool stops at every block the compressor works on,
// and tool and compressor take turns instead of working side by side. A
// 1 MB pipe lets the tool run ahead. Measured on a 1 GB MariaDB dump on two
// cores (scripts/bench_db.sh), the item took 1.35 times as long as
// mariadb-dump | zstd without it, 1.05 with it; an 8 MB buffer in user space
// with a goroutine of its own got to 1.15, its hand-offs costing the rest. A
// kernel that refuses the size (see fs.pipe-max-size) leaves the default:
// slower, not wrong.
func throughPipe(dst io.Writer, run func(stdout io.Writer) error) error {
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	_, _ = unix.FcntlInt(w.Fd(), unix.F_SETPIPE_SZ, pipeSize)
	copied := make(chan error, 1)
	go func() {
		buf := make([]byte, pipeSize)
		// The wrappers hide ReaderFrom and WriterTo, so that reads are
		// this buffer's size.
		_, err := io.CopyBuffer(struct{ io.Writer }{dst}, struct{ io.Reader }{r}, buf)
		r.Close() // a tool still writing gets EPIPE and stops
		copied <- err
	}()
	err = run(w)
	w.Close() // the tool has exited: the copy ends at the end of the data
	if err != nil {
		r.Close() // what is left is not wanted
	}
	cerr := <-copied
	if err == nil && !errors.Is(cerr, os.ErrClosed) {
		err = cerr
	}
	return err
}
