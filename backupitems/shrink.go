package backupitems

import (
	"fmt"
	"strconv"
	"strings"
)

// ShrinkGuarded is an item whose file count collapsing means its source is
// gone (an unmounted disk, an emptied directory) rather than that its data
// shrank: depot fails the item when the count falls to zero or below half
// of the base snapshot's, unless the item allows it. Without the guard the
// empty snapshots would be "complete" and push the good ones out of
// retention.
type ShrinkGuarded interface {
	// ShrinkGuard names the source for messages and says whether the
	// config allows it to shrink (allow_shrink).
	ShrinkGuard() (source string, allowed bool)
}

var _ ShrinkGuarded = (*Filesystem)(nil)

// ShrinkGuard implements ShrinkGuarded.
func (f *Filesystem) ShrinkGuard() (string, bool) {
	return strings.Join(f.Paths, ", "), f.AllowShrink
}

// CheckShrink returns an error when an item's file count fell to zero or
// below half of its base's (baseFiles; 0 when there is no base).
func CheckShrink(g ShrinkGuarded, files, baseFiles int64) error {
	source, allowed := g.ShrinkGuard()
	if allowed || baseFiles == 0 || files > 0 && files*2 >= baseFiles {
		return nil
	}
	return fmt.Errorf("%s has %s files, its base had %s: is it mounted? (if it really shrank, set allow_shrink: true on the item for one run)",
		source, thousands(files), thousands(baseFiles))
}

// thousands writes 120345 as 120,345.
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
