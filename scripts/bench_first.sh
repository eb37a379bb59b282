#!/usr/bin/env bash
# bench_first.sh [FILES] — a first snapshot (no base) by depot against plain
# `rsync -aHAX --numeric-ids` of the same tree, alternating (depot, rsync,
# depot, rsync, ...), each copy removed by `rm -rf` before the next of its
# kind, warm source cache. Prints per run wall, user+sys CPU (children
# included) and the load average, then the medians and their ratio.
#
# The tree is scripts/bench.sh's ($BENCH_DIR/tree, made by gentree; this
# script generates it the same way when it is missing). Environment:
# BENCH_DIR (default <repo>/_bench), BENCH_ROUNDS (5), BENCH_SEED (1),
# BENCH_DEPOT (a depot binary to time instead of building one), BENCH_TREE
# (a tree to copy instead, left as it is), BENCH_DEPOT_OLD (another depot
# binary, timed in each round too, as "old": before and after a change),
# BENCH_ITEM_OPTS (more settings of the item, in YAML flow style, e.g.
# "hash_while_copying: true"),
# BENCH_FRESH_FS=SIZE (e.g. 6G; root only): copy into an ext4 file system of
# its own, made afresh (mkfs on a loop device with direct I/O) before every
# run, instead of into $BENCH_DIR. On a machine shared with other jobs that
# delete many files, this keeps their deletions (and ours) from slowing the
# copies unevenly; both sides still write through the same disk. It runs in
# a mount namespace of its own (unshare -m).
#
# ext4 creates files slowly soon after many were deleted (recently deleted
# inodes are skipped on allocation), so a copy made right after an rm -rf of
# another can take several times longer: alternating gives both sides the
# same history, and the medians compare like with like.
set -euo pipefail

# Mounts in a namespace of our own: a process that copies the host's mounts
# into a new namespace meanwhile (a test's unshare -m) would otherwise keep
# the file system alive after each umount, and the loop device busy.
if [[ -n ${BENCH_FRESH_FS:-} && -z ${BENCH_IN_NS:-} ]]; then
	exec unshare -m --propagation private env BENCH_IN_NS=1 bash "$(realpath "$0")" "$@"
fi

FILES=${1:-100000}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_DIR=$(realpath -m "${BENCH_DIR:-$ROOT/_bench}")
ROUNDS=${BENCH_ROUNDS:-5}
SEED=${BENCH_SEED:-1}
TREE=${BENCH_TREE:-$BENCH_DIR/tree}
WORK=$BENCH_DIR/first
BIN=$BENCH_DIR/bin

