package main

import (
	"github.com/spf13/cobra"

	"github.com/depot-backup/depot/director"
)

func lsCmd(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "ls SET[@STAMP] [PATH]",
		Short: "List the paths of a snapshot from its file lists",
		Long: `List the paths of a snapshot (the newest of SET, or SET@STAMP): all of them, or
PATH and everything under it. PATH is ITEM, ITEM/PATH, or a path as the
source named it (/var/www/index.html), looked for in every item. The answer
comes from the snapshot's file lists (mode, owner, size, mtime, SHA-256),
checked against the manifest; the snapshot itself is not walked.`,
		Example: "  depot ls web\n  depot ls web@2026-11-21 site/var/www\n  depot ls web /etc/nginx --json",
		Args:    args(cobra.RangeArgs(1, 2)),
		RunE: func(cmd *cobra.Command, a []string) error {
			return g.with(func(d *director.Director) error {
				p := ""
				if len(a) == 2 {
					p = a[1]
				}
				return d.Ls(cmd.Context(), a[0], p, asJSON)
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON array of paths")
	return cmd
}

func versionsCmd(g *globals) *cobra.Command {
	var asJSON bool
	var set string
	cmd := &cobra.Command{
		Use:   "versions PATH [--set SET]",
		Short: "Show the distinct versions of a file across snapshots",
		Long: `Find PATH (ITEM/PATH, or the path on the source) in every complete snapshot, of
all sets or of --set, and group what is found by content (SHA-256): each
version with the snapshots that hold it, oldest first. Restore one with
depot restore SET@STAMP --path PATH.`,
		Example: "  depot versions site/var/www/index.html --set web\n  depot versions /etc/nginx/nginx.conf --json",
		Args:    args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			return g.with(func(d *director.Director) error {
				vs, err := d.Versions(cmd.Context(), a[0], set)
				if err != nil {
					return err
				}
				return d.PrintVersions(vs, asJSON)
			})
		},
	}
	cmd.Flags().StringVar(&set, "set", "", "look only in this set's snapshots")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the versions as JSON")
	return cmd
}

func diffCmd(g *globals) *cobra.Command {
	var o director.DiffOptions
	cmd := &cobra.Command{
		Use:   "diff SET[@OLD] [SET@NEW] | diff SET[@STAMP] --source",
		Short: "Show what was added, removed and changed between two snapshots",
		Long: `Compare two snapshots' file lists: every path added (+), removed (-) or changed
(M: type, permissions or content) with its sizes, then a summary. With one
snapshot, it is compared with the one before it: depot diff web shows what
the newest snapshot changed. The lists are merged as sorted streams, without
walking the snapshots.

--source compares the snapshot (the newest by default) with its live source
instead, walked as a run's quick path walks it: what the next run would
copy. Source files are compared by type, permissions, owner, size and mtime,
not read.`,
		Example: "  depot diff web\n  depot diff web@2026-11-20 web@2026-11-21\n  depot diff web --source",
		Args:    args(cobra.RangeArgs(1, 2)),
		RunE: func(cmd *cobra.Command, a []string) error {
			return g.with(func(d *director.Director) error {
				o.Old = a[0]
				if len(a) == 2 {
					o.New = a[1]
				}
				return d.Diff(cmd.Context(), o)
			})
		},
	}
	cmd.Flags().BoolVar(&o.Source, "source", false, "compare with the live source instead of another snapshot")
	cmd.Flags().BoolVar(&o.JSON, "json", false, "one JSON object per path, then the summary")
	return cmd
}
