package director

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/depot-backup/depot/hosts"
	"github.com/depot-backup/depot/repository"
)

// openRepo returns the configured repository once its marker says it is
// one. depot never creates a repository root: a missing one (an unmounted
// disk) or one without the marker fails in one line. A repository made
// before markers is adopted, and that is logged.
func (d *Director) openRepo(ctx context.Context) (repository.Repo, error) {
	if h, ok := d.repoHost().(*hosts.SSH); ok {
		if err := h.Connect(ctx); err != nil {
			return repository.Repo{}, fmt.Errorf("repository host: %w", err)
		}
	}
	repo := d.repo()
	if err := d.openAt(ctx, repo, d.repoWhere()); err != nil {
		return repository.Repo{}, err
	}
	return repo, nil
}

// openAt checks the marker of a repository or mirror, adopting one made
// before markers. where names it in messages.
func (d *Director) openAt(ctx context.Context, repo repository.Repo, where string) error {
	m, adopted, err := repo.Open(ctx, d.Now(), d.repoTimezone())
	if errors.Is(err, repository.ErrNotRepository) {
		return fmt.Errorf("%s is %w", where, repository.ErrNotRepository)
	}
	if err != nil {
		return err
	}
	if adopted {
		d.Log.Info("adopted a repository made before depot init: marker written", "repository", where, "marker", repo.MarkerPath(), "id", m.ID)
	}
	return nil
}

// repoWhere names the repository for messages: its path, and its host when
// it is remote.
func (d *Director) repoWhere() string {
	if d.Config.Repository.Host != "" {
		return d.Config.Repository.Path + " on " + d.Config.Repository.Host
	}
	return d.Config.Repository.Path
}

// repoTimezone is the zone a new repository records: the permanent
// section's timezone, else this machine's local zone.
func (d *Director) repoTimezone() string {
	if tz := d.Config.Repository.Permanent.Timezone; tz != "" {
		return tz
	}
	return localZoneName()
}

// localZoneName is the IANA name of this machine's zone: $TZ, else where
// /etc/localtime points, else /etc/timezone; UTC when none says.
func localZoneName() string {
	if tz := strings.TrimPrefix(os.Getenv("TZ"), ":"); tz != "" && !strings.HasPrefix(tz, "/") {
		return tz
	}
	if target, err := filepath.EvalSymlinks("/etc/localtime"); err == nil {
		if _, name, ok := strings.Cut(target, "zoneinfo/"); ok && name != "" {
			return name
		}
	}
	if data, err := os.ReadFile("/etc/timezone"); err == nil {
		if tz := strings.TrimSpace(string(data)); tz != "" {
			return tz
		}
	}
	return "UTC"
}

// Init creates the configured repository, or with mirror the target of
// that configured mirror: the root (0700) and its marker.
func (d *Director) Init(ctx context.Context, mirror string) error {
	repo, where := d.repo(), d.repoWhere()
	if mirror != "" {
		m, ok := d.mirror(mirror)
		if !ok {
			return &UsageError{Msg: fmt.Sprintf("no mirror %q in %s", mirror, d.Config.File)}
		}
		if m.IsRestic() {
			return d.initRestic(ctx, m, false)
		}
		addr, dir, _ := ParseTarget(m.Target)
		repo, where = repository.Repo{Root: dir}, m.Target
		if addr != "" {
			fs := repository.NewHostFS(d.hosts.get(addr))
			defer fs.Close()
			repo.FS = fs
		}
	} else if h, ok := d.repoHost().(*hosts.SSH); ok {
		if err := h.Connect(ctx); err != nil {
			return fmt.Errorf("repository host: %w", err)
		}
	}
	m, err := repo.Init(ctx, d.Now(), d.repoTimezone())
	if err != nil {
		return err
	}
	d.Log.Info("initialised", "repository", where, "id", m.ID, "timezone", m.Timezone)
	return nil
}

// openMirror checks that a mirror target is a repository, or with init
// makes it one (a target that is one already is fine then).
func (d *Director) openMirror(ctx context.Context, dst repository.Repo, what string, init bool) error {
	if !init {
		return d.openAt(ctx, dst, what+" target "+dst.Root)
	}
	m, err := dst.Init(ctx, d.Now(), d.repoTimezone())
	if errors.Is(err, repository.ErrAlreadyRepository) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	d.Log.Info("initialised mirror target", "mirror", what, "target", dst.Root, "id", m.ID)
	return nil
}
