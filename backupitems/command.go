package backupitems

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/depot-backup/depot/hosts"
)

func init() {
	Register(Type{
		Name:    "command",
		Summary: "the output of a command run on the source host, stored as a file; identical output is a hard link",
		New:     func() Item { return &CommandItem{} },
	})
}

// DefaultStdoutFile is where a command item's standard output goes.
const DefaultStdoutFile = "stdout"

// CommandItem runs a command on the source host and stores its standard
// output as the file stdout_file, as it is (not compressed), so that identical
// output from run to run is stored once.
//
// The command also gets DEPOT_ITEM_DIR, the item's directory in the snapshot
// being built, to write files into. That works only when the source and the
// repository are both this machine: in push and pull modes the directory is
// on another host than the command. Files written there are kept as written,
// without hard links to the base snapshot's.
//
// DrillCommand, when given, is what depot drill runs on the source host with
// the stored output on its standard input: exit 0 proves the output
// restores (e.g. [slapadd, -n, "0", -u] for a slapcat dump).
type CommandItem struct {
	Common       `yaml:",inline"`
	Command      []string `yaml:"command"`
	StdoutFile   string   `yaml:"stdout_file"`
	DrillCommand []string `yaml:"drill_command"`
}

var _ Item = (*CommandItem)(nil)

// ItemDirEnv names the item's directory for the command.
const ItemDirEnv = "DEPOT_ITEM_DIR"

// Validate implements Item.
func (c *CommandItem) Validate() []FieldError {
	var errs []FieldError
	if len(c.Command) == 0 {
		errs = append(errs, FieldError{Key: "command", Index: -1, Message: "required: the program and its arguments as a list, e.g. [slapcat, -n, \"1\"]"})
	} else {
		errs = append(errs, checkArgv("command", c.Command)...)
	}
	if c.DrillCommand != nil {
		if len(c.DrillCommand) == 0 {
			errs = append(errs, FieldError{Key: "drill_command", Index: -1, Message: "empty: the program that checks the output on its stdin, as a list, or leave drill_command out"})
		} else {
			errs = append(errs, checkArgv("drill_command", c.DrillCommand)...)
		}
	}
	if f := c.StdoutFile; f != "" && (strings.ContainsAny(f, "/\x00") || strings.HasPrefix(f, ".")) {
		errs = append(errs, FieldError{Key: "stdout_file", Index: -1, Message: fmt.Sprintf("%q is not a plain file name: no '/', not starting with '.'", f)})
	}
	return errs
}

// checkArgv checks a command list of key.
func checkArgv(key string, argv []string) []FieldError {
	switch {
	case argv[0] == "":
		return []FieldError{{Key: key, Index: 0, Message: "empty program name"}}
	case len(argv) == 1 && strings.Contains(argv[0], " "):
		return []FieldError{{Key: key, Index: 0, Message: fmt.Sprintf("no program is called %q: write the program and each argument as a list element, e.g. [%s]", argv[0], strings.Join(strings.Fields(argv[0]), ", "))}}
	}
	return nil
}

// Drill implements Driller: drill_command reads the stored output on its
// standard input, on the source host; without one there is nothing to
// drill.
func (c *CommandItem) Drill(ctx context.Context, env RestoreEnv, _ func(string) string) ([]DrillResult, error) {
	if len(c.DrillCommand) == 0 {
		return nil, &NoDrillError{Why: "command items have no drill (give the item a drill_command that checks its output on stdin)"}
	}
	in, err := env.In.Open(ctx, c.stdoutFile())
	if err != nil {
		return nil, fmt.Errorf("open the stored output: %w", err)
	}
	defer in.Close()
	cmd := strings.Join(c.DrillCommand, " ")
	if err := env.Source.Run(ctx, hosts.Command{Argv: c.DrillCommand, Stdin: in}); err != nil {
		return nil, fmt.Errorf("drill_command %s: %w", cmd, err)
	}
	return []DrillResult{{Command: cmd}}, nil
}

func (c *CommandItem) stdoutFile() string {
	if c.StdoutFile == "" {
		return DefaultStdoutFile
	}
	return c.StdoutFile
}

// Plan implements Item.
func (c *CommandItem) Plan(context.Context, Env) Plan {
	return Plan{Sources: []string{"stdout of " + strings.Join(c.Command, " ")}, Commands: [][]string{c.Command}}
}

// Backup implements Item.
func (c *CommandItem) Backup(ctx context.Context, env Env) (Result, error) {
	cmd := hosts.Command{Argv: c.Command}
	if env.Source.Name() == (hosts.Local{}).Name() {
		cmd.Env = []string{ItemDirEnv + "=" + env.Dir}
	}
	info, err := storeStream(ctx, env.Out, c.stdoutFile(), false, func(stdout io.Writer) error {
		cmd.Stdout = stdout
		return env.Source.Run(ctx, cmd)
	})
	if err != nil {
		return Result{}, fmt.Errorf("command %q: %w", c.Command, err)
	}
	var res Result
	res.tally(info)
	return res, nil
}
