package repository

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/depot-backup/depot/hosts"
)

// Restic runs restic, on this machine, against one restic repository: the
// engine of a mirror of type restic (an offsite copy in object storage,
// deduplicated and encrypted at rest). Secrets reach restic only through its
// environment: the repository URL (which may carry a REST server's
// credentials), the password and the backend's credentials never appear in
// an argv, a log line or an error.
type Restic struct {
	Repository   string // restic repository URL: s3:…, rest:…, sftp:…, rclone:…, /path
	PasswordFile string // file holding the repository password
	PasswordEnv  string // or the environment variable holding it
	EnvFile      string // KEY=value lines for the backend (AWS_ACCESS_KEY_ID, …)
	// Limit is the upload and download limit in KiB/s; 0 for none.
	Limit  int
	Binary string // default "restic"
}

// ResticSnapshot is a snapshot in a restic repository that a restic mirror
// made: its tags name the depot snapshot it holds.
type ResticSnapshot struct {
	ID      string    `json:"id"`
	ShortID string    `json:"short_id"`
	Time    time.Time `json:"time"`
	Paths   []string  `json:"paths"`
	Tags    []string  `json:"tags"`
	Set     string    `json:"-"`
	Stamp   string    `json:"-"`
	Section string    `json:"-"`
}

// ResticSummary is restic backup's closing JSON message: what one snapshot
// sent.
type ResticSummary struct {
	SnapshotID   string  `json:"snapshot_id"`
	FilesNew     int64   `json:"files_new"`
	FilesChanged int64   `json:"files_changed"`
	FilesSame    int64   `json:"files_unmodified"`
	DataAdded    int64   `json:"data_added"`
	Files        int64   `json:"total_files_processed"`
	Bytes        int64   `json:"total_bytes_processed"`
	Duration     float64 `json:"total_duration"`
}

// Tags of a depot snapshot in restic.
const (
	resticTag      = "depot"
	tagSet         = "set="
	tagStamp       = "stamp="
	tagSection     = "section="
	resticTimeForm = "2006-01-02 15:04:05"
)

// ErrResticPassword means restic could not open the repository with the
// password given.
var ErrResticPassword = errors.New("wrong password for the restic repository, or no key in it")

// env is what restic's environment adds to depot's: the repository, the
// password's source, the backend's credentials, and UTC for the times.
func (r Restic) env() ([]string, error) {
	env := []string{"RESTIC_REPOSITORY=" + r.Repository, "TZ=UTC",
		"RESTIC_PASSWORD=", "RESTIC_PASSWORD_FILE=", "RESTIC_PASSWORD_COMMAND=", "RESTIC_REPOSITORY_FILE="}
	switch {
	case r.PasswordFile != "":
		env = append(env, "RESTIC_PASSWORD_FILE="+r.PasswordFile)
	case r.PasswordEnv != "":
		pw, ok := os.LookupEnv(r.PasswordEnv)
		if !ok || pw == "" {
			return nil, fmt.Errorf("password_env: $%s is not set", r.PasswordEnv)
		}
		env = append(env, "RESTIC_PASSWORD="+pw)
	}
	if r.EnvFile != "" {
		more, err := readEnvFile(r.EnvFile)
		if err != nil {
			return nil, err
		}
		env = append(env, more...)
	}
	return env, nil
}

// readEnvFile reads KEY=value lines; blank lines and # comments are
// skipped. Errors name the line, never its value.
func readEnvFile(path string) ([]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("env_file: %w", err)
	}
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		line = strings.TrimPrefix(line, "export ")
		key, value, ok := strings.Cut(line, "=")
		if !ok || key == "" || strings.ContainsAny(key, " \t") {
			return nil, fmt.Errorf("env_file %s:%d: want KEY=value", path, n)
		}
		if len(value) >= 2 && (value[0] == '"' || value[0] == '\'') && value[len(value)-1] == value[0] {
			value = value[1 : len(value)-1]
		}
		out = append(out, key+"="+value)
	}
	return out, sc.Err()
}

// run runs restic with args (and the limits), stdout to out.
func (r Restic) run(ctx context.Context, dir string, extraEnv []string, out io.Writer, args ...string) error {
	env, err := r.env()
	if err != nil {
		return err
	}
	bin := r.Binary
	if bin == "" {
		bin = "restic"
	}
	argv := []string{bin}
	if r.Limit > 0 {
		l := strconv.Itoa(r.Limit)
		argv = append(argv, "--limit-upload", l, "--limit-download", l)
	}
	argv = append(argv, args...)
	err = hosts.Local{}.Run(ctx, hosts.Command{Argv: argv, Env: append(env, extraEnv...), Dir: dir, Stdout: out})
	var exit *hosts.ExitError
	if errors.As(err, &exit) {
		if strings.Contains(exit.Stderr, "wrong password") || strings.Contains(exit.Stderr, "no key found") {
			return fmt.Errorf("restic %s: %w", args[0], ErrResticPassword)
		}
		return fmt.Errorf("restic %s: %s", args[0], resticMessage(exit))
	}
	if err != nil {
		return fmt.Errorf("restic %s: %w", args[0], err)
	}
	return nil
}

// resticMessage is the gist of a failed restic: its last Fatal line, or
// the tail of its stderr.
func resticMessage(e *hosts.ExitError) string {
	lines := strings.Split(strings.TrimSpace(e.Stderr), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.HasPrefix(lines[i], "Fatal: ") {
			return fmt.Sprintf("exited %d: %s", e.Code, strings.TrimPrefix(lines[i], "Fatal: "))
		}
	}
	return e.Error()
}

