package director

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/depot-backup/depot/hosts"
)

// DefaultHookTimeout bounds a hook that names no timeout.
const DefaultHookTimeout = 10 * time.Minute

// HooksConfig are commands run around a set's backup. A failing before hook
// fails the set (nothing is backed up); after hooks run when the backup
// succeeded and their failures are warnings; on_error hooks run when it
// failed; finally hooks run in either case. The config's top-level hooks
// wrap every set's own: its before hooks run first, its after, on_error and
// finally hooks last.
type HooksConfig struct {
	Before  []HookCommand `yaml:"before"`
	After   []HookCommand `yaml:"after"`
	OnError []HookCommand `yaml:"on_error"`
	Finally []HookCommand `yaml:"finally"`
}

// HookCommand is one hook: written as the argv list itself, or as a mapping
// {command: [argv], timeout: 5m, where: source}.
type HookCommand struct {
	Command []string
	Timeout string // a duration; default DefaultHookTimeout
	Where   string // "local" (default): this machine; "source": the set's source host, over SSH there
	node    *yaml.Node
}

// hookFields are the keys of a hook written as a mapping.
type hookFields struct {
	Command []string `yaml:"command"`
	Timeout string   `yaml:"timeout"`
	Where   string   `yaml:"where"`
}

const hookHint = "e.g. [systemctl, stop, worker] or {command: [systemctl, stop, worker], timeout: 5m, where: source}"

func (h *HookCommand) decodeNode(d *decoder, n *yaml.Node) {
	h.node = n
	switch n.Kind {
	case yaml.SequenceNode:
		d.decode(n, reflect.ValueOf(&h.Command).Elem(), "hook")
	case yaml.MappingNode:
		var f hookFields
		d.decode(n, reflect.ValueOf(&f).Elem(), "hook")
		h.Command, h.Timeout, h.Where = f.Command, f.Timeout, f.Where
	default:
		d.errorf(n, hookHint, "hook: want the command as a list, or a mapping, got %s", describe(n))
	}
}

func (h HookCommand) timeout() time.Duration {
	if t, err := time.ParseDuration(h.Timeout); err == nil && t > 0 {
		return t
	}
	return DefaultHookTimeout
}

// validateHooks checks the hooks of one phase list in hooks at node (the
// hooks: mapping).
func validateHooks(d *decoder, node *yaml.Node, hooks HooksConfig, where string) {
	if node == nil {
		return
	}
	for _, phase := range []struct {
		key  string
		list []HookCommand
	}{{"before", hooks.Before}, {"after", hooks.After}, {"on_error", hooks.OnError}, {"finally", hooks.Finally}} {
		for _, h := range phase.list {
			if h.node == nil || !d.ok(h.node) {
				continue
			}
			at := func(key string) *yaml.Node {
				if v := mappingValue(h.node, key); v != nil {
					return v
				}
				return h.node
			}
			name := fmt.Sprintf("%shooks.%s", prefix(where), phase.key)
			switch {
			case len(h.Command) == 0:
				d.errorf(at("command"), hookHint, "%s: a hook needs a command", name)
			case h.Command[0] == "":
				d.errorf(at("command"), "", "%s: empty program name", name)
			case len(h.Command) == 1 && strings.Contains(h.Command[0], " "):
				d.errorf(at("command"), fmt.Sprintf("write each argument as a list element, e.g. [%s]", strings.Join(strings.Fields(h.Command[0]), ", ")),
					"%s: no program is called %q; hooks are not run by a shell", name, h.Command[0])
			}
			if h.Timeout != "" {
				if t, err := time.ParseDuration(h.Timeout); err != nil || t <= 0 {
					d.errorf(at("timeout"), "a duration such as 30s or 5m", "%s: timeout %q is not a positive duration", name, h.Timeout)
				}
			}
			if h.Where != "" && h.Where != "local" && h.Where != "source" {
				d.errorf(at("where"), "local (this machine, the default) or source (the set's source host)", "%s: where: unknown value %q", name, h.Where)
			}
		}
	}
}

// hookEnv is what hooks are told about the run, as DEPOT_* variables.
type hookEnv struct {
	set, stamp, status, err, snapshot string
}

func (e hookEnv) vars(phase string) []string {
	return []string{"DEPOT_HOOK=" + phase, "DEPOT_SET=" + e.set, "DEPOT_STAMP=" + e.stamp, "DEPOT_STATUS=" + e.status,
		"DEPOT_ERROR=" + e.err, "DEPOT_SNAPSHOT=" + e.snapshot}
}

// phase returns the hooks of a phase: before, after, on_error or finally.
func (h HooksConfig) phase(name string) []HookCommand {
	return map[string][]HookCommand{"before": h.Before, "after": h.After, "on_error": h.OnError, "finally": h.Finally}[name]
}

// runHooks runs the hooks of one phase for set, in order: the top-level
// hooks wrap the set's own (first before, last after). The first failing
// before hook ends the phase; in the others every hook runs and the
// failures are joined.
func (d *Director) runHooks(ctx context.Context, set *SetConfig, phase string, env hookEnv) error {
	top, own := d.Config.Hooks.phase(phase), set.Hooks.phase(phase)
	hooks := append(append([]HookCommand{}, own...), top...)
	if phase == "before" {
		hooks = append(append([]HookCommand{}, top...), own...)
	}
	var errs []error
	for _, h := range hooks {
		host := hosts.Host(hosts.Local{})
		if h.Where == "source" {
			host = d.source(set)
		}
		var out hookOutput
		hctx, cancel := context.WithTimeout(ctx, h.timeout())
		d.Log.Info("running hook", "set", set.Name, "hook", phase, "command", h.Command, "on", host.Name())
		err := host.Run(hctx, hosts.Command{Argv: h.Command, Env: env.vars(phase), Stdout: &out, Stderr: &out})
		if err != nil && hctx.Err() != nil && ctx.Err() == nil {
			err = fmt.Errorf("timed out after %s", h.timeout())
		}
		cancel()
		if s := strings.TrimSpace(string(out.buf)); s != "" {
			d.Log.Info("hook output", "set", set.Name, "hook", phase, "command", h.Command[0], "output", s)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("hook %s %v on %s: %w", phase, h.Command, host.Name(), err))
			if phase == "before" {
				break
			}
		}
	}
	return errors.Join(errs...)
}

// hookOutput keeps the first 16 KiB a hook prints, for the log.
type hookOutput struct {
	mu  sync.Mutex // stdout and stderr are copied by goroutines of their own
	buf []byte
}

func (o *hookOutput) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if room := 16<<10 - len(o.buf); room > 0 {
		o.buf = append(o.buf, p[:min(room, len(p))]...)
	}
	return len(p), nil
}
