#!/usr/bin/env bash
# Prepares everything the tests need on a fresh Debian machine (as root it
# installs what is missing), then runs go vet and the race-enabled test suite.
# Extra arguments go to `go test`, e.g. scripts/test.sh -run TestCrash -v
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

need_go
# rsync does the copying; acl and attr give getfacl/setfacl for checking what
# a snapshot preserved; the SSH tests start their own sshd on 127.0.0.1 and
# rsync runs the system ssh client; flock(1) (util-linux) holds remote locks;
# unshare (util-linux) and mount run the second machine of internal/sshtest.
need_packages rsync acl attr openssh-server openssh-client util-linux mount
mkdir -p /run/sshd
. scripts/services.sh && ensure_services # MariaDB, PostgreSQL, svn: installed, running, test accounts
# restic, and the REST server and S3 store (SeaweedFS) that the restic mirror
# tests start on 127.0.0.1: built once into ~/.cache/depot-test/bin.
. scripts/objectstore.sh && ensure_objectstore

echo "== go vet" >&2
go vet ./...
echo "== go test -race" >&2
# The root package runs the end-to-end tests (about 5 minutes alone, more on
# a loaded machine): go test's default 10-minute limit is too tight.
go test -race -count=1 -timeout 45m "$@" ./...
