package rsync

import "strings"

// maxLine bounds one line of rsync's stderr kept for messages: a path of
// PATH_MAX with rsync's words around it fits.
const maxLine = 16 << 10

// cause returns rsync's own first error line ("rsync: ..." names the file and
// the system error; "rsync error: ..." only the exit), whole, however much
// rsync printed after it, or "" when it printed none.
func (l *lineCollector) cause() string {
	var last string
	for _, line := range l.lines {
		switch {
		case strings.HasPrefix(line, "rsync: "):
			return strings.TrimSpace(line)
		case strings.HasPrefix(line, "rsync error: ") && last == "":
			last = strings.TrimSpace(line)
		}
	}
	return last
}
