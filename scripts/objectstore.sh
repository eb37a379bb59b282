# What the restic mirror tests need: sourced, not run (needs lib.sh).
#
# ensure_objectstore installs restic (Debian's package) and builds, once, the
# two servers the tests start on 127.0.0.1 for themselves: restic's REST
# server and SeaweedFS (an S3-compatible object store). Both are built from
# the Go module proxy into $DEPOT_TEST_BIN (default ~/.cache/depot-test/bin)
# and reused while they are there; every step is idempotent.
#
# Measured on 2 shared cores: rest-server 4-30 s; SeaweedFS 535 s with an
# empty module cache (about 2 GB downloaded), 386 s again with the modules
# there. With the binaries in place: nothing.

DEPOT_TEST_BIN=${DEPOT_TEST_BIN:-$HOME/.cache/depot-test/bin}
REST_SERVER_VERSION=v0.14.0
SEAWEEDFS_VERSION=v0.0.0-20261109003541-7506e5f91cd6

ensure_objectstore() {
  # restic from Debian: installs in seconds and is the restic an admin of a
  # Debian host runs (0.14 has everything depot uses: --json, --time,
  # --tag, --parent, --ignore-ctime, check --read-data-subset).
  need_packages restic || return 1
  mkdir -p "$DEPOT_TEST_BIN" || return 1
  _build_from_proxy rest-server github.com/restic/rest-server "$REST_SERVER_VERSION" ./cmd/rest-server || return 1
  _build_from_proxy weed github.com/seaweedfs/seaweedfs "$SEAWEEDFS_VERSION" ./weed || return 1
}

# _build_from_proxy BIN MODULE VERSION PKG builds PKG of MODULE@VERSION into
# $DEPOT_TEST_BIN/BIN unless a build of that version is there. `go install
# MODULE/...@VERSION` is not used: it asks the proxy for the module's version
# list (refused for rest-server) and refuses modules with replace directives
# (SeaweedFS); building in a writable copy of the module does neither
# (-trimpath: the copy's random path does not defeat the build cache).
_build_from_proxy() {
  local bin=$1 module=$2 version=$3 pkg=$4
  local stamp="$DEPOT_TEST_BIN/.$bin.version"
  if [ -x "$DEPOT_TEST_BIN/$bin" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$version" ]; then
    return 0
  fi
  echo "building $bin ($module@$version) into $DEPOT_TEST_BIN; the first build may take minutes" >&2
  local start dir work
  start=$(date +%s)
  dir=$(go mod download -json "$module@$version" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p') || return 1
  [ -n "$dir" ] || { echo "go mod download $module@$version: no directory" >&2; return 1; }
  work=$(mktemp -d) || return 1
  cp -r "$dir/." "$work" && chmod -R u+w "$work" &&
    (cd "$work" && go build -trimpath -o "$DEPOT_TEST_BIN/$bin.tmp" "$pkg") &&
    mv "$DEPOT_TEST_BIN/$bin.tmp" "$DEPOT_TEST_BIN/$bin" &&
    echo "$version" >"$stamp"
  local rc=$?
  rm -rf "$work"
  [ $rc -eq 0 ] || { echo "building $bin failed" >&2; return 1; }
  echo "built $bin in $(($(date +%s) - start)) s" >&2
}
