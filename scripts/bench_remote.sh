#!/usr/bin/env bash
# bench_remote.sh [FILES] — depot over SSH and mirrors, against plain rsync.
#
# On the same generated tree as bench.sh (FILES files, default 100000, 1.5 GB
# per 100,000), with an sshd of its own on 127.0.0.1 (throwaway keys) that
# plays a second machine: it runs in its own mount namespace (unshare -m),
# where $W/srv is $W/remote-host and $W/srv/tree the tree (and the tree's
# own path is empty), while this host sees an empty $W/srv. The remote end's data (the pushed-to repository, the
# pulled source, the ssh mirror) exists only there, as on two machines. It
# measures in one run, warm cache, median of $BENCH_ROUNDS, alternating:
#   push: no-change `depot run` into a repository over SSH vs
#         rsync -aHAXR --numeric-ids --delete -e ssh --link-dest (same flags);
#   pull: the same with depot fetching from the source over SSH;
#   mirror: a repository of 10 snapshots (1% of files changed between them)
#         mirrored to an empty local directory and over SSH, against
#         `rsync -aHAX --numeric-ids` of the whole repository: time, max RSS
#         and disk use; and pruning one snapshot against `rm -rf` of a copy.
# BENCH_DIR (default <repo>/_bench) holds everything; BENCH_ROUNDS (3);
# BENCH_SKIP_MIRROR=1 leaves the mirror case out; BENCH_ONLY_MIRROR=1 runs
# only it.
set -euo pipefail

FILES=${1:-100000}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
. "$ROOT/scripts/lib.sh"
BENCH_DIR=$(realpath -m "${BENCH_DIR:-$ROOT/_bench}")
ROUNDS=${BENCH_ROUNDS:-3}
BYTES=$((FILES * 15000))
W=$BENCH_DIR/remote
BIN=$W/bin
TREE=$(realpath -m "$BENCH_DIR/tree-remote-$FILES") # rsync copies a symlink as a link: resolve it
LOGS=$W/logs
RESULTS=$W/results

log() { printf '%s bench_remote: %s\n' "$(date +%T)" "$*" >&2; }
die() { log "error: $*"; exit 1; }
median() { sort -g | awk '{a[NR]=$1} END{if (NR) print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
calc() { awk "BEGIN{printf \"$1\", $2}"; }

# timed NAME CMD...: runs CMD, appends "wall_s maxrss_kb user_s sys_s" to
# $LOGS/NAME.times.
timed() {
	local name=$1
	shift
	if ! /usr/bin/time -f '%e %M %U %S' -o "$LOGS/time.tmp" "$@" >"$LOGS/$name.last.log" 2>&1; then
		cat "$LOGS/$name.last.log" >&2
		die "$name failed"
	fi
	cat "$LOGS/time.tmp" >>"$LOGS/$name.times"
}
wall() { cut -d' ' -f1 "$LOGS/$1.times" | median; }
rss_mb() { cut -d' ' -f2 "$LOGS/$1.times" | sort -g | tail -n1 | awk '{printf "%.0f", $1/1024}'; }
# rss_per_file NAME: the largest max RSS of NAME's runs, in bytes a file.
rss_per_file() { cut -d' ' -f2 "$LOGS/$1.times" | sort -g | tail -n1 | awk -v n="$FILES" '{printf "%.0f", $1*1024/n}'; }
# cpu NAME: the median user+sys seconds of NAME's runs.
cpu() { awk '{print $3+$4}' "$LOGS/$1.times" | median; }

setup() {
	need_go
	need_packages rsync time openssh-server openssh-client util-linux
	rm -rf "$W"
	mkdir -p "$BIN" "$LOGS" /run/sshd
	(cd "$ROOT" && go build -o "$BIN/depot" . && go build -o "$BIN/gentree" ./scripts/gentree)
	if [[ ! -d $TREE ]]; then
		log "generating $FILES files in $TREE"
		"$BIN/gentree" -files "$FILES" -bytes "$BYTES" -seed 1 "$TREE" >&2
	fi
	TREE_KB=$(du -sk "$TREE" | cut -f1)
}

# start_sshd: an sshd on a free port of 127.0.0.1, keys made here, as a
# second machine: $RSRV is what it sees at $RSRV, $RBACK what this host sees
# of it.
start_sshd() {
	local d=$W/sshd
	RSRV=$W/srv
	RBACK=$W/remote-host
	mkdir -p "$d" "$RSRV" "$RBACK/tree"
	ssh-keygen -q -t ed25519 -N '' -f "$d/host_key"
	ssh-keygen -q -t ed25519 -N '' -f "$d/id_ed25519"
	cp "$d/id_ed25519.pub" "$d/authorized_keys"
	PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo 2299)
	cat >"$d/sshd_config" <<CFG
Port $PORT
ListenAddress 127.0.0.1
HostKey $d/host_key
AuthorizedKeysFile $d/authorized_keys
PidFile $d/sshd.pid
StrictModes no
UsePAM no
PasswordAuthentication no
PermitRootLogin prohibit-password
LogLevel ERROR
CFG
	# The tree moves to $RSRV/tree; an empty directory hides it at $TREE.
	mkdir -p "$W/empty"
	unshare -m --propagation private sh -c 'mount --bind "$1" "$2" && mount --bind "$3" "$2/tree" && mount --bind "$4" "$3" && exec /usr/sbin/sshd -f "$5" -E "$6"' \
		sh "$RBACK" "$RSRV" "$TREE" "$W/empty" "$d/sshd_config" "$d/sshd.log" || die "sshd in a mount namespace of its own (unshare -m, as root)"
	trap 'kill "$(cat "$W/sshd/sshd.pid" 2>/dev/null)" 2>/dev/null || true' EXIT
	for _ in $(seq 50); do
		ssh-keyscan -p "$PORT" 127.0.0.1 2>/dev/null | grep -q ed25519 && break
		sleep 0.1
	done
	echo "[127.0.0.1]:$PORT $(cut -d' ' -f1,2 "$d/host_key.pub")" >"$d/known_hosts"
	USERHOST=$(id -un)@127.0.0.1
	SSH="ssh -p $PORT -i $d/id_ed25519 -o UserKnownHostsFile=$d/known_hosts -o StrictHostKeyChecking=yes -o BatchMode=yes"
	SSH_YAML="ssh: { identity_file: $d/id_ed25519, known_hosts: $d/known_hosts }"
}

