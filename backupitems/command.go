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
type CommandItem struct {
	Common     `yaml:",inline"`
	Command    []string `yaml:"command"`
	StdoutFile string   `yaml:"stdout_file"`
}

var _ Item = (*CommandItem)(nil)

// ItemDirEnv names the item's directory for the command.
const ItemDirEnv = "DEPOT_ITEM_DIR"

// Validate implements Item.
func (c *CommandItem) Validate() []FieldError {
	var errs []FieldError
	if len(c.Command) == 0 {
		errs = append(errs, FieldError{Key: "command", Index: -1, Message: "required: the program and its arguments as a list, e.g. [slapcat, -n, \"1\"]"})
	} else if c.Command[0] == "" {
		errs = append(errs, FieldError{Key: "command", Index: 0, Message: "empty program name"})
	} else if len(c.Command) == 1 && strings.Contains(c.Command[0], " ") {
		errs = append(errs, FieldError{Key: "command", Index: 0, Message: fmt.Sprintf("no program is called %q: write the program and each argument as a list element, e.g. [%s]", c.Command[0], strings.Join(strings.Fields(c.Command[0]), ", "))})
	}
	if f := c.StdoutFile; f != "" && (strings.ContainsAny(f, "/\x00") || strings.HasPrefix(f, ".")) {
		errs = append(errs, FieldError{Key: "stdout_file", Index: -1, Message: fmt.Sprintf("%q is not a plain file name: no '/', not starting with '.'", f)})
	}
	return errs
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
