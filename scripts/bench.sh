#!/usr/bin/env bash
# bench.sh [--files N] [--scale] [FILES] — how much a no-change `depot run`
# costs next to the plain `rsync --link-dest` snapshot it wraps.
#
# --files N is FILES. --scale measures only one row of the scale table
# instead, on a tree of N files: a first copy and a no-change snapshot by
# depot and by rsync (time and max RSS each, one round), depot list and
# depot prune of one snapshot against rm -rf of a copy, and depot's max RSS
# per file; it appends the row to $BENCH_DIR/scale.md and prints the table.
# BENCH_FILE_BYTES (default 15000) is the mean file size.
#
# On a generated tree of FILES files (default 100000, 1.5 GB per 100,000 files)
# it measures, warm cache, median of $BENCH_ROUNDS runs, alternating:
#   1. no-change `depot run` vs the same rsync command run by hand (options read
#      from `depot plan`), each into a new snapshot directory: wall time, max
#      RSS; plus that rsync in depot's directory layout, and depot's phases
#      (the quick path's walk, comparison and hard-linking, rsync, file list,
#      publish), to show where depot's time goes;
#   2. what the preservation flags cost: `rsync -a` vs `rsync -aHAX --numeric-ids`;
#   3. the disk a no-change depot snapshot adds (du counts hard links once);
#   4. push and pull over SSH against rsync -e ssh, by scripts/bench_remote.sh
#      on the same number of files (BENCH_SKIP_REMOTE=1 leaves this out);
#   5. ls, versions, diff, verify of 10 snapshots and export, by
#      scripts/bench_restore.sh (BENCH_SKIP_RESTORE=1 leaves this out).
# and prints a table with the targets and a summary block to paste in notes.
# `scripts/bench.sh 2000` takes under a minute; the default about 20 minutes here.
#
# Environment: BENCH_DIR (default <repo>/_bench, gitignored, and skipped by the go tool) holds the
# binaries, the tree (reused while FILES and the seed match) and the snapshots
# (removed at the end); BENCH_SEED (1); BENCH_ROUNDS (3); BENCH_STRICT=1 exits 1
# when a target fails.
set -euo pipefail

FILES=100000
SCALE=0
while (($# > 0)); do
	case $1 in
	--files) FILES=${2:-}; shift 2 || { echo "usage: $0 [--files N] [--scale] [FILES]" >&2; exit 2; } ;;
	--files=*) FILES=${1#--files=}; shift ;;
	--scale) SCALE=1; shift ;;
	-*) echo "usage: $0 [--files N] [--scale] [FILES]" >&2; exit 2 ;;
	*) FILES=$1; shift ;;
	esac
done
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_DIR=$(realpath -m "${BENCH_DIR:-$ROOT/_bench}")
SEED=${BENCH_SEED:-1}
ROUNDS=${BENCH_ROUNDS:-3}
BYTES=$((FILES * ${BENCH_FILE_BYTES:-15000})) # 1.5 GB per 100,000 files

# Targets.
MAX_RATIO=1.15 # depot wall time / plain rsync wall time
MAX_RSS_MB=150 # depot's max RSS
MAX_DISK_PCT=1 # disk added by a no-change snapshot, % of the tree

BIN=$BENCH_DIR/bin
TREE=$BENCH_DIR/tree
MARKER=$BENCH_DIR/tree.marker
CONFIG=$BENCH_DIR/depot.yaml
REPO=$BENCH_DIR/repo
BASELINE=$BENCH_DIR/baseline # plain rsync snapshots 0, 1, 2, ...
FLAGCOST=$BENCH_DIR/flagcost # rsync -a vs -aHAX snapshots
DEEP=$BENCH_DIR/deep         # plain rsync snapshots laid out as depot's
LOGS=$BENCH_DIR/logs
DEPOT=$BIN/depot