// Init creates the restic repository in format version 2, which
// compresses (restic 0.14 makes version 1 unless told): an offsite copy is
// paid by the byte.
func (r Restic) Init(ctx context.Context) error {
	return r.run(ctx, "", nil, io.Discard, "init", "--quiet", "--repository-version", "2")
}

// Unlock removes the stale locks a killed restic left behind (and only
// those).
func (r Restic) Unlock(ctx context.Context) error {
	return r.run(ctx, "", nil, io.Discard, "unlock", "--quiet")
}

// Snapshots lists the depot snapshots in the restic repository, oldest first.
func (r Restic) Snapshots(ctx context.Context) ([]ResticSnapshot, error) {
	var out bytes.Buffer
	if err := r.run(ctx, "", nil, &out, "snapshots", "--json", "--tag", resticTag); err != nil {
		return nil, err
	}
	var snaps []ResticSnapshot
	if err := json.Unmarshal(out.Bytes(), &snaps); err != nil {
		return nil, fmt.Errorf("restic snapshots: %w", err)
	}
	var depot []ResticSnapshot
	for _, s := range snaps {
		for _, t := range s.Tags {
			switch {
			case strings.HasPrefix(t, tagSet):
				s.Set = strings.TrimPrefix(t, tagSet)
			case strings.HasPrefix(t, tagStamp):
				s.Stamp = strings.TrimPrefix(t, tagStamp)
			case strings.HasPrefix(t, tagSection):
				s.Section = strings.TrimPrefix(t, tagSection)
			}
		}
		if s.Set != "" && s.Stamp != "" {
			depot = append(depot, s)
		}
	}
	sort.SliceStable(depot, func(i, j int) bool { return depot[i].Stamp < depot[j].Stamp })
	return depot, nil
}

// BackupOptions say how one depot snapshot goes into restic.
type BackupOptions struct {
	// Stable is the path restic records: a symbolic link to the snapshot
	// that is the same for every snapshot of the set, so restic's parent
	// and its change detection work from one snapshot to the next.
	Stable string
	Parent string // ID of the set's previous restic snapshot, if any
}

// Backup stores the depot snapshot s (reached through o.Stable, which must
// point at it) as a restic snapshot dated at its stamp and tagged with its
// set, section and stamp. It returns restic's summary once restic has saved
// the snapshot; a cut backup saves none.
func (r Restic) Backup(ctx context.Context, s Snapshot, o BackupOptions) (ResticSummary, error) {
	at, err := time.Parse(StampLayout, s.Stamp)
	if err != nil {
		return ResticSummary{}, fmt.Errorf("stamp %s: %w", s.Stamp, err)
	}
	args := []string{"backup", "--json", "--host", "depot", "--time", at.UTC().Format(resticTimeForm),
		"--tag", resticTag, "--tag", tagSet + s.Set, "--tag", tagSection + s.Section, "--tag", tagStamp + s.Stamp,
		// A depot snapshot hard-links unchanged files, which changes their
		// ctime: size, mtime and inode tell restic what changed.
		"--ignore-ctime"}
	if o.Parent != "" {
		args = append(args, "--parent", o.Parent)
	}
	args = append(args, ".")
	var out bytes.Buffer
	// Go's and restic's working directory is $PWD when it is the same
	// directory: the stable link's name, not where it points.
	if err := r.run(ctx, o.Stable, []string{"PWD=" + o.Stable}, &out, args...); err != nil {
		return ResticSummary{}, err
	}
	sc := bufio.NewScanner(&out)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		var msg struct {
			Type string `json:"message_type"`
			ResticSummary
		}
		if json.Unmarshal(sc.Bytes(), &msg) == nil && msg.Type == "summary" && msg.SnapshotID != "" {
			return msg.ResticSummary, nil
		}
	}
	return ResticSummary{}, errors.New("restic backup: no snapshot saved (no summary in its output)")
}

// Retag records that a snapshot now lives in section (it migrated).
func (r Restic) Retag(ctx context.Context, s ResticSnapshot, section string) error {
	args := []string{"tag", "--quiet"}
	if s.Section != "" {
		args = append(args, "--remove", tagSection+s.Section)
	}
	args = append(args, "--add", tagSection+section, s.ID)
	return r.run(ctx, "", nil, io.Discard, args...)
}

// Forget removes the snapshots with the given IDs and prunes the data only
// they held.
func (r Restic) Forget(ctx context.Context, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	args := append([]string{"forget", "--quiet", "--prune"}, ids...)
	return r.run(ctx, "", nil, io.Discard, args...)
}

// Restore writes the restic snapshot id (or only the paths inside it that
// include names, such as "/manifest.json") into dir.
func (r Restic) Restore(ctx context.Context, id, dir string, include ...string) error {
	args := []string{"restore", "--quiet", id, "--target", dir}
	for _, in := range include {
		args = append(args, "--include", in)
	}
	return r.run(ctx, "", nil, io.Discard, args...)
}

// Check checks the repository's structure, and with subset (restic's
// --read-data-subset: "5%", "1/10") reads and checks that share of the data.
func (r Restic) Check(ctx context.Context, subset string, out io.Writer) error {
	args := []string{"check"}
	if subset != "" {
		args = append(args, "--read-data-subset", subset)
	}
	return r.run(ctx, "", nil, out, args...)
}

// RawSize returns the bytes the repository stores (restic stats --mode
// raw-data).
func (r Restic) RawSize(ctx context.Context) (int64, error) {
	var out bytes.Buffer
	if err := r.run(ctx, "", nil, &out, "stats", "--json", "--mode", "raw-data"); err != nil {
		return 0, err
	}
	var st struct {
		Size int64 `json:"total_size"`
	}
	if err := json.Unmarshal(out.Bytes(), &st); err != nil {
		return 0, fmt.Errorf("restic stats: %w", err)
	}
	return st.Size, nil
}
