package director

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/depot-backup/depot/repository"
)

// requireRepository fails when the repository a mirror copies from does not
// exist: an unmounted disk must not look like a repository whose snapshots
// were all deleted, and taking its lock would create it. where names the
// host in the message.
func requireRepository(ctx context.Context, repo repository.Repo, where string) error {
	ok, err := repo.Files().Exists(ctx, filepath.Join(repo.Root, repository.Holding), filepath.Join(repo.Root, ".depot"))
	if err != nil {
		return fmt.Errorf("repository %s%s: %w", repo.Root, where, err)
	}
	if !ok[0] && !ok[1] {
		return fmt.Errorf("repository %s%s does not exist or is empty: is its disk mounted? Nothing was mirrored or deleted", repo.Root, where)
	}
	return nil
}

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
