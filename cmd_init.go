package main

import (
	"github.com/spf13/cobra"

	"github.com/depot-backup/depot/director"
)

func initCmd(g *globals) *cobra.Command {
	var mirror string
	cmd := &cobra.Command{
		Use:   "init | init --mirror NAME",
		Short: "Create the repository (or a mirror's target): a private root and its marker",
		Long: `Create the configured repository: its root directory (mode 0700, parents
included) and the marker .depot/repository.json (format, id, creation time and
the repository's time zone). Every other verb refuses a root without the
marker, so a backup never lands on the root file system because a disk was not
mounted. With --mirror NAME, initialise that configured mirror's target
instead (depot mirror --init does the same on the way).

A repository made by an older depot (it has holding/ and complete snapshots)
is adopted: its marker is written once, by init or by the first verb that
opens it. A directory that has other content is refused.`,
		Example: "  depot init\n  depot init --mirror usb",
		Args:    args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.with(func(d *director.Director) error {
				return d.Init(cmd.Context(), mirror)
			})
		},
	}
	cmd.Flags().StringVar(&mirror, "mirror", "", "initialise the target of this configured mirror")
	return cmd
}
