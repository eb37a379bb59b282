// Package relpath checks paths that come from another host (a source's find
// records, rsync's itemized lines, file lists) before depot uses them inside
// a snapshot: such a path is input, and one with a ".." or a leading slash
// would name something outside the directory it is meant to stay in.
package relpath

import (
	"errors"
	"fmt"
	"strings"
)

// Max is the longest path accepted, PATH_MAX less its NUL. Longer paths
// cannot be named in one system call on Linux, so no real tree holds them
// relative to its root.
const Max = 4095

// maxName is NAME_MAX: the longest name of one directory entry.
const maxName = 255

// ErrUnsafe is wrapped by every error of Check.
var ErrUnsafe = errors.New("unsafe path")

// Check returns an error wrapping ErrUnsafe unless p is a clean relative
// path: not empty, no leading slash, no NUL, no empty, "." or ".." segment,
// no name longer than NAME_MAX and at most Max bytes in all.
func Check(p string) error {
	why := ""
	switch {
	case p == "":
		why = "empty"
	case len(p) > Max:
		why = fmt.Sprintf("%d bytes, longer than PATH_MAX", len(p))
	case strings.IndexByte(p, 0) >= 0:
		why = "holds a NUL byte"
	case p[0] == '/':
		why = "absolute"
	default:
		// By hand, not strings.SplitSeq: every line of every file list
		// comes here, and the iterator cost a tenth of reading a list.
		for rest, more := p, true; more && why == ""; {
			var name string
			name, rest, more = strings.Cut(rest, "/")
			switch {
			case name == "":
				why = "has an empty segment"
			case name == "." || name == "..":
				why = "has a " + name + " segment"
			case len(name) > maxName:
				why = "has a name longer than NAME_MAX"
			}
		}
	}
	if why == "" {
		return nil
	}
	return fmt.Errorf("%w %s: %s", ErrUnsafe, quote(p), why)
}

// quote quotes p for a one-line message, cut to a readable length.
func quote(p string) string {
	if len(p) > 200 {
		return fmt.Sprintf("%q…", p[:200])
	}
	return fmt.Sprintf("%q", p)
}
