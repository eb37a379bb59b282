package backupitems

import (
	"bytes"
	"context"
	"fmt"
	"strings"

	"github.com/depot-backup/depot/hosts"
)

// metaSymlinkPrefix starts the Result.Meta key that records a configured
// path that is a symlink: "symlink:/var/www" = "/srv/www".
const metaSymlinkPrefix = "symlink:"

// followLinks returns the item as this run copies it: a configured path
// that is a symlink to a directory is copied as that directory, under the
// configured path (rsync -R with a trailing slash follows the link given
// and nothing else), instead of as a link to nothing. meta records every
// such link; a symlink to a file is copied as the link, with a warning.
func (f *Filesystem) followLinks(ctx context.Context, h hosts.Host, meta map[string]string) (*Filesystem, []string, error) {
	script := `for p; do if [ -L "$p" ]; then k=f; [ -d "$p" ] && k=d; printf '%s\000%s\000%s\000' "$k" "$p" "$(readlink -- "$p")"; fi; done`
	var out bytes.Buffer
	argv := append([]string{"sh", "-c", script, "sh"}, f.Paths...)
	if err := h.Run(ctx, hosts.Command{Argv: argv, Stdout: &out}); err != nil {
		return nil, nil, fmt.Errorf("look for symlinks among the source paths on %s: %w", h.Name(), err)
	}
	fields := strings.Split(out.String(), "\x00")
	if len(fields) < 3 {
		return f, nil, nil
	}
	kind := map[string]string{}
	for i := 0; i+2 < len(fields); i += 3 {
		kind[fields[i+1]] = fields[i]
		meta[metaSymlinkPrefix+fields[i+1]] = fields[i+2]
	}
	var warnings []string
	g := *f
	g.Paths = make([]string, len(f.Paths))
	for i, p := range f.Paths {
		g.Paths[i] = p
		switch kind[p] {
		case "d":
			g.Paths[i] = strings.TrimSuffix(p, "/") + "/"
		case "f":
			warnings = append(warnings, fmt.Sprintf("source path %s is a symlink to %s, which is not a directory: the link itself is backed up", p, meta[metaSymlinkPrefix+p]))
		}
	}
	return &g, warnings, nil
}
