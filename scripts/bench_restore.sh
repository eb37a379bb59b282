#!/usr/bin/env bash
# bench_restore.sh [FILES] — what restore confidence costs on a generated tree
# of FILES files (default 100000, 1.5 GB per 100,000 files), warm cache:
#   1. ls, versions and diff answered from the file lists (target: < 1 s each);
#   2. verify of 10 snapshots, 1% of the files changed between them, against
#      verify of one (target: at most 1.3x);
#   3. export of one snapshot against tar -I 'zstd -T0' of the same directory
#      (target: export no slower).
# Environment: BENCH_DIR (default <repo>/_bench; the tree is shared with
# bench.sh while FILES and the seed match), BENCH_SEED (1), BENCH_STRICT=1
# exits 1 when a target fails.
set -euo pipefail

FILES=${1:-100000}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_DIR=$(realpath -m "${BENCH_DIR:-$ROOT/_bench}")
SEED=${BENCH_SEED:-1}
BYTES=$((FILES * 15000))
BIN=$BENCH_DIR/bin
TREE=$BENCH_DIR/tree
MARKER=$BENCH_DIR/tree.marker
WORK=$BENCH_DIR/restore
CONFIG=$WORK/depot.yaml
DEPOT=$BIN/depot
FAILED=0

# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"
log() { printf '%s bench_restore: %s\n' "$(date +%T)" "$*" >&2; }

need_packages rsync zstd tar time >/dev/null
need_go
mkdir -p "$BIN"
(cd "$ROOT" && go build -o "$BIN/depot" . && go build -o "$BIN/gentree" ./scripts/gentree)

want="files=$FILES bytes=$BYTES seed=$SEED"
if [[ ! -d $TREE || ! -f $MARKER || $(cat "$MARKER") != "$want" ]]; then
	log "generating tree ($want)"
	rm -rf "$TREE" "$MARKER"
	"$BIN/gentree" -files "$FILES" -bytes "$BYTES" -seed "$SEED" "$TREE" >&2
	echo "$want" >"$MARKER"
fi

# The tree is changed below: work on a copy of it (hard links would be
# changed in place, so a real copy).
rm -rf "$WORK"
mkdir -p "$WORK"
cp -a "$TREE" "$WORK/src"
cat >"$CONFIG" <<CFG
version: 1
repository:
  path: $WORK/repo
  holding: { max_recent_backups: 100 }
sets:
  - name: bench
    items:
      - { name: tree, type: filesystem, paths: [$WORK/src] }
CFG
dep() { "$DEPOT" --quiet --config "$CONFIG" "$@"; }
dep init
log "10 snapshots, 1% of the files changed before each but the first"
for i in $(seq 1 10); do
	((i > 1)) && "$BIN/gentree" -touch 1 -seed "$((SEED * 100 + i))" "$WORK/src" >/dev/null
	dep run
done

# seconds CMD... prints CMD's wall time (the best of ROUNDS, default 3,
# warm cache).
seconds() {
	local best="" t
	for _ in $(seq "${ROUNDS:-3}"); do
		/usr/bin/time -f %e -o "$WORK/time" "$@" >/dev/null 2>"$WORK/err" || { cat "$WORK/err" >&2; return 1; }
		t=$(tail -n1 "$WORK/time")
		if [[ -z $best ]] || awk -v a="$t" -v b="$best" 'BEGIN{exit !(a<b)}'; then best=$t; fi
	done
	echo "$best"
}
check() { # check NAME VALUE LIMIT
	if awk -v v="$2" -v l="$3" 'BEGIN{exit !(v<=l)}'; then
		printf '%-44s %8s  (target <= %s) ok\n' "$1" "$2" "$3"
	else
		printf '%-44s %8s  (target <= %s) FAILED\n' "$1" "$2" "$3"
		FAILED=$((FAILED + 1))
	fi
}

