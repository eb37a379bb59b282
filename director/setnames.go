package director

import (
	"fmt"
	"path/filepath"
	"strings"
)

// checkSetName refuses a set name given on the command line that no config
// could hold: ../holding/web, an empty name, a path.
func checkSetName(name string) error {
	if !validName.MatchString(name) {
		return &UsageError{Msg: fmt.Sprintf("%q is not a set name (%s)", name, nameHint)}
	}
	return nil
}

// uniqueNames returns names without repeats, in their first order: depot
// run web web backs web up once.
func uniqueNames(names []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, n := range names {
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}

// outsideRepository refuses a local path (what names the flag) that is the
// repository or inside it: files restored there would be read as
// snapshots, a directory named like a stamp as one dated whenever its name
// says.
func (d *Director) outsideRepository(what, dir string) error {
	if d.Config.Repository.Host != "" || dir == "" {
		return nil
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("%s %s: %w", what, dir, err)
	}
	repo := filepath.Clean(d.Config.Repository.Path)
	if real, err := filepath.EvalSymlinks(repo); err == nil {
		if realAbs, err := evalExisting(abs); err == nil {
			abs, repo = realAbs, real
		}
	}
	if abs == repo || strings.HasPrefix(abs, repo+"/") {
		return &UsageError{Msg: fmt.Sprintf("%s %s is inside the repository %s: choose a directory outside it", what, dir, d.Config.Repository.Path)}
	}
	return nil
}

// evalExisting resolves the symlinks of the longest existing prefix of an
// absolute path, keeping the rest as it is.
func evalExisting(p string) (string, error) {
	rest := ""
	for {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			return filepath.Join(real, rest), nil
		}
		parent := filepath.Dir(p)
		if parent == p {
			return "", fmt.Errorf("no existing prefix of %s", p)
		}
		rest = filepath.Join(filepath.Base(p), rest)
		p = parent
	}
}