FLAGS=(-aHAXR --numeric-ids --delete --delete-excluded)

# bench_mode push|pull: no-change depot runs against plain rsync over ssh.
# The remote end is the second machine: the repository and rsync's snapshots
# in push mode, the tree in pull mode.
bench_mode() {
	local mode=$1 cfg=$W/$1.yaml repo=$W/$1-repo base=$W/$1-rsync tree=$TREE host_line="" source_line=""
	if [[ $mode == push ]]; then
		host_line="  host: $USERHOST:$PORT"
		repo=$RSRV/push-repo base=$RSRV/push-rsync
		mkdir -p "$RBACK/push-rsync"
	else
		source_line="    source: $USERHOST:$PORT"
		tree=$RSRV/tree
		mkdir -p "$base"
	fi
	cat >"$cfg" <<CFG
version: 1
repository:
  path: $repo
$host_line
  holding: { max_recent_backups: 100 }
$SSH_YAML
sets:
  - name: bench
$source_line
    items:
      - { name: tree, type: filesystem, paths: [$tree] }
CFG
	"$BIN/depot" --config "$cfg" init >/dev/null 2>&1 || die "depot init ($mode)"
	log "$mode: first (full) snapshots"
	timed "$mode-depot-first" "$BIN/depot" --config "$cfg" run
	local src=$TREE dst n=0
	[[ $mode == pull ]] && src=$USERHOST:$tree
	dst() { if [[ $mode == push ]]; then echo "$USERHOST:$base/$1/"; else echo "$base/$1/"; fi; }
	timed "$mode-rsync-first" rsync "${FLAGS[@]}" -e "$SSH" -- "$src" "$(dst 0)"
	printf '%-6s first run: depot %6.2f s (CPU %.2f s, max RSS %s MB, %s B/file), rsync -e ssh %6.2f s (CPU %.2f s, max RSS %s MB), load %s\n' \
		"$mode" "$(wall "$mode-depot-first")" "$(cpu "$mode-depot-first")" "$(rss_mb "$mode-depot-first")" "$(rss_per_file "$mode-depot-first")" \
		"$(wall "$mode-rsync-first")" "$(cpu "$mode-rsync-first")" "$(rss_mb "$mode-rsync-first")" "$(cut -d' ' -f1 /proc/loadavg)" | tee -a "$RESULTS"
	log "$mode: no-change runs, alternating"
	for i in $(seq 0 "$ROUNDS"); do
		timed "$mode-depot" "$BIN/depot" --config "$cfg" run
		n=$((n + 1))
		timed "$mode-rsync" rsync "${FLAGS[@]}" -e "$SSH" --link-dest="$base/$((n - 1))" -- "$src" "$(dst "$n")"
	done
	# The first alternating pair warmed the cache: drop it.
	for k in depot rsync; do sed -i 1d "$LOGS/$mode-$k.times"; done
	local d r
	d=$(wall "$mode-depot")
	r=$(wall "$mode-rsync")
	# Issue 9's targets at 100,000 files; at a few thousand (issue 17) the
	# fixed costs dominate, and the target is 1.1.
	local target=0.35
	((FILES >= 20000)) || target=1.1
	printf '%-6s no-change: depot %6.2f s (CPU %.2f s, max RSS %s MB, %s B/file), rsync -e ssh %6.2f s (CPU %.2f s), ratio %.3f (target <= %s), load %s\n' \
		"$mode" "$d" "$(cpu "$mode-depot")" "$(rss_mb "$mode-depot")" "$(rss_per_file "$mode-depot")" "$r" "$(cpu "$mode-rsync")" "$(calc %.3f "$d / $r")" "$target" "$(cut -d' ' -f1 /proc/loadavg)" | tee -a "$RESULTS"
	rm -rf "$W/$mode-rsync" "$W/$mode-repo" "$RBACK/$mode-rsync" "$RBACK/$mode-repo"
}

