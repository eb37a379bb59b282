#!/usr/bin/env bash
# bench_restic.sh [FILES] — a restic mirror to S3, against restic by hand.
#
# On the same generated tree as bench.sh (FILES files, default 100000, 1.5 GB
# per 100,000) it builds a repository of 10 snapshots with 1% of the files
# changed between them, starts a SeaweedFS S3 gateway on 127.0.0.1 (built by
# scripts/objectstore.sh), and measures:
#   depot mirror: the 10 snapshots into an empty restic repository in a
#         bucket of its own: wall time, max RSS, and the bytes stored (restic
#         stats --mode raw-data, and SeaweedFS's data directory) against
#         `du` of the depot repository;
#   restic by hand: the same 10 snapshots, oldest first, into another bucket,
#         as an expert would type it: from inside each snapshot, with
#         --parent the previous one and --ignore-ctime (without them restic
#         rereads every file of every snapshot).
# BENCH_DIR (default <repo>/_bench) holds everything.
set -euo pipefail

FILES=${1:-100000}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
. "$ROOT/scripts/lib.sh"
. "$ROOT/scripts/objectstore.sh"
BENCH_DIR=$(realpath -m "${BENCH_DIR:-$ROOT/_bench}")
BYTES=$((FILES * 15000))
W=$BENCH_DIR/restic
BIN=$W/bin
TREE=$(realpath -m "$BENCH_DIR/tree-remote-$FILES")
LOGS=$W/logs
RESULTS=$W/results

log() { printf '%s bench_restic: %s\n' "$(date +%T)" "$*" >&2; }
die() { log "error: $*"; exit 1; }
calc() { awk "BEGIN{printf \"$1\", $2}"; }

# timed NAME CMD...: runs CMD, writes "wall_s maxrss_kb" to $LOGS/NAME.time.
timed() {
	local name=$1
	shift
	if ! /usr/bin/time -f '%e %M' -o "$LOGS/$name.time" "$@" >"$LOGS/$name.log" 2>&1; then
		cat "$LOGS/$name.log" >&2
		die "$name failed"
	fi
}
wall() { cut -d' ' -f1 "$LOGS/$1.time"; }
rss_mb() { awk '{printf "%.0f", $2/1024}' "$LOGS/$1.time"; }

# free_port: a free port of 127.0.0.1 whose port+10000 is free too (SeaweedFS
# puts gRPC there).
free_port() {
	python3 -c '
import random, socket
while True:
    p = random.randint(20000, 55000)
    try:
        for q in (p, p + 10000):
            s = socket.socket(); s.bind(("127.0.0.1", q)); s.close()
        print(p); break
    except OSError:
        pass'
}

start_s3() {
	local p
	for p in master volume filer s3; do
		eval "PORT_$p=\$(free_port)"
	done
	mkdir -p "$W/s3"
	"$DEPOT_TEST_BIN/weed" server -dir="$W/s3" -ip=127.0.0.1 -ip.bind=127.0.0.1 \
		-master.port="$PORT_master" -volume.port="$PORT_volume" -filer.port="$PORT_filer" \
		-s3 -s3.port="$PORT_s3" -master.volumeSizeLimitMB=1024 -volume.max=0 >"$LOGS/weed.log" 2>&1 &
	WEED_PID=$!
	trap 'kill $WEED_PID 2>/dev/null || true' EXIT
	S3=http://127.0.0.1:$PORT_s3
	for _ in $(seq 600); do
		curl -fs -o /dev/null "$S3/" && return 0
		kill -0 "$WEED_PID" 2>/dev/null || break
		sleep 0.1
	done
	tail -n 20 "$LOGS/weed.log" >&2
	die "SeaweedFS does not answer on $S3"
}