log() { printf '%s bench_first: %s\n' "$(date +%T)" "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

mkdir -p "$BIN" "$WORK"
DEPOT=${BENCH_DEPOT:-}
if [[ -z $DEPOT ]]; then
	(cd "$ROOT" && go build -o "$BIN/depot-first" .) || die "go build failed"
	DEPOT=$BIN/depot-first
fi
want="files=$FILES bytes=$((FILES * 15000)) seed=$SEED"
if [[ -z ${BENCH_TREE:-} ]] && [[ ! -d $TREE || $(cat "$BENCH_DIR/tree.marker" 2>/dev/null) != "$want" ]]; then
	log "generating tree ($want)"
	(cd "$ROOT" && go build -o "$BIN/gentree" ./scripts/gentree)
	rm -rf "$TREE" "$BENCH_DIR/tree.marker"
	"$BIN/gentree" -files "$FILES" -bytes "$((FILES * 15000))" -seed "$SEED" "$TREE" >&2
	echo "$want" >"$BENCH_DIR/tree.marker"
fi

CONFIG=$WORK/depot.yaml
TARGET=$WORK
LOOP=
if [[ -n ${BENCH_FRESH_FS:-} ]]; then
	TARGET=$WORK/mnt
	mkdir -p "$TARGET"
	truncate -s "$BENCH_FRESH_FS" "$WORK/fs.img"
	LOOP=$(losetup -f --show --direct-io=on "$WORK/fs.img") || die "losetup failed"
	trap 'umount "$TARGET" 2>/dev/null; losetup -d "$LOOP"; rm -f "$WORK/fs.img"' EXIT
fi
# fresh_target empties the target file system (BENCH_FRESH_FS) or removes
# the copy at $1 with rm -rf.
fresh_target() {
	if [[ -n $LOOP ]]; then
		mountpoint -q "$TARGET" && { umount "$TARGET" || die "umount failed"; }
		# A loop device just set up or unmounted can be busy for a moment.
		local try
		for try in 1 2 3 4 5 6 7 8 9 10; do
			mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 "$LOOP" 2>/dev/null && break
			((try < 10)) || die "mkfs.ext4 $LOOP failed"
			sleep 0.5
		done
		mount "$LOOP" "$TARGET" || die "mount failed"
	else
		rm -rf "$1"
	fi
}
REPO=$TARGET/repo
cat >"$CONFIG" <<YAML
version: 1
repository:
  path: $REPO
  holding: { max_recent_backups: 100 }
sets:
  - name: bench
    items:
      - { name: tree, type: filesystem, paths: [$TREE]${BENCH_ITEM_OPTS:+, $BENCH_ITEM_OPTS} }
YAML

# timed LABEL CMD...: one line "LABEL wall user+sys maxrss_kb load1".
timed() {
	local label=$1
	shift
	local load
	load=$(cut -d' ' -f1 /proc/loadavg)
	/usr/bin/time -f '%e %U %S %M' -o "$WORK/time.tmp" "$@" >"$WORK/$label.log" 2>&1 || {
		tail -n 20 "$WORK/$label.log" >&2
		die "$label failed: $*"
	}
	read -r wall user sys rss <"$WORK/time.tmp"
	printf '%s %s %s %s %s\n' "$label" "$wall" "$(awk "BEGIN{print $user+$sys}")" "$rss" "$load" | tee -a "$WORK/results"
}

# depot_first [LABEL BINARY]
depot_first() {
	local label=${1:-depot} bin=${2:-$DEPOT}
	fresh_target "$REPO"
	mkdir -p "$REPO"
	"$bin" --config "$CONFIG" init >/dev/null 2>&1 || die "depot init failed"
	timed "$label" "$bin" --config "$CONFIG" run bench
}
rsync_first() {
	fresh_target "$TARGET/rsync"
	timed rsync rsync -aHAX --numeric-ids "$TREE" "$TARGET/rsync/"
}

: >"$WORK/results"
tar -cf - -C "$TREE" . | cat >/dev/null # warm the source cache
log "warm-up (untimed)"
depot_first >/dev/null
rsync_first >/dev/null
: >"$WORK/results"
for ((i = 1; i <= ROUNDS; i++)); do
	log "round $i/$ROUNDS"
	depot_first
	rsync_first
	if [[ -n ${BENCH_DEPOT_OLD:-} ]]; then
		depot_first old "$BENCH_DEPOT_OLD"
	fi
done
[[ -n $LOOP ]] || rm -rf "$REPO" "$WORK/rsync"

median() { sort -g | awk '{a[NR]=$1} END{if (NR) print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
col() { awk -v l="$1" -v f="$2" '$1 == l {print $f}' "$WORK/results" | median; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.2f", a/b}'; }
rw=$(col rsync 2) rc=$(col rsync 3)
for label in depot old; do
	grep -q "^$label " "$WORK/results" || continue
	w=$(col "$label" 2) c=$(col "$label" 3)
	echo "$label: wall $w s, cpu $c s; rsync: wall $rw s, cpu $rc s; ratio wall $(ratio "$w" "$rw"), cpu $(ratio "$c" "$rc") (medians of $ROUNDS)"
done
echo "load average during the runs: $(awk '{print $5}' "$WORK/results" | sort -g | sed -n '1p;$p' | paste -sd-)"