log() { printf '%s bench: %s\n' "$(date +%T)" "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

# ensure_tools installs what is missing with apt-get (as root, or via sudo).
# hyperfine is optional: handy for ad-hoc comparisons, but the figures here come
# from /usr/bin/time, which gives max RSS too and lets runs alternate; it is
# only tried when apt-get runs anyway, so a complete machine needs no network.
ensure_tools() {
	local missing=() sudo=()
	command -v rsync >/dev/null || missing+=(rsync)
	[[ -x /usr/bin/time ]] || missing+=(time)
	if ((${#missing[@]} > 0)); then
		if ((EUID != 0)); then
			command -v sudo >/dev/null || die "missing ${missing[*]}: run as root or install them"
			sudo=(sudo)
		fi
		command -v hyperfine >/dev/null || missing+=(hyperfine)
		log "installing ${missing[*]}"
		"${sudo[@]}" apt-get update -qq
		for pkg in "${missing[@]}"; do
			if ! DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "$pkg" >/dev/null; then
				[[ $pkg == hyperfine ]] || die "apt-get install $pkg failed"
				log "hyperfine not available (optional)"
			fi
		done
	fi
	export PATH=$PATH:/usr/local/go/bin
	command -v go >/dev/null || die "go not found (expected in /usr/local/go/bin)"
}

build() {
	mkdir -p "$BIN" "$LOGS"
	log "building depot and gentree into $BIN"
	(cd "$ROOT" && go build -o "$BIN/depot" . && go build -o "$BIN/gentree" ./scripts/gentree)
}

# ensure_tree generates the tree once; the marker says which parameters made
# it and is written last, so an interrupted generation is redone.
ensure_tree() {
	local want="files=$FILES bytes=$BYTES seed=$SEED"
	if [[ -d $TREE && -f $MARKER && $(cat "$MARKER") == "$want" ]]; then
		log "reusing tree ($want)"
	else
		log "generating tree ($want)"
		rm -rf "$TREE" "$MARKER"
		"$BIN/gentree" -files "$FILES" -bytes "$BYTES" -seed "$SEED" "$TREE" >&2
		echo "$want" >"$MARKER"
	fi
	TREE_KB=$(du -sk "$TREE" | cut -f1)
}

write_config() {
	cat >"$CONFIG" <<EOF
version: 1
repository:
  path: $REPO
  holding: { max_recent_backups: 100 }
sets:
  - name: bench
    items:
      - { name: tree, type: filesystem, paths: [$TREE] }
EOF
}

# remove_snapshots deletes everything but the binaries and the tree, so every
# run starts from the same state.
remove_snapshots() {
	rm -rf "$REPO" "$BASELINE" "$FLAGCOST" "$DEEP" "$LOGS"
	mkdir -p "$LOGS" "$BASELINE" "$FLAGCOST" "$DEEP/.partial/bench" "$DEEP/holding/bench"
}

# read_rsync_opts takes the options of the rsync command depot runs from the
# `runs` line of `depot plan` (minus --link-dest, which is set per snapshot),
# so the comparison stays fair when depot's flags change. The line is quoted
# for a shell ('--out-format=%i %n'); xargs splits it the same way, without
# the risks of eval.
read_rsync_opts() {
	local line word words=()
	line=$("$DEPOT" --config "$CONFIG" plan bench | sed -n 's/^ *runs *//p')
	RSYNC_OPTS=()
	if [[ $line == rsync\ * ]]; then
		mapfile -t words < <(xargs printf '%s\n' <<<"${line#rsync }")
		for word in "${words[@]}"; do
			[[ $word == -- ]] && break
			[[ $word == --link-dest=* ]] || RSYNC_OPTS+=("$word")
		done
	fi
	if ((${#RSYNC_OPTS[@]} == 0)); then
		log "warning: no rsync command in 'depot plan'; using depot's known flags"
		RSYNC_OPTS=(-aHAXR --numeric-ids --delete --delete-excluded --stats)
	fi
	log "depot's rsync options: $(printf '[%s] ' "${RSYNC_OPTS[@]}")"
}

# timed LABEL CMD... runs CMD under /usr/bin/time, appends "wall_s maxrss_kb"
# to $LOGS/LABEL.times and sends CMD's output to $LOGS/LABEL.N.log. The max RSS
# is that of the largest process in CMD's tree: for depot, the larger of depot
# itself and the rsync processes it starts.
timed() {
	local label=$1 n out
	shift
	touch "$LOGS/$label.times"
	n=$(($(wc -l <"$LOGS/$label.times") + 1))
	out=$LOGS/$label.$n.log
	if ! BENCH_RUN_LOG=$out /usr/bin/time -f '%e %M' -o "$LOGS/time.tmp" "$@" >"$out" 2>&1; then
		tail -n 20 "$out" >&2
		die "$label run $n failed: $*"
	fi
	tail -n 1 "$LOGS/time.tmp" >>"$LOGS/$label.times"
}

# Snapshot makers: each takes the label to time under (see timed) and creates
# a new snapshot directory per call. depot finds rsync through the shim (see
# make_rsync_shim).
depot_snapshot() { timed "$1" env "PATH=$BIN/shim:$PATH" "$DEPOT" --config "$CONFIG" run bench; }

BASE_N=-1 # newest plain rsync snapshot: $BASELINE/$BASE_N
rsync_snapshot() {
	local label=$1 link=()
	((BASE_N >= 0)) && link=(--link-dest="$BASELINE/$BASE_N")
	BASE_N=$((BASE_N + 1))
	timed "$label" rsync "${RSYNC_OPTS[@]}" "${link[@]}" -- "$TREE" "$BASELINE/$BASE_N/"
}

# Deep snapshots, timed as rsync_deep: the same rsync as rsync_snapshot, but
# built in $DEEP/.partial/bench/<stamp>/tree/, linked to the previous one in
# $DEEP/holding/bench/<stamp>/tree and then renamed there, as depot does. rsync
# resolves the whole link-dest and destination paths for every file (several
# syscalls each), so their depth alone costs measurable time; this series tells
# that cost of depot's layout apart from depot's own overhead. The first one
# links to baseline/0 and serves as the warm-up.
DEEP_N=-1
deep_stamp() { printf '2000-01-01T%06dZ' "$1"; } # as long as depot's stamps
rsync_deep_snapshot() {
	local link stamp
	if ((DEEP_N < 0)); then
		link=$BASELINE/0
	else
		link=$DEEP/holding/bench/$(deep_stamp "$DEEP_N")/tree
	fi
	DEEP_N=$((DEEP_N + 1))
	stamp=$(deep_stamp "$DEEP_N")
	mkdir -p "$DEEP/.partial/bench/$stamp"
	timed rsync_deep rsync "${RSYNC_OPTS[@]}" --link-dest="$link" -- "$TREE" "$DEEP/.partial/bench/$stamp/tree/"
	mv "$DEEP/.partial/bench/$stamp" "$DEEP/holding/bench/$stamp"
}

# Flag-cost snapshots, timed as fc_<kind>: $FLAGCOST/<kind>/N from "$TREE/"
# (not relative). The first of each links to baseline/0 so that no second full
# copy is made; it serves as the warm-up.
declare -A FC_N=([plain]=-1 [preserve]=-1)
flagcost_snapshot() {
	local kind=$1 opts link
	case $kind in
	plain) opts=(-a) ;;
	preserve) opts=(-aHAX --numeric-ids) ;;
	esac
	if ((FC_N[$kind] < 0)); then
		link=$BASELINE/0$TREE
	else
		link=$FLAGCOST/$kind/${FC_N[$kind]}
	fi
	FC_N[$kind]=$((FC_N[$kind] + 1))
	mkdir -p "$FLAGCOST/$kind"
	timed "fc_$kind" rsync "${opts[@]}" --link-dest="$link" "$TREE/" "$FLAGCOST/$kind/${FC_N[$kind]}/"
}

# make_rsync_shim puts an `rsync` first on the PATH depot gets, which records
# next to the run's log (see timed) its arguments, one a line, and when the
# real rsync starts and ends (epoch ms): depot's item phase then splits into
# rsync and the file-list scan after it, and the arguments show whether depot
# runs the command `depot plan` prints. It costs a few ms per depot run.
make_rsync_shim() {
	local real
	real=$(command -v rsync)
	mkdir -p "$BIN/shim"
	cat >"$BIN/shim/rsync" <<EOF
#!/bin/sh
printf '%s\\n' "\$@" >"\${BENCH_RUN_LOG%.log}.rsync-argv"
start=\$(date +%s%3N)
"$real" "\$@"
rc=\$?
echo "\$start \$(date +%s%3N)" >>"\${BENCH_RUN_LOG%.log}.rsync-ms"
exit \$rc
EOF
	chmod +x "$BIN/shim/rsync"
}

# ran_opts FILE prints the options in a shim's argv record, as read_rsync_opts
# keeps them from the plan, joined by spaces.
ran_opts() { awk '$0 == "--" {exit} !/^--link-dest=/' "$1" | paste -sd' '; }

# col LABEL FIELD SKIP prints field 1 (wall s) or 2 (max RSS KB) of the lines
# of LABEL.times after the first SKIP (the untimed warm-up).
col() { tail -n "+$(($3 + 1))" "$LOGS/$1.times" | cut -d' ' -f"$2"; }
median() { sort -g | awk '{a[NR]=$1} END{if (NR) print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
maxof() { sort -g | tail -n 1; }
calc() { awk "BEGIN{printf \"$1\", $2}"; }
verdict() {
	if awk "BEGIN{exit !($1)}"; then echo PASS; else echo FAIL; fi
}

# ms_of converts a depot log time (time=2026-11-22T00:27:18.601Z) to epoch ms.
ms_of() { date -d "$1" +%s%3N; }

# depot_phases prints, for one depot log and the rsync shim's record of that
# run, milliseconds: the quick path's walk of the source, its comparison with
# the base's file list, and its hard-linking (0 0 0 after a plain rsync run);
# rsync (every run of it); the file list after it (the rest of "backing up" →
# "item done"); manifest, publish and retention ("item done" → "set done");
# and the total from "backing up" to "set done". Empty when a mark is missing.
depot_phases() {
	local t0 t1 t2 r0 r1 rsync_ms=0 walk compare link
	t0=$(sed -n 's/^time=\([^ ]*\) .*msg="backing up".*/\1/p' "$1" | head -n 1)
	t1=$(sed -n 's/^time=\([^ ]*\) .*msg="item done".*/\1/p' "$1" | tail -n 1)
	t2=$(sed -n 's/^time=\([^ ]*\) .*msg="set done".*/\1/p' "$1" | tail -n 1)
	walk=$(sed -n 's/.*msg="quick path".* walk_ms=\([0-9]*\).*/\1/p' "$1" | head -n 1)
	compare=$(sed -n 's/.*msg="quick path".* compare_ms=\([0-9]*\).*/\1/p' "$1" | head -n 1)
	link=$(sed -n 's/.*msg="quick path".* link_ms=\([0-9]*\).*/\1/p' "$1" | head -n 1)
	if [[ -f $2 ]]; then
		while read -r r0 r1; do rsync_ms=$((rsync_ms + r1 - r0)); done <"$2"
	fi
	# No record of rsync: the quick path found nothing for it to do.
	[[ -n $t0 && -n $t1 && -n $t2 ]] || return 0
	t0=$(ms_of "$t0") t1=$(ms_of "$t1") t2=$(ms_of "$t2")
	walk=${walk:-0} compare=${compare:-0} link=${link:-0}
	echo "$walk $compare $link $rsync_ms $((t1 - t0 - walk - compare - link - rsync_ms)) $((t2 - t1)) $((t2 - t0))"
}

# phase_line "WALK COMPARE LINK RSYNC LIST POST TOTAL" (ms) WALL_S describes
# where a depot run's time goes (medians of each phase).
phase_line() {
	local walk compare link rsync_ms list_ms post_ms total_ms
	read -r walk compare link rsync_ms list_ms post_ms total_ms <<<"$1"
	if [[ -z ${total_ms:-} ]]; then
		echo "unknown (depot's log lacks the expected messages)"
		return
	fi
	# The rest is derived, so it can come out a hair below 0: say 0.
	awk -v wk="$walk" -v c="$compare" -v l="$link" -v r="$rsync_ms" -v s="$list_ms" -v p="$post_ms" -v t="$total_ms" -v w="$2" 'BEGIN{
		o = w - t/1000; if (o < 0) o = 0
		printf "%.2f s = walk %.2f + compare %.2f + hard-link %.2f + rsync %.2f + file list %.2f + manifest/publish/prune %.2f + start-up/lock/plan %.2f (medians)\n",
			w, wk/1000, c/1000, l/1000, r/1000, s/1000, p/1000, o }'
}

# opts_line says whether depot's timed runs used the rsync options `depot plan`
# printed (which the plain rsync series uses).
opts_line() {
	local planned ran
	planned="${RSYNC_OPTS[*]}"
	ran=$(ran_opts "$LOGS/depot.2.rsync-argv" 2>/dev/null || true)
	if [[ -z $ran ]] && grep -q 'msg="quick path".* to_rsync=0 ' "$LOGS/depot.2.log"; then
		echo "quick path: nothing changed, so rsync did not run; a plain run uses $planned"
	elif [[ -z $ran ]]; then
		echo "arguments not recorded"
	elif grep -q 'msg="quick path"' "$LOGS/depot.2.log"; then
		echo "quick path: rsync got only the directories and changed files ($ran); a plain run uses $planned"
	elif [[ $ran == "$planned" ]]; then
		echo "ran as 'depot plan' prints: $planned"
	else
		echo "MISMATCH: 'depot plan' prints $planned; depot ran $ran"
	fi
}

report() {
	local du_before=$1 du_after=$2 phases=$3
	local d_wall r_wall d_rss r_rss ratio dp_wall dp_rss fp_wall fh_wall fc_ratio disk_kb disk_pct
	d_wall=$(col depot 1 1 | median)
	r_wall=$(col rsync 1 1 | median)
	d_rss=$(col depot 2 1 | maxof)
	r_rss=$(col rsync 2 1 | maxof)
	ratio=$(calc %.2f "$d_wall / $r_wall")
	dp_wall=$(col rsync_deep 1 1 | median)
	dp_rss=$(col rsync_deep 2 1 | maxof)
	fp_wall=$(col fc_plain 1 1 | median)
	fh_wall=$(col fc_preserve 1 1 | median)
	fc_ratio=$(calc %.2f "$fh_wall / $fp_wall")
	disk_kb=$((du_after - du_before))
	disk_pct=$(calc %.3f "100 * $disk_kb / $TREE_KB")

	local v_ratio v_rss v_disk
	v_ratio=$(verdict "$ratio <= $MAX_RATIO")
	v_rss=$(verdict "$d_rss / 1024 < $MAX_RSS_MB")
	v_disk=$(verdict "$disk_pct < $MAX_DISK_PCT")
	FAILED=$(printf '%s\n' "$v_ratio" "$v_rss" "$v_disk" | grep -c FAIL || true)

	local commit
	commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
	[[ -n $(git -C "$ROOT" status --porcelain 2>/dev/null) ]] && commit+="+dirty"

	echo
	echo "No-change snapshot, warm cache, median of $ROUNDS alternating runs"
	printf '%-34s %10s %12s\n' "" "wall s" "max RSS MB"
	printf '%-34s %10s %12s\n' "depot run" "$d_wall" "$(calc %.1f "$d_rss / 1024")"
	printf '%-34s %10s %12s\n' "rsync --link-dest (same flags)" "$r_wall" "$(calc %.1f "$r_rss / 1024")"
	printf '%-34s %10s %12s\n' "  the same in depot's layout" "$dp_wall" "$(calc %.1f "$dp_rss / 1024")"
	echo
	printf '%-34s %10s %12s %s\n' "check" "measured" "target" "verdict"
	printf '%-34s %10s %12s %s\n' "wall depot/rsync" "$ratio" "<= $MAX_RATIO" "$v_ratio"
	printf '%-34s %10s %12s %s\n' "depot max RSS MB" "$(calc %.1f "$d_rss / 1024")" "< $MAX_RSS_MB" "$v_rss"
	printf '%-34s %10s %12s %s\n' "disk added, % of tree" "$disk_pct" "< $MAX_DISK_PCT" "$v_disk"

	cat <<EOF

---- summary (paste into notes) ----
bench.sh $FILES files, $(calc %.2f "$TREE_KB / 1048576") GiB on disk (gentree seed $SEED), $(nproc) cores, $(rsync --version | head -n 1 | awk '{print $1, $2, $3}'), depot $commit, $(date -u +%F)
first copy:          depot $(col depot_first 1 0) s, rsync $(col rsync_first 1 0) s
no-change snapshot:  depot $d_wall s (max RSS $(calc %.1f "$d_rss / 1024") MB), rsync $r_wall s (max RSS $(calc %.1f "$r_rss / 1024") MB)
                     ratio depot/rsync $ratio (target <= $MAX_RATIO: $v_ratio); depot RSS target < $MAX_RSS_MB MB: $v_rss
depot's layout:      rsync $dp_wall s in depot's directory layout vs $r_wall s in baseline/N (x$(calc %.2f "$dp_wall / $r_wall")); depot takes x$(calc %.2f "$d_wall / $dp_wall") of that
depot phases:        $(phase_line "$phases" "$d_wall")
depot's rsync:       $(opts_line)
rsync flags cost:    -a $fp_wall s, -aHAX --numeric-ids $fh_wall s, ratio $fc_ratio
disk per no-change:  $disk_kb KiB = $disk_pct% of the tree ($TREE_KB KiB) (target < $MAX_DISK_PCT%: $v_disk)
load average:        $LOAD_START before the benchmark (1 min; near 0 means a quiet machine)
timed runs, wall s:  depot $(col depot 1 1 | paste -sd' '), rsync $(col rsync 1 1 | paste -sd' '), rsync in depot's layout $(col rsync_deep 1 1 | paste -sd' ')
---- end ----
EOF
}

# scale_row measures one row of the scale table on a tree of $FILES files.
scale_row() {
	log "scale: first copies"
	depot_snapshot s_depot_first
	rsync_snapshot s_rsync_first
	sleep 1.1 # the quick path trusts no ctime within a second of the base's walk
	log "scale: no-change snapshots"
	depot_snapshot s_depot
	rsync_snapshot s_rsync
	log "scale: depot list (walking every snapshot, then from the record)"
	timed s_list_walk "$DEPOT" --config "$CONFIG" list
	timed s_list "$DEPOT" --config "$CONFIG" list
	log "scale: prune one snapshot against rm -rf of a copy of it"
	local oldest
	oldest=$(ls "$REPO/holding/bench" | head -n 1)
	cp -al "$REPO/holding/bench/$oldest" "$BENCH_DIR/rm-copy"
	sync
	sed -i 's/max_recent_backups: 100/max_recent_backups: 1/' "$CONFIG"
	timed s_rm rm -rf "$BENCH_DIR/rm-copy"
	timed s_prune "$DEPOT" --config "$CONFIG" prune
	sed -i 's/max_recent_backups: 1$/max_recent_backups: 100/' "$CONFIG"

	local t=$BENCH_DIR/scale.md
	if [[ ! -f $t ]]; then
		echo '| files | first copy: depot | rsync | no-change: depot | rsync --link-dest | ratio | depot RSS / file | list (walk / record) | prune / rm -rf |' >"$t"
		echo '|---|---|---|---|---|---|---|---|---|' >>"$t"
	fi
	printf '| %s | %s s, %s MB | %s s, %s MB | %s s, %s MB | %s s, %s MB | %s | %s B | %s s / %s s | %s s / %s s |\n' \
		"$FILES" "$(scale_wall s_depot_first)" "$(scale_rss s_depot_first)" "$(scale_wall s_rsync_first)" "$(scale_rss s_rsync_first)" \
		"$(scale_wall s_depot)" "$(scale_rss s_depot)" "$(scale_wall s_rsync)" "$(scale_rss s_rsync)" \
		"$(calc %.2f "$(scale_wall s_depot) / $(scale_wall s_rsync)")" \
		"$(calc %.0f "$(col s_depot 2 0 | tail -n 1) * 1024 / $FILES")" \
		"$(scale_wall s_list_walk)" "$(scale_wall s_list)" "$(scale_wall s_prune)" "$(scale_wall s_rm)" >>"$t"
	echo
	echo "bench.sh --scale: $(nproc) cores, $(rsync --version | head -n 1 | awk '{print $1, $2, $3}'), $(date -u +%F), load $LOAD_START at the start; $t:"
	cat "$t"
	rm -rf "$REPO" "$BASELINE"
}
scale_wall() { col "$1" 1 0 | tail -n 1; }
scale_rss() { col "$1" 2 0 | tail -n 1 | awk '{printf "%.0f", $1/1024}'; }

main() {
	[[ $FILES =~ ^[1-9][0-9]*$ ]] || die "usage: $0 [--files N] [--scale] [FILES]"
	((ROUNDS >= 1)) || die "BENCH_ROUNDS must be at least 1"
	ensure_tools
	build
	# Other work on the machine skews every figure: say how busy it was.
	LOAD_START=$(cut -d' ' -f1 /proc/loadavg)
	awk "BEGIN{exit !($LOAD_START > 0.5)}" && log "warning: load average $LOAD_START before the benchmark; figures may be noisy"
	ensure_tree
	write_config
	remove_snapshots
	"$DEPOT" --config "$CONFIG" init >/dev/null 2>&1 || die "depot init $REPO failed"
	make_rsync_shim
	read_rsync_opts
	if ((SCALE)); then
		scale_row
		return 0
	fi

	# First copies (reported, not part of the comparison), then one untimed
	# warm-up of each so that both timed series start with a warm cache.
	log "first copies"
	depot_snapshot depot_first
	rsync_snapshot rsync_first
	log "warm-up"
	depot_snapshot depot
	rsync_snapshot rsync
	rsync_deep_snapshot

	local i
	for ((i = 1; i <= ROUNDS; i++)); do
		log "no-change round $i/$ROUNDS: depot, rsync, rsync in depot's layout"
		depot_snapshot depot
		rsync_snapshot rsync
		rsync_deep_snapshot
	done

	log "flag cost: rsync -a vs rsync -aHAX --numeric-ids (warm-up + $ROUNDS rounds)"
	flagcost_snapshot plain
	flagcost_snapshot preserve
	for ((i = 1; i <= ROUNDS; i++)); do
		flagcost_snapshot plain
		flagcost_snapshot preserve
	done

	log "disk added by a no-change depot snapshot"
	local du_before du_after
	du_before=$(du -sk "$REPO/holding/bench" | cut -f1)
	depot_snapshot depot_disk
	du_after=$(du -sk "$REPO/holding/bench" | cut -f1)

	# Where depot's time goes: each phase's median over the timed runs.
	local phases="" p
	for ((i = 2; i <= ROUNDS + 1; i++)); do
		phases+=$(depot_phases "$LOGS/depot.$i.log" "$LOGS/depot.$i.rsync-ms")$'\n'
	done
	p=""
	for i in 1 2 3 4 5 6 7; do
		p+="$(awk -v f="$i" 'NF{print $f}' <<<"$phases" | median) "
	done

	report "$du_before" "$du_after" "$p"

	log "removing the snapshots (the tree stays in $TREE)"
	rm -rf "$REPO" "$BASELINE" "$FLAGCOST" "$DEEP"

	# 4. Push and pull over SSH, the same comparison through a throwaway
	# sshd on 127.0.0.1 (its mirror and prune cases: run it by itself).
	if [[ ${BENCH_SKIP_REMOTE:-0} != 1 ]]; then
		log "push and pull over SSH: scripts/bench_remote.sh $FILES (BENCH_SKIP_REMOTE=1 leaves this out)"
		BENCH_SKIP_MIRROR=1 BENCH_DIR=$BENCH_DIR BENCH_ROUNDS=$ROUNDS "$ROOT/scripts/bench_remote.sh" "$FILES" || die "bench_remote.sh failed"
	fi
	# 5. ls, versions, diff, verify of 10 snapshots and export.
	if [[ ${BENCH_SKIP_RESTORE:-0} != 1 ]]; then
		log "restore confidence: scripts/bench_restore.sh $FILES (BENCH_SKIP_RESTORE=1 leaves this out)"
		BENCH_DIR=$BENCH_DIR "$ROOT/scripts/bench_restore.sh" "$FILES" || die "bench_restore.sh failed"
	fi
	[[ ${BENCH_STRICT:-0} == 1 && $FAILED -gt 0 ]] && exit 1
	return 0
}

main "$@"
