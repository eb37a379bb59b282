package director

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/depot-backup/depot/hosts"
	"github.com/depot-backup/depot/repository"
)

// SetPlan is what the next run of a set will do.
type SetPlan struct {
	Set        string       `json:"set"`
	Stamp      string       `json:"stamp"`       // the snapshot the run would create
	BuildDir   string       `json:"build_dir"`   // where it is written
	PublishDir string       `json:"publish_dir"` // where it appears when complete
	Resumes    string       `json:"resumes,omitempty"`
	Base       string       `json:"base,omitempty"` // the --link-dest base
	Items      []ItemPlan   `json:"items"`
	Retention  []PlanAction `json:"retention"`
	Schedule   string       `json:"schedule,omitempty"` // when depot daemon runs the set
	NextRun    *time.Time   `json:"next_run,omitempty"`
	// Zone is the time zone whose days the permanent rules match.
	Zone string `json:"timezone"`
	// Warnings are snapshots dated in the future.
	Warnings []string `json:"warnings,omitempty"`
	// HeldBecause says why the guard against mass deletion will hold back
	// the deletions marked held_back, if it will.
	HeldBecause string `json:"held_because,omitempty"`
}

// ItemPlan is one item of a SetPlan.
type ItemPlan struct {
	Name    string   `json:"name"`
	Type    string   `json:"type"`
	Sources []string `json:"sources"`
	Target  string   `json:"target"`
	Base    string   `json:"base,omitempty"`
	Method  string   `json:"method,omitempty"`
	// Commands are what the run will start, secrets shown as ***;
	// Command is the first of them, as plans showed it before.
	Commands [][]string `json:"commands,omitempty"`
	Command  []string   `json:"command,omitempty"`
}

// PlanAction is a retention decision after the next run.
type PlanAction struct {
	Snapshot string            `json:"snapshot"` // section/set/stamp
	Action   repository.Action `json:"action"`   // keep, migrate or delete
	Reason   string            `json:"reason"`
	HeldBack bool              `json:"held_back,omitempty"` // a deletion the guard holds back
}

// Plan computes the next run of the named sets without changing anything.
func (d *Director) Plan(ctx context.Context, names []string) ([]SetPlan, error) {
	sets, err := d.selectSets(names)
	if err != nil {
		return nil, err
	}
	repo, err := d.openRepo(ctx)
	if err != nil {
		return nil, err
	}
	d.warnStrayPartials(ctx, repo)
	policy, err := d.policy(ctx, repo)
	if err != nil {
		return nil, err
	}
	var out []SetPlan
	for _, set := range sets {
		snaps, err := retentionSnapshots(ctx, repo, set.Name)
		if err != nil {
			return nil, err
		}
		partials, err := repo.Partials(ctx, set.Name)
		if err != nil {
			return nil, err
		}
		stamp := repository.Stamp(d.Now()) // a run in a taken second waits for the next
		p := SetPlan{
			Zone:       policy.Location.String(),
			Set:        set.Name,
			Stamp:      stamp,
			BuildDir:   repo.PartialDir(set.Name, stamp),
			PublishDir: repo.Dir(repository.Holding, set.Name, stamp),
		}
		p.Schedule, p.NextRun = d.nextRun(set)
		if len(partials) > 0 {
			p.Resumes = repo.PartialDir(set.Name, partials[len(partials)-1])
		}
		candidates := baseCandidates(snaps, d.Now(), nil) // none dated in the future, if possible
		base, hasBase := latestComplete(candidates)
		p.Warnings = futureWarnings(snaps, d.Now())
		if hasBase {
			p.Base = base.Path
		}
		copies := goodCopies(candidates)
		for _, it := range set.Items {
			h := it.Header()
			env, tree := d.itemEnv(repo, set, h, p.BuildDir, copies[h.Name])
			if p.Resumes != "" {
				tree.Resumes = filepath.Join(p.Resumes, h.Name)
			}
			ip := planItem(ctx, it.Item, env, tree)
			p.Items = append(p.Items, ItemPlan{Name: h.Name, Type: h.Type, Sources: ip.Sources, Target: filepath.Join(p.PublishDir, h.Name), Base: env.Base, Method: ip.Method, Commands: ip.Commands})
			if len(ip.Commands) > 0 {
				p.Items[len(p.Items)-1].Command = ip.Commands[0]
			}
		}
		// Retention as it will stand after the run has added its snapshot.
		next := append(snaps, repository.Snapshot{Section: repository.Holding, Set: set.Name, Stamp: stamp, Complete: true})
		ds := repository.Decide(next, policy)
		guard := repository.CheckGuard(ds, policy.MaxDelete)
		if guard.Holds() {
			p.HeldBecause = guard.String()
		}
		for _, dec := range ds {
			name := dec.Snapshot.Name()
			if dec.Snapshot.Stamp == stamp && dec.Snapshot.Path == "" {
				name += " (this run)"
			}
			held := guard.Holds() && dec.Action == repository.Delete
			p.Retention = append(p.Retention, PlanAction{Snapshot: name, Action: dec.Action, Reason: dec.Reason, HeldBack: held})
		}
		out = append(out, p)
	}
	return out, nil
}

// shellJoin writes argv as a command line a shell would split back into it.
func shellJoin(argv []string) string {
	words := make([]string, len(argv))
	for i, a := range argv {
		words[i] = hosts.ShellQuote(a)
	}
	return strings.Join(words, " ")
}

// PrintPlan writes plans for people, or as JSON.
func (d *Director) PrintPlan(plans []SetPlan, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(d.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(plans)
	}
	var b strings.Builder
	for i, p := range plans {
		if i > 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "set %s: new snapshot %s\n", p.Set, p.Stamp)
		for _, w := range p.Warnings {
			fmt.Fprintf(&b, "  warning    %s\n", w)
		}
		b.WriteString(scheduleLine(p))
		fmt.Fprintf(&b, "  built in   %s\n", p.BuildDir)
		if p.Resumes != "" {
			fmt.Fprintf(&b, "  resumes    %s (left by an interrupted run)\n", p.Resumes)
		}
		fmt.Fprintf(&b, "  published  %s\n", p.PublishDir)
		if p.Base != "" {
			fmt.Fprintf(&b, "  base       %s (unchanged files become hard links)\n", p.Base)
		} else {
			fmt.Fprintf(&b, "  base       none: first snapshot, every file is copied\n")
		}
		for _, it := range p.Items {
			fmt.Fprintf(&b, "  item %s (%s)\n", it.Name, it.Type)
			fmt.Fprintf(&b, "    sources  %s\n", strings.Join(it.Sources, ", "))
			fmt.Fprintf(&b, "    target   %s\n", it.Target)
			if it.Method != "" {
				fmt.Fprintf(&b, "    method   %s\n", it.Method)
			}
			for _, c := range it.Commands {
				fmt.Fprintf(&b, "    runs     %s\n", shellJoin(c))
			}
		}
		loc, err := time.LoadLocation(p.Zone)
		if err != nil {
			loc = time.Local
		}
		fmt.Fprintf(&b, "  retention after the run (%s):\n", d.Config.retentionSummary(loc))
		for _, a := range p.Retention {
			action := string(a.Action)
			if a.HeldBack {
				action = "hold"
			}
			fmt.Fprintf(&b, "    %-7s  %s: %s\n", action, a.Snapshot, a.Reason)
		}
		if p.HeldBecause != "" {
			fmt.Fprintf(&b, "  held back: %s\n", p.HeldBecause)
		}
	}
	b.WriteString(d.otherJobsText())
	_, err := fmt.Fprint(d.Out, b.String())
	return err
}