main() {
	need_go
	need_packages rsync time curl
	ensure_objectstore
	rm -rf "$W"
	mkdir -p "$BIN" "$LOGS"
	(cd "$ROOT" && go build -o "$BIN/depot" . && go build -o "$BIN/gentree" ./scripts/gentree)
	if [[ ! -d $TREE ]]; then
		log "generating $FILES files in $TREE"
		"$BIN/gentree" -files "$FILES" -bytes "$BYTES" -seed 1 "$TREE" >&2
	fi
	start_s3
	local repo=$W/repo cfg=$W/depot.yaml tree=$W/tree
	printf 'correct horse battery staple\n' >"$W/restic.pass"
	printf 'AWS_ACCESS_KEY_ID=bench\nAWS_SECRET_ACCESS_KEY=bench-secret\n' >"$W/s3.env"
	export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench-secret
	cp -a "$TREE" "$tree" # a copy: gentree -touch rewrites files in place
	cat >"$cfg" <<CFG
version: 1
repository:
  path: $repo
  holding: { max_recent_backups: 100 }
sets:
  - name: bench
    items:
      - { name: tree, type: filesystem, paths: [$tree] }
mirrors:
  - { name: cloud, type: restic, repository: "s3:$S3/depot", password_file: $W/restic.pass, env_file: $W/s3.env }
CFG
	log "building a repository of 10 snapshots, 1% of files changed between them"
	"$BIN/depot" --config "$cfg" init >/dev/null 2>&1 || die "depot init"
	for i in $(seq 10); do
		[[ $i == 1 ]] || "$BIN/gentree" -touch 1 -seed "$((100 + i))" "$tree" >/dev/null 2>&1 || die "gentree -touch"
		"$BIN/depot" --config "$cfg" run >/dev/null 2>&1 || die "depot run $i"
	done
	local repo_kb
	repo_kb=$(du -sk "$repo/holding" | cut -f1)

	log "depot mirror cloud (10 snapshots into an empty restic repository on S3)"
	"$BIN/depot" --config "$cfg" init --mirror cloud >/dev/null 2>&1 || die "depot init --mirror"
	timed depot "$BIN/depot" --config "$cfg" mirror cloud
	local s3_kb_depot raw_depot
	raw_depot=$(RESTIC_REPOSITORY="s3:$S3/depot" RESTIC_PASSWORD_FILE=$W/restic.pass restic stats --json --mode raw-data | sed -n 's/.*"total_size":\([0-9]*\).*/\1/p')
	s3_kb_depot=$(du -sk "$W/s3" | cut -f1)

	log "restic by hand (the same snapshots into another bucket)"
	export RESTIC_REPOSITORY="s3:$S3/byhand" RESTIC_PASSWORD_FILE=$W/restic.pass
	restic init --repository-version 2 >/dev/null # as depot init --mirror does
	cat >"$W/byhand.sh" <<'SH'
set -e
parent=()
for snap in "$1"/holding/bench/*/; do
	stamp=$(basename "$snap")
	t=$(date -u -d "$(echo "$stamp" | sed -E 's/^(.{10})T(..)(..)(..)Z$/\1 \2:\3:\4/')" '+%F %T')
	cd "$snap"
	id=$(restic backup --json --ignore-ctime --time "$t" --tag "stamp=$stamp" "${parent[@]}" . | tail -n1 | sed -n 's/.*"snapshot_id":"\([^"]*\)".*/\1/p')
	parent=(--parent "$id")
done
SH
	timed byhand env TZ=UTC bash "$W/byhand.sh" "$repo"
	local raw_hand
	raw_hand=$(restic stats --json --mode raw-data | sed -n 's/.*"total_size":\([0-9]*\).*/\1/p')

	{
		printf 'bench_restic.sh %s files, %s GiB per snapshot, 10 snapshots (1%% changed between them), %s cores, %s:\n' \
			"$FILES" "$(calc %.2f "$(du -sk "$tree" | cut -f1) / 1048576")" "$(nproc)" "$(date -u +%F)"
		printf '  depot repository (du, hard links once)  %8.2f GiB\n' "$(calc %.2f "$repo_kb / 1048576")"
		printf '  depot mirror cloud    %7.1f s  max RSS %5s MB (the largest of depot and its restic)\n' "$(wall depot)" "$(rss_mb depot)"
		printf '  restic by hand        %7.1f s\n' "$(wall byhand)"
		printf '  time ratio depot / by hand  %.2f (target <= 1.1)\n' "$(calc %.2f "$(wall depot) / $(wall byhand)")"
		printf '  stored by the mirror: restic raw data %.2f GiB (%.2f x the repository); S3 data directory %.2f GiB\n' \
			"$(calc %.2f "$raw_depot / 1073741824")" "$(calc %.2f "$raw_depot / 1024 / $repo_kb")" "$(calc %.2f "$s3_kb_depot / 1048576")"
		printf '  stored by restic by hand: raw data %.2f GiB\n' "$(calc %.2f "$raw_hand / 1073741824")"
	} | tee "$RESULTS"
	kill "$WEED_PID" 2>/dev/null || true
	rm -rf "$tree" "$repo" "$W/s3"
}

main "$@"