# bench_mirror: a 10-snapshot repository mirrored locally and over SSH.
bench_mirror() {
	local repo=$W/mirror-repo cfg=$W/mirror.yaml tree=$W/mirror-tree
	log "mirror: building a repository of 10 snapshots, 1% of files changed between them"
	cp -a "$TREE" "$tree" # a copy: gentree -touch rewrites files in place
	cat >"$cfg" <<CFG
version: 1
repository:
  path: $repo
  holding: { max_recent_backups: 100 }
$SSH_YAML
sets:
  - name: bench
    items:
      - { name: tree, type: filesystem, paths: [$tree] }
mirrors:
  - { name: local, target: $W/mirror-local }
  - { name: ssh, target: "$USERHOST:$PORT:$RSRV/mirror-ssh" }
CFG
	"$BIN/depot" --config "$cfg" init >/dev/null 2>&1 || die "depot init (mirror)"
	for m in local ssh; do
		"$BIN/depot" --config "$cfg" init --mirror "$m" >/dev/null 2>&1 || die "depot init --mirror $m"
	done
	for i in $(seq 10); do
		"$BIN/gentree" -touch 1 -seed "$((100 + i))" "$tree" >/dev/null 2>&1 || die "gentree -touch"
		"$BIN/depot" --config "$cfg" run >/dev/null 2>&1 || die "depot run $i"
	done
	local repo_kb
	repo_kb=$(du -sk "$repo/holding" | cut -f1)
	log "mirror: depot mirror local, depot mirror ssh, rsync -aHAX of the whole repository"
	timed mirror-local "$BIN/depot" --config "$cfg" mirror local
	timed mirror-ssh "$BIN/depot" --config "$cfg" mirror ssh
	timed mirror-rsync rsync -aHAX --numeric-ids "$repo/" "$W/rsync-copy/"
	local lkb skb rkb
	lkb=$(du -sk "$W/mirror-local/holding" | cut -f1)
	skb=$(du -sk "$RBACK/mirror-ssh/holding" | cut -f1)
	rkb=$(du -sk "$W/rsync-copy/holding" | cut -f1)
	{
		printf 'mirror of 10 snapshots (%s GiB in the repository):\n' "$(calc %.2f "$repo_kb / 1048576")"
		printf '  depot mirror local   %7.1f s  max RSS %5s MB  disk %5.1f%% of the repository\n' "$(wall mirror-local)" "$(rss_mb mirror-local)" "$(calc %.1f "100 * $lkb / $repo_kb")"
		printf '  depot mirror ssh     %7.1f s  max RSS %5s MB  disk %5.1f%% of the repository\n' "$(wall mirror-ssh)" "$(rss_mb mirror-ssh)" "$(calc %.1f "100 * $skb / $repo_kb")"
		printf '  rsync -aHAX (local)  %7.1f s  max RSS %5s MB  disk %5.1f%% of the repository\n' "$(wall mirror-rsync)" "$(rss_mb mirror-rsync)" "$(calc %.1f "100 * $rkb / $repo_kb")"
		printf '  ratios: local %.2f, ssh %.2f (target <= 1.2, disk within 5%%)\n' "$(calc %.2f "$(wall mirror-local) / $(wall mirror-rsync)")" "$(calc %.2f "$(wall mirror-ssh) / $(wall mirror-rsync)")"
	} | tee -a "$RESULTS"

	log "prune: deleting one snapshot against rm -rf of a copy"
	local oldest
	oldest=$(ls "$repo/holding/bench" | head -n1)
	cp -al "$repo/holding/bench/$oldest" "$W/rm-copy"
	sed -i 's/max_recent_backups: 100/max_recent_backups: 9/' "$cfg"
	timed prune "$BIN/depot" --config "$cfg" prune
	timed rm rm -rf "$W/rm-copy"
	printf 'prune one %s-file snapshot: depot prune %.2f s, rm -rf %.2f s\n' "$FILES" "$(wall prune)" "$(wall rm)" | tee -a "$RESULTS"
	rm -rf "$tree" "$repo" "$W/mirror-local" "$RBACK/mirror-ssh" "$W/rsync-copy"
}

main() {
	setup
	start_sshd
	: >"$RESULTS"
	if [[ ${BENCH_ONLY_MIRROR:-} != 1 ]]; then
		bench_mode push
		bench_mode pull
	fi
	[[ ${BENCH_SKIP_MIRROR:-} == 1 ]] || bench_mirror
	echo
	echo "bench_remote.sh $FILES files ($(calc %.2f "$TREE_KB / 1048576") GiB), $(nproc) cores, $(date -u +%F):"
	cat "$RESULTS"
}

main "$@"
