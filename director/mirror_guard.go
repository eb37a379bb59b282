package director

import (
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"
)

// validateMirrorTarget refuses a mirror on this machine whose target is the
// repository or inside it: the mirror would copy into what it copies.
func (c *Config) validateMirrorTarget(d *decoder, n *yaml.Node, m MirrorConfig) {
	addr, dir, err := ParseTarget(m.Target)
	if err != nil || addr != "" || c.Repository.Host != "" || !filepath.IsAbs(c.Repository.Path) {
		return
	}
	repo := filepath.Clean(c.Repository.Path)
	if dir == repo || strings.HasPrefix(dir, repo+"/") {
		d.errorf(n, "a mirror belongs on another disk or host, e.g. /mnt/usb/depot",
			"mirror %q: target %s is the repository %s or inside it", m.Name, dir, repo)
	}
}