stamps=($(dep list bench --json | grep -o '"stamp": *"[^"]*"' | cut -d'"' -f4))
first=${stamps[0]} last=${stamps[-1]}
dep ls bench >"$WORK/ls.txt"
file=$(awk '$1 ~ /^-/ {f = $NF} END {print f}' "$WORK/ls.txt") # the last: each list is read to its end
log "file lists: ls, versions, diff"
t_ls=$(seconds "$DEPOT" --config "$CONFIG" ls bench)
t_ls_json=$(seconds "$DEPOT" --config "$CONFIG" ls bench --json)
t_versions=$(seconds "$DEPOT" --config "$CONFIG" versions "$file" --set bench)
t_diff=$(seconds "$DEPOT" --config "$CONFIG" diff bench)
t_diff_all=$(seconds "$DEPOT" --config "$CONFIG" diff "bench@$first" "bench@$last")
t_diff_src=$(seconds "$DEPOT" --config "$CONFIG" diff bench --source)

log "verify: one snapshot, then all 10, alternating (a load change hits both)"
load_verify=$(cut -d' ' -f1 /proc/loadavg)
t_verify1="" t_verify10=""
for _ in 1 2 3; do
	a=$(ROUNDS=1 seconds "$DEPOT" --config "$CONFIG" verify "bench@$last")
	b=$(ROUNDS=1 seconds "$DEPOT" --config "$CONFIG" verify bench)
	if [[ -z $t_verify1 ]] || awk -v x="$a" -v y="$t_verify1" 'BEGIN{exit !(x<y)}'; then t_verify1=$a; fi
	if [[ -z $t_verify10 ]] || awk -v x="$b" -v y="$t_verify10" 'BEGIN{exit !(x<y)}'; then t_verify10=$b; fi
done
load_verify="$load_verify-$(cut -d' ' -f1 /proc/loadavg)"
ratio=$(awk -v a="$t_verify10" -v b="$t_verify1" 'BEGIN{printf "%.2f", a/b}')

log "export against tar -I 'zstd -T0'"
snap=$WORK/repo/holding/bench/$last
t_export=$(seconds sh -c "rm -f '$WORK/e.tar.zst'; '$DEPOT' --quiet --config '$CONFIG' export bench -o '$WORK/e.tar.zst'")
t_tar=$(seconds sh -c "tar -I 'zstd -T0' -cf '$WORK/t.tar.zst' -C '$snap' tree")
size_export=$(stat -c %s "$WORK/e.tar.zst")
size_tar=$(stat -c %s "$WORK/t.tar.zst")
rss_export=$( { /usr/bin/time -f %M "$DEPOT" --quiet --config "$CONFIG" export bench -o - >/dev/null; } 2>&1 | tail -n1)

echo
echo "restore confidence, $FILES files, 10 snapshots (times: best of 3, seconds)"
check "ls (whole snapshot)" "$t_ls" 1
check "ls --json" "$t_ls_json" 1
check "versions FILE (10 snapshots)" "$t_versions" 1
check "diff (newest against the one before)" "$t_diff" 1
check "diff first last" "$t_diff_all" 1
printf '%-44s %8s\n' "diff --source (walks the source)" "$t_diff_src"
printf '%-44s %8s\n' "load average while verifying" "$load_verify"
printf '%-44s %8s\n' "verify one snapshot" "$t_verify1"
printf '%-44s %8s\n' "verify 10 snapshots" "$t_verify10"
check "verify 10 / verify 1" "$ratio" 1.3
check "export (s)" "$t_export" "$t_tar"
printf '%-44s %8s\n' "tar -I 'zstd -T0' (s)" "$t_tar"
printf '%-44s %8s / %s bytes\n' "export / tar size" "$size_export" "$size_tar"
printf '%-44s %8s MB\n' "export max RSS" "$((rss_export / 1024))"

rm -rf "$WORK"
[[ ${BENCH_STRICT:-0} == 1 && $FAILED -gt 0 ]] && exit 1
exit 0
