package main

import (
	"github.com/spf13/cobra"

	"github.com/depot-backup/depot/director"
)

// addStopFlags gives depot run its flags for runs that must end in time.
func addStopFlags(cmd *cobra.Command, o *director.RunOptions) {
	cmd.Flags().DurationVar(&o.StopAfter, "stop-after", 0, "stop cleanly after this long (e.g. 6h), keeping .partial for the next run; exit 4")
	cmd.Flags().BoolVar(&o.InWindows, "in-windows", false, "skip sets outside their windows; stop when a window closes (exit 4)")
}
