package main

import (
	"github.com/spf13/cobra"

	"github.com/depot-backup/depot/director"
)

func drillCmd(g *globals) *cobra.Command {
	var history, asJSON bool
	var last int
	var o director.DrillOptions
	cmd := &cobra.Command{
		Use:   "drill [SET...] | drill --history",
		Short: "Prove the newest backups restore: load dumps into scratch databases, verify svn, restore tree samples",
		Long: `Prove, for each item of the sets (all when none is named), that its newest good
copy restores:
  - a database item's dumps are each loaded, with the item's restore_
    settings, into a scratch database depot_drill_<item>_<stamp>[_<db>]; its
    tables and estimated rows are counted and its drill_query run (the
    drill fails when the query fails); then the scratch database is dropped;
  - an svn item's dump chain is loaded into a scratch repository in $TMPDIR
    (else /tmp) on the source host and checked with svnadmin verify, then removed;
  - a tree item has 50 files, spread over its file list, restored into a
    temporary directory and compared with the list's SHA-256;
  - a command item's drill_command runs on the source host with the stored
    output on its stdin (exit 0 passes); without one the item is skipped,
    and says so.
A drill holds the repository's lock as a run does, and each set's lock while
it drills that set: another holder makes it exit 3 (or wait: --wait).
Each result is printed and recorded in the repository's .depot/drills.jsonl
and in the metrics; a failed drill exits 1 naming the item and why.
--history prints the recorded drills instead.`,
		Example: "  depot drill\n  depot drill db\n  depot drill --history --last 10",
		RunE: func(cmd *cobra.Command, sets []string) error {
			return g.with(func(d *director.Director) error {
				if history {
					if len(sets) > 0 {
						return &director.UsageError{Msg: "drill --history lists every drill: name no set"}
					}
					recs, err := d.DrillHistory(cmd.Context(), last)
					if err != nil {
						return err
					}
					return d.PrintDrills(recs, asJSON)
				}
				if asJSON || cmd.Flags().Changed("last") {
					return &director.UsageError{Msg: "--json and --last go with --history"}
				}
				return d.Drill(cmd.Context(), sets, o)
			})
		},
	}
	cmd.Flags().BoolVar(&history, "history", false, "print the recorded drills")
	cmd.Flags().IntVar(&last, "last", 20, "with --history: the last N drills (0 for all)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "with --history: print JSON")
	cmd.Flags().DurationVar(&o.Wait, "wait", 0, "wait this long for a run's or prune's lock instead of exiting 3")
	return cmd
}
