package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/depot-backup/depot/internal/sshtest"
	"github.com/depot-backup/depot/repository"
)

// newTwoHostEnv is newRemoteEnv on a second machine: the sshd sees its own
// directories at the source's and the repository's paths. The remote end's
// data (the repository in push mode, the source in pull mode) lives only
// there; what depot's host sees at that path is an empty directory, and what
// the remote sees at the local end's path is one too. The env's readers
// (snapshots, sourceTree, repoSide) look where the data really is.
func newTwoHostEnv(t testing.TB, mode string, files int, opts sshtest.Options) *remoteEnv {
	t.Helper()
	e := newSizedEnv(t, 2, files, 8<<10)
	moved := e.repo
	if mode == "pull" {
		moved = e.src
	}
	stash := filepath.Join(e.dir, "stash")
	if err := os.Rename(moved, stash); err != nil {
		t.Fatal(err)
	}
	opts.Separate = append(opts.Separate, e.src, e.repo)
	s := sshtest.Start(t, opts)
	if out, err := exec.Command("cp", "-a", stash+"/.", s.Remote(moved)).CombinedOutput(); err != nil {
		t.Fatalf("copy to the second machine: %v\n%s", err, out)
	}
	if err := os.RemoveAll(stash); err != nil {
		t.Fatal(err)
	}
	writeRemoteConfig(t, mode, s, e, sshSettings{})
	return &remoteEnv{testEnv: e, server: s, pull: mode == "pull"}
}

// srcSide is where this process finds the source tree that the set backs up.
func (e *remoteEnv) srcSide() string {
	if e.pull {
		return e.server.Remote(e.src)
	}
	return e.src
}

// repoSide is where this process finds the repository.
func (e *remoteEnv) repoSide() string {
	if e.pull {
		return e.repo
	}
	return e.server.Remote(e.repo)
}

// snapshots returns the published snapshots of set "web", on whichever host
// holds them.
func (e *remoteEnv) snapshots(t testing.TB) []repository.Snapshot {
	t.Helper()
	s, err := repository.Repo{Root: e.repoSide()}.Snapshots(context.Background(), "web")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// sourceTree is what a snapshot of the source must contain, read where the
// source is.
func (e *remoteEnv) sourceTree(t testing.TB) map[string]treeEntry {
	t.Helper()
	return (&testEnv{src: e.srcSide()}).sourceTree(t)
}

// emptyDir fails the test unless dir holds nothing.
func emptyDir(t testing.TB, dir, what string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) > 0 {
		var names []string
		for _, en := range entries {
			names = append(names, en.Name())
		}
		t.Errorf("%s (%s) is not empty: %v", what, dir, names)
	}
}
