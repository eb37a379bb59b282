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
	var at string
	var every time.Duration
	cmd := &cobra.Command{
		Use:   "plan [SET...]",
		Short: "Show what the next run will do, or what retention leaves at a future time",
		Long: `Show, for each set (all when none is named), what the next run will do: the
snapshot it creates, the items with their sources and targets, the rsync command,
the --link-dest base, an interrupted run it would resume, and the fate retention
then gives every snapshot (keep, migrate into permanent, delete) and why.
Nothing is changed.

With --at TIME, show instead what each set will hold at TIME: the snapshots
there then with the reason each is kept, and which of today's snapshots will
have been deleted, when and why. It simulates a successful run every --every
(default 24h; whole days keep the time of day across DST changes), the first
one now, each followed by migration and pruning as depot run does them, on
today's snapshots and today's config. Runs that fail or are skipped, and
config changes, are not foreseen. Retention counts snapshots rather than
ages, so it is these runs that change the picture. TIME is in the permanent
section's time zone: 2027-01-01 (its midnight, before that day's run),
2027-01-01T03:00, or RFC 3339 with an offset.`,
		Example: "  depot plan\n  depot plan web --json\n  depot plan --at 2027-01-01T23:59\n  depot plan --at 2027-06-30 --every 1h --json",
		RunE: func(cmd *cobra.Command, sets []string) error {
			return g.with(func(d *director.Director) error {
				if at == "" && cmd.Flags().Changed("at") {
					return &director.UsageError{Msg: "--at needs a time, e.g. --at 2027-01-01"}
				}
				if at == "" {
					if cmd.Flags().Changed("every") {
						return &director.UsageError{Msg: "--every goes with --at"}
					}
					plans, err := d.Plan(cmd.Context(), sets)
					if err != nil {
						return err
					}
					if err := d.PrintPlan(plans, asJSON); err != nil || asJSON {
						return err
					}
					return d.PrintResticPlans(cmd.Context())
				}
				t, err := d.ParseAt(cmd.Context(), at)
				if err != nil {
					return err
				}
				previews, err := d.Preview(cmd.Context(), sets, director.PreviewOptions{At: t, Every: every})
				if err != nil {
					return err
				}
				return d.PrintPreview(previews, asJSON)
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the plan as JSON")
	cmd.Flags().StringVar(&at, "at", "", "preview retention at this future time (e.g. 2027-01-01)")
	cmd.Flags().DurationVar(&every, "every", director.DefaultPreviewEvery, "with --at: the interval of the simulated runs")
	return cmd
}

func runCmd(g *globals) *cobra.Command {
	var wait time.Duration
	var progress progressFlags
	var opts director.RunOptions
	cmd := &cobra.Command{
		Use:   "run [SET...]",
		Short: "Back up sets now, then migrate and prune",
		Long: `Back up each set (all when none is named) into a new snapshot, then apply
retention as depot prune does: migrate into permanent the snapshots the
permanent rules pick, then delete what neither section keeps. A snapshot is
built in .partial/ and published by one rename once its manifest is written; an
interrupted run is resumed by the next one. A set whose backup fails is not
pruned. Only one run writes to a repository at a time: another exits 3, or
waits with --wait.`,
		Example: "  depot run\n  depot run web --wait 10m",
		RunE: func(cmd *cobra.Command, sets []string) error {
			return g.with(func(d *director.Director) error {
				if err := progress.apply(g, d); err != nil {
					return err
				}
				opts.Wait = wait
				return d.Run(cmd.Context(), sets, opts)
			})
		},
	}
	cmd.Flags().DurationVar(&wait, "wait", 0, "wait this long for another run to finish (e.g. 10m) instead of exiting 3")
	progress.add(cmd)
	addStopFlags(cmd, &opts)
	return cmd
}

func migrateCmd(g *globals) *cobra.Command {
	return retentionCmd(g, "migrate", "Move the snapshots the permanent rules pick from holding into permanent",
		`Move into permanent/, for each set (all when none is named), the holding
snapshots that the permanent rules pick: the first complete snapshot of each
day a rule matches, when a rule wants it. A migration is one rename: instant,
and the snapshot keeps its hard links. Nothing is deleted; the deletions that
retention would make are listed for depot prune. depot run migrates after
each successful backup, so this is for catching up after a config change.`, false)
}

func pruneCmd(g *globals) *cobra.Command {
	return retentionCmd(g, "prune", "Apply retention now: migrate, then delete what no section keeps",
		`Apply retention to each set (all when none is named), as depot run does after
a successful backup: first the migrations into permanent (see depot migrate),
so that no snapshot a permanent rule wants is deleted from holding, then the
deletions: holding snapshots beyond max_recent_backups, and permanent
snapshots that every rule matching them has let go. The newest complete
snapshot and incomplete snapshots are never deleted. Each action is logged and
printed with its reason; depot plan shows them beforehand.

When it would delete more snapshots of a set than repository.max_delete
(default: 3, or a quarter of the set, whichever is larger), not counting the
one holding snapshot a new run pushes out, it deletes nothing of that set and
says so; check with depot plan, then go ahead with --confirm.`, true)
}

// retentionCmd makes migrate (prune false) or prune.
func retentionCmd(g *globals, verb, short, long string, prune bool) *cobra.Command {
	var asJSON, confirm bool
	var wait time.Duration
	cmd := &cobra.Command{
		Use:     verb + " [SET...]",
		Short:   short,
		Long:    long + "\n\nIt takes the repository lock like depot run: exit 3 if another run holds it, or\nwait with --wait.",
		Example: fmt.Sprintf("  depot %s\n  depot %s web --json", verb, verb),
		RunE: func(cmd *cobra.Command, sets []string) error {
			return g.with(func(d *director.Director) error {
				apply := d.Migrate
				if prune {
					apply = d.Prune
				}
				reports, err := apply(cmd.Context(), sets, director.RunOptions{Wait: wait, Confirm: confirm})
				if reports == nil && err != nil {
					return err // nothing was tried: the lock, or a set name
				}
				if perr := d.PrintRetention(reports, asJSON); perr != nil && err == nil {
					err = perr
				}
				return err
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print what was done as JSON")
	cmd.Flags().DurationVar(&wait, "wait", 0, "wait this long for another run to finish (e.g. 10m) instead of exiting 3")
	if prune {
		cmd.Flags().BoolVar(&confirm, "confirm", false, "delete even more than max_delete snapshots of a set")
	}
	return cmd
}

func forgetCmd(g *globals) *cobra.Command {
	var wait time.Duration
	cmd := &cobra.Command{
		Use:   "forget SET@STAMP",
		Short: "Delete one snapshot that retention keeps: one kept by a rule no longer configured",
		Long: `Delete one snapshot, named with its whole stamp. Retention never deletes a
permanent snapshot kept by a rule that is no longer in the config, or one
without a record of why it migrated: depot plan lists them as kept, with
this command. The deletion is logged and entered in the repository's deletion
log, so the mirrors drop the snapshot too. It takes the repository lock like
depot run: exit 3 if another run holds it, or wait with --wait.`,
		Example: "  depot forget web@2026-01-01T020000Z",
		Args:    args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			return g.with(func(d *director.Director) error {
				s, err := d.Forget(cmd.Context(), a[0], director.RunOptions{Wait: wait})
				if err == nil {
					fmt.Fprintf(g.stdout, "deleted %s/%s/%s\n", s.Section, s.Set, s.Stamp)
				}
				return err
			})
		},
	}
	cmd.Flags().DurationVar(&wait, "wait", 0, "wait this long for another run to finish (e.g. 10m) instead of exiting 3")
	return cmd
}

func checkCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "check",
		Short: "Reach every host, binary and source the config needs",
		Long: `Check, without backing anything up, that a run will work: rsync here; for
each remote host TCP reach, SSH login with a verified host key, and rsync there;
the repository writable, with its free space; every source path readable. One
line per check and a summary; the exit status is 1 if any check fails.`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.with(func(d *director.Director) error {
				return d.Check(cmd.Context())
			})
		},
	}
}

func mirrorCmd(g *globals) *cobra.Command {
	var o director.MirrorOptions
	var from, to, bwlimit string
	var del bool
	cmd := &cobra.Command{
		Use:   "mirror [NAME...] | mirror --from USER@HOST:/PATH --to /PATH",
		Short: "Copy the repository to its mirrors, or pull a mirror from a repository host",
		Long: `Copy the repository to the configured mirrors (all, or those named), snapshot by
snapshot, oldest first. Each snapshot is rsync'd into the mirror's .partial with
--link-dest to the mirror's previous snapshot of its set, so the mirror keeps the
repository's hard-link sharing, and is published by a rename once its manifest
is there: a mirror never shows half a snapshot, and a cut mirror resumes. A
snapshot migrated to permanent is moved on the mirror, not copied. With
delete (the default for configured mirrors) the snapshots that the
repository's retention deleted (its deletion log names them) are removed,
but only after every new one is complete; a snapshot the repository lacks for
another reason stays, and more than 3 (or a quarter) of one set's snapshots
go only with --confirm. A missing or empty repository is an error.

--from pulls instead: run it on the offsite host to copy a remote repository
into --to, so a compromised repository host cannot reach the offsite copy.
A pull mirror deletes nothing unless --delete is given. The config is optional
there; its ssh settings are used when one is found.`,
		Example: "  depot mirror\n  depot mirror offsite\n  depot mirror --from backup@repo.example.com:/srv/depot --to /srv/depot-offsite",
		RunE: func(cmd *cobra.Command, names []string) error {
			if from != "" || to != "" {
				if from == "" || to == "" || len(names) > 0 {
					return &director.UsageError{Msg: "a pull mirror needs --from USER@HOST:/PATH and --to /PATH, and no mirror names"}
				}
				d, err := g.loadOptional()
				if err != nil {
					return err
				}
				defer d.Close()
				return d.PullMirror(cmd.Context(), from, to, bwlimit, del, o)
			}
			return g.with(func(d *director.Director) error {
				return d.Mirror(cmd.Context(), names, o)
			})
		},
	}
	cmd.Flags().StringVar(&from, "from", "", "pull the repository at USER@HOST:/PATH")
	cmd.Flags().StringVar(&to, "to", "", "with --from: the local directory to mirror into")
	cmd.Flags().StringVar(&bwlimit, "bwlimit", "", "with --from: rsync bandwidth limit, e.g. 10M")
	cmd.Flags().BoolVar(&del, "delete", false, "with --from: remove snapshots the repository no longer has")
	cmd.Flags().DurationVar(&o.Wait, "wait", 0, "wait this long for a lock instead of exiting 3")
	cmd.Flags().BoolVar(&o.Init, "init", false, "initialise a mirror target that is not a depot repository yet")
	cmd.Flags().BoolVar(&o.Confirm, "confirm", false, "delete from a mirror more of a set than the bound for one run")
	return cmd
}

func verifyCmd(g *globals) *cobra.Command {
	var mirror, sample, maxBytes, since string
	var seed uint64
	cmd := &cobra.Command{
		Use:   "verify [SET[@STAMP]] | verify --mirror NAME",
		Short: "Re-hash snapshots against their manifests, or a mirror's against its file lists",
		Long: `Read every file of the snapshots (all, one set's, or one SET@STAMP) and check it
against the snapshot's file list: present, same size, same SHA-256, and nothing
on disk that the list lacks. A file hard-linked into several snapshots is read
once. With --mirror, compare the mirror's snapshots and manifests with the
repository's, list what is missing, extra or different, and hash the mirror's
files against its file lists the same way; the next depot mirror copies a
snapshot whose files differ again. --sample N hashes only N snapshots picked
at random (of the repository, or of the mirror). The exit status is 1 on any
difference.

--sample P% hashes that share of the files instead, picked at random across
the snapshots (a file linked into many snapshots is in or out once), and
--max-bytes SIZE stops hashing at SIZE (alone, it picks a share to fit);
the other files are checked by size and type. --seed N picks the same files
again (verify prints the seed it used). --since AGE (7d, 36h) verifies only
the snapshots made within AGE. Each file that fails is listed with the
snapshots and mirrors (on this machine or over SSH) that still hold a good copy:
the same path with the SHA-256 its list records.`,
		Example: "  depot verify\n  depot verify web@2026-11-21T020000Z\n  depot verify --mirror offsite --sample 3\n  depot verify --sample 5% --since 7d\n  depot verify web --max-bytes 10G --seed 42",
		Args:    args(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			return g.with(func(d *director.Director) error {
				var o director.VerifyOptions
				var err error
				if cmd.Flags().Changed("sample") {
					if o.Snapshots, o.Percent, err = director.ParseSample(sample); err != nil {
						return &director.UsageError{Msg: err.Error()}
					}
				}
				if maxBytes != "" {
					if o.MaxBytes, err = director.ParseBytes(maxBytes); err != nil {
						return &director.UsageError{Msg: "--max-bytes " + err.Error()}
					}
				}
				if since != "" {
					if o.Since, err = director.ParseAge(since); err != nil || o.Since <= 0 {
						return &director.UsageError{Msg: fmt.Sprintf("--since %q: want an age such as 7d or 36h", since)}
					}
				}
				o.Seed = seed
				if mirror != "" && o.Percent > 0 {
					if len(a) > 0 || o.MaxBytes > 0 || o.Since > 0 || seed != 0 {
						return &director.UsageError{Msg: "--mirror NAME --sample P% reads P% of a restic mirror's data: name no set, and no --max-bytes, --seed or --since"}
					}
					return d.VerifyResticShare(cmd.Context(), mirror, sample)
				}
				files := o.Percent > 0 || o.MaxBytes > 0 || o.Since > 0 || seed != 0
				var picked *int
				if o.Snapshots > 0 {
					if len(a) > 0 || files {
						return &director.UsageError{Msg: "--sample N verifies N snapshots of any set picked at random: name no set, and no --max-bytes, --seed or --since (--sample 5% samples files)"}
					}
					picked = &o.Snapshots
				}
				if mirror != "" {
					if len(a) > 0 || files {
						return &director.UsageError{Msg: "--mirror compares whole repositories: name no set; it takes --sample N only"}
					}
					return d.VerifyMirror(cmd.Context(), mirror, picked)
				}
				if seed != 0 && o.Percent == 0 && o.MaxBytes == 0 {
					return &director.UsageError{Msg: "--seed picks a sample: give --sample P% or --max-bytes SIZE"}
				}
				target := ""
				if len(a) == 1 {
					target = a[0]
				}
				return d.VerifyWith(cmd.Context(), target, o)
			})
		},
	}
	cmd.Flags().StringVar(&mirror, "mirror", "", "compare this configured mirror with the repository, and hash its files")
	cmd.Flags().StringVar(&sample, "sample", "", "N: verify N complete snapshots picked at random; P%: hash P% of the files (of a restic mirror: read P% of its data)")
	cmd.Flags().StringVar(&maxBytes, "max-bytes", "", "hash at most this much (e.g. 10G); the other files are checked by size")
	cmd.Flags().Uint64Var(&seed, "seed", 0, "with --sample P% or --max-bytes: the seed that picks the files (verify prints the one it used)")
	cmd.Flags().StringVar(&since, "since", "", "verify only the snapshots made within this age (e.g. 7d)")
	return cmd
}

func listCmd(g *globals) *cobra.Command {
	var asJSON bool
	var mirror string
	cmd := &cobra.Command{
		Use:   "list [SET]",
		Short: "List snapshots: section, stamp, files, size and what deleting each frees",
		Long: `List the snapshots of one set, or of all sets, oldest first. SIZE is the
apparent size of a snapshot's files; FREES is the disk space deleting it would
give back (the files no other snapshot shares).`,
		Args: args(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			return g.with(func(d *director.Director) error {
				set := ""
				if len(a) == 1 {
					set = a[0]
				}
				if mirror != "" {
					entries, err := d.ListMirror(cmd.Context(), mirror, set)
					if err != nil {
						return err
					}
					return d.PrintMirrorList(entries, asJSON)
				}
				entries, err := d.List(cmd.Context(), set)
				if err != nil {
					return err
				}
				return d.PrintList(entries, asJSON)
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the list as JSON")
	cmd.Flags().StringVar(&mirror, "mirror", "", "list the snapshots in this restic mirror instead")
	return cmd
}

func restoreCmd(g *globals) *cobra.Command {
	var o director.RestoreOptions
	cmd := &cobra.Command{
		Use:   "restore SET[@STAMP] --to DIR | --to-database DB | --to-server | --to-svn PATH",
		Short: "Restore a snapshot (the newest by default) into a directory, database, database server or svn repository",
		Long: `Restore a snapshot into DIR: the newest complete snapshot of SET, or the one
whose stamp is or starts with STAMP. With --item, that item's content lands in
DIR itself (a filesystem item keeps full paths: /var/www comes back as
DIR/var/www); without it, every item lands in DIR/<item>. Modes, times,
symlinks, hard links, ACLs and xattrs are restored. DIR must be empty or new
unless --force is given. --to USER@HOST[:PORT]:/DIR restores to another
host over SSH (with the config's ssh settings). --path (repeatable) restores
only that file or subtree, at its place below the item: ITEM/PATH, or the
path as the source named it; each is checked against the file list first.

--to-database loads a database item's dump into a new database (one that
exists and is not empty is refused unless --force), with the source
database's properties; for an item that holds several databases, --database
SOURCE picks one. --to-server loads every database under its own name, with
the item's users, roles and grants, into a server that holds none of those
databases (--force: load anyway), at --restore-host/--restore-port when given. --to-svn creates a
Subversion repository and loads every dumped revision range in order. All use
the item's connection settings from the config, its restore_ keys first.`,
		Example: "  depot restore web --item site --to /tmp/restore\n  depot restore web@2026-11-21 --path /var/www/index.html --to /tmp/one\n  depot restore web --item site --to admin@web2:/srv/restore\n  depot restore web@2026-11-21T02 --to /tmp/web\n  depot restore web --item wp --to-database wordpress_check\n  depot restore web --item app --database app --to-database app_check\n  depot restore web --item wp --to-server --restore-host 10.0.0.9 --restore-port 3306",
		Args:    args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			return g.with(func(d *director.Director) error {
				o.Target = a[0]
				targets := 0
				for _, t := range []bool{o.To != "", o.Database != "", o.SVNPath != "", o.Server} {
					if t {
						targets++
					}
				}
				switch {
				case targets != 1:
					return &director.UsageError{Msg: "restore needs exactly one of --to DIR, --to-database DB, --to-server and --to-svn PATH"}
				case o.SourceDatabase != "" && o.Database == "":
					return &director.UsageError{Msg: "--database SOURCE goes with --to-database NEW"}
				case (o.RestoreHost != "" || o.RestorePort != 0) && o.Database == "" && !o.Server:
					return &director.UsageError{Msg: "--restore-host and --restore-port go with --to-database or --to-server"}
				case o.RestorePort < 0 || o.RestorePort > 65535:
					return &director.UsageError{Msg: fmt.Sprintf("--restore-port %d is not a TCP port (1-65535)", o.RestorePort)}
				}
				return d.Restore(cmd.Context(), o)
			})
		},
	}
	cmd.Flags().StringVar(&o.Item, "item", "", "restore only this item")
	cmd.Flags().StringVar(&o.To, "to", "", "directory to copy the snapshot's files into")
	cmd.Flags().StringVar(&o.Database, "to-database", "", "load a database item's dump into this new database")
	cmd.Flags().StringVar(&o.SourceDatabase, "database", "", "with --to-database: the item's database to load, when it holds several")
	cmd.Flags().BoolVar(&o.Server, "to-server", false, "load a database item's globals and every database, under its own name, into an empty server")
	cmd.Flags().StringVar(&o.RestoreHost, "restore-host", "", "the database server to load into (default: the item's restore_host, else its host)")
	cmd.Flags().IntVar(&o.RestorePort, "restore-port", 0, "the database server's port (default: the item's restore_port, else its port)")
	cmd.Flags().StringVar(&o.SVNPath, "to-svn", "", "create a Subversion repository at this path and load the item's dumps")
	cmd.Flags().BoolVar(&o.Force, "force", false, "restore into a directory, database or server that is not empty")
	cmd.Flags().StringArrayVar(&o.Paths, "path", nil, "restore only this file or subtree (ITEM/PATH, or the path on the source); repeatable")
	cmd.Flags().StringVar(&o.FromMirror, "from-mirror", "", "restore from this restic mirror (the repository need not exist)")

	return cmd
}
