package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/depot-backup/depot/director"
)

func validateCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "validate",
		Short: "Check the config strictly and print ok or every error",
		Long: `Check the config strictly: unknown keys, wrong types, duplicate or invalid
names, missing fields. Every error is printed as file:line:col: message, all at
once; the exit status is 2 when there is any.`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if _, err := g.load(); err != nil {
				return err
			}
			fmt.Fprintln(g.stdout, "ok")
			return nil
		},
	}
}

func planCmd(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "plan [SET...]",
		Short: "Show what the next run will do, without doing it",
		Long: `Show, for each set (all when none is named), what the next run will do: the
snapshot it creates, the items with their sources and targets, the rsync command,
the --link-dest base, an interrupted run it would resume, and which snapshots
retention would then delete and why. Nothing is changed.`,
		Example: "  depot plan\n  depot plan web --json",
		RunE: func(cmd *cobra.Command, sets []string) error {
			d, err := g.load()
			if err != nil {
				return err
			}
			plans, err := d.Plan(cmd.Context(), sets)
			if err != nil {
				return err
			}
			return d.PrintPlan(plans, asJSON)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the plan as JSON")
	return cmd
}

func runCmd(g *globals) *cobra.Command {
	var wait time.Duration
	cmd := &cobra.Command{
		Use:   "run [SET...]",
		Short: "Back up sets now, then prune holding",
		Long: `Back up each set (all when none is named) into a new snapshot, then delete
the holding snapshots beyond max_recent_backups. A snapshot is built in
.partial/ and published by one rename once its manifest is written; an
interrupted run is resumed by the next one. Only one run writes to a repository
at a time: another exits 3, or waits with --wait.`,
		Example: "  depot run\n  depot run web --wait 10m",
		RunE: func(cmd *cobra.Command, sets []string) error {
			d, err := g.load()
			if err != nil {
				return err
			}
			return d.Run(cmd.Context(), sets, director.RunOptions{Wait: wait})
		},
	}
	cmd.Flags().DurationVar(&wait, "wait", 0, "wait this long for another run to finish (e.g. 10m) instead of exiting 3")
	return cmd
}

func listCmd(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list [SET]",
		Short: "List snapshots: section, stamp, files, size and what deleting each frees",
		Long: `List the snapshots of one set, or of all sets, oldest first. SIZE is the
apparent size of a snapshot's files; FREES is the disk space deleting it would
give back (the files no other snapshot shares).`,
		Args: args(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			d, err := g.load()
			if err != nil {
				return err
			}
			set := ""
			if len(a) == 1 {
				set = a[0]
			}
			entries, err := d.List(cmd.Context(), set)
			if err != nil {
				return err
			}
			return d.PrintList(entries, asJSON)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the list as JSON")
	return cmd
}

func restoreCmd(g *globals) *cobra.Command {
	var o director.RestoreOptions
	cmd := &cobra.Command{
		Use:   "restore SET[@STAMP] --to DIR | --to-database DB | --to-svn PATH",
		Short: "Restore a snapshot (the newest by default) into a directory, database or svn repository",
		Long: `Restore a snapshot into DIR: the newest complete snapshot of SET, or the one
whose stamp is or starts with STAMP. With --item, that item's content lands in
DIR itself (a filesystem item keeps full paths: /var/www comes back as
DIR/var/www); without it, every item lands in DIR/<item>. Modes, times,
symlinks, hard links, ACLs and xattrs are restored. DIR must be empty or new
unless --force is given.

--to-database loads a database item's dump into a new database (one that
exists and is not empty is refused unless --force); for an item that holds
several databases, --to-database SOURCE=NEW picks one. --to-svn creates a
Subversion repository and loads every dumped revision range in order. Both use
the item's connection settings from the config.`,
		Example: "  depot restore web --item site --to /tmp/restore\n  depot restore web@2026-11-21T02 --to /tmp/web\n  depot restore web --item wp --to-database wordpress_check",
		Args:    args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			d, err := g.load()
			if err != nil {
				return err
			}
			o.Target = a[0]
			targets := 0
			for _, t := range []string{o.To, o.Database, o.SVNPath} {
				if t != "" {
					targets++
				}
			}
			if targets != 1 {
				return &director.UsageError{Msg: "restore needs exactly one of --to DIR, --to-database DB and --to-svn PATH"}
			}
			return d.Restore(cmd.Context(), o)
		},
	}
	cmd.Flags().StringVar(&o.Item, "item", "", "restore only this item")
	cmd.Flags().StringVar(&o.To, "to", "", "directory to copy the snapshot's files into")
	cmd.Flags().StringVar(&o.Database, "to-database", "", "load a database item's dump into this new database (SOURCE=NEW: pick one of several)")
	cmd.Flags().StringVar(&o.SVNPath, "to-svn", "", "create a Subversion repository at this path and load the item's dumps")
	cmd.Flags().BoolVar(&o.Force, "force", false, "restore into a directory or database that is not empty")

	return cmd
}
