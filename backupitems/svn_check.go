package backupitems

import (
	"context"
	"fmt"
	"strings"
)

var _ Checker = (*SVN)(nil)

// Check implements Checker: svnadmin and svnlook run on the source, and the
// repository is one they can read.
func (s *SVN) Check(ctx context.Context, env Env) []Check {
	var checks []Check
	for _, tool := range []string{"svnadmin", "svnlook"} {
		c := Check{What: fmt.Sprintf("%s on %s", tool, env.Source.Name())}
		out, err := output(ctx, env.Source, tool, "--version", "--quiet")
		if err != nil {
			c.Err = fmt.Errorf("not runnable: %w", err)
			return append(checks, c)
		}
		c.Detail = "version " + strings.TrimSpace(out)
		checks = append(checks, c)
	}
	c := Check{What: fmt.Sprintf("svn repository %s on %s", s.Repository, env.Source.Name())}
	if youngest, err := s.look(ctx, env.Source, "youngest"); err != nil {
		c.Err = err
	} else {
		c.Detail = "readable, youngest revision " + youngest
	}
	return append(checks, c)
}
