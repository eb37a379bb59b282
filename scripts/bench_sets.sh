#!/usr/bin/env bash
# bench_sets.sh [FILES] — many sets at once: 8 sets pulled over SSH from 8
# source hosts, with `concurrency: 4` against `concurrency: 1`.
#
# Each set pulls its own generated tree of FILES files (default 5000, 15 KB
# a file) from its own "host": one sshd of the script's own (throwaway keys)
# listens on 127.0.0.2 to 127.0.0.9, which depot counts as 8 hosts. That
# sshd plays a second machine, as in bench_remote.sh: it runs in a mount
# namespace of its own (unshare -m) where $W/srv is $W/remote-host, which
# holds the trees, while this host sees an empty $W/srv. It times
# a first run (everything copied) into an empty repository and a no-change
# run after it, for each concurrency, median of $BENCH_ROUNDS (default 1 for
# the first run, 3 for the no-change one), and prints the speed-ups.
# BENCH_DIR (default <repo>/_bench) holds everything, under sets/.
set -euo pipefail

FILES=${1:-5000}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
. "$ROOT/scripts/lib.sh"
BENCH_DIR=$(realpath -m "${BENCH_DIR:-$ROOT/_bench}")
ROUNDS=${BENCH_ROUNDS:-3}
SETS=8
W=$BENCH_DIR/sets
BIN=$W/bin
LOGS=$W/logs

log() { printf '%s bench_sets: %s\n' "$(date +%T)" "$*" >&2; }
die() { log "error: $*"; exit 1; }
median() { sort -g | awk '{a[NR]=$1} END{if (NR) print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
calc() { awk "BEGIN{printf \"$1\", $2}"; }

# timed NAME CMD...: runs CMD, appends "wall_s maxrss_kb" to $LOGS/NAME.times.
timed() {
	local name=$1
	shift
	if ! /usr/bin/time -f '%e %M' -o "$LOGS/time.tmp" "$@" >"$LOGS/$name.last.log" 2>&1; then
		cat "$LOGS/$name.last.log" >&2
		die "$name failed"
	fi
	cat "$LOGS/time.tmp" >>"$LOGS/$name.times"
}
wall() { cut -d' ' -f1 "$LOGS/$1.times" | median; }
rss_mb() { cut -d' ' -f2 "$LOGS/$1.times" | sort -g | tail -n1 | awk '{printf "%.0f", $1/1024}'; }

setup() {
	need_go
	need_packages rsync time openssh-server openssh-client util-linux
	rm -rf "$W/repo-"* "$LOGS"
	mkdir -p "$BIN" "$LOGS" /run/sshd
	(cd "$ROOT" && go build -o "$BIN/depot" . && go build -o "$BIN/gentree" ./scripts/gentree)
	mkdir -p "$W/remote-host" "$W/srv"
	for i in $(seq "$SETS"); do
		local tree=$W/remote-host/tree-$FILES-$i
		if [[ ! -f $tree.done ]]; then
			log "generating $FILES files in $tree"
			rm -rf "$tree"
			"$BIN/gentree" -files "$FILES" -bytes "$((FILES * 15000))" -seed "$i" "$tree" >/dev/null 2>&1 || die gentree
			touch "$tree.done"
		fi
	done
}

# start_sshd: one sshd on a free port of 127.0.0.2 to 127.0.0.9, as a second
# machine that alone sees the trees at $W/srv.
start_sshd() {
	local d=$W/sshd
	rm -rf "$d"
	mkdir -p "$d"
	ssh-keygen -q -t ed25519 -N '' -f "$d/host_key"
	ssh-keygen -q -t ed25519 -N '' -f "$d/id_ed25519"
	cp "$d/id_ed25519.pub" "$d/authorized_keys"
	PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.2",0)); print(s.getsockname()[1])' 2>/dev/null || echo 2298)
	{
		echo "Port $PORT"
		for i in $(seq "$SETS"); do echo "ListenAddress 127.0.0.$((i + 1))"; done
		cat <<CFG
HostKey $d/host_key
AuthorizedKeysFile $d/authorized_keys
PidFile $d/sshd.pid
StrictModes no
UsePAM no
PasswordAuthentication no
PermitRootLogin prohibit-password
MaxStartups 100
LogLevel ERROR
CFG
	} >"$d/sshd_config"
	unshare -m --propagation private sh -c 'mount --bind "$1" "$2" && exec /usr/sbin/sshd -f "$3" -E "$4"' \
		sh "$W/remote-host" "$W/srv" "$d/sshd_config" "$d/sshd.log" || die "sshd in a mount namespace of its own (unshare -m, as root)"
	[[ -z $(ls -A "$W/srv") ]] || die "$W/srv is not empty here: the trees must be on the second machine only"
	trap 'kill "$(cat "$W/sshd/sshd.pid" 2>/dev/null)" 2>/dev/null || true' EXIT
	for _ in $(seq 50); do
		ssh-keyscan -p "$PORT" 127.0.0.2 2>/dev/null | grep -q ed25519 && break
		sleep 0.1
	done
	: >"$d/known_hosts"
	for i in $(seq "$SETS"); do
		echo "[127.0.0.$((i + 1))]:$PORT $(cut -d' ' -f1,2 "$d/host_key.pub")" >>"$d/known_hosts"
	done
}

# config N: a config of the 8 pulled sets with concurrency N, its own repository.
config() {
	local n=$1 cfg=$W/c$1.yaml
	{
		cat <<CFG
version: 1
concurrency: $n
repository:
  path: $W/repo-$n
  holding: { max_recent_backups: 100 }
ssh: { identity_file: $W/sshd/id_ed25519, known_hosts: $W/sshd/known_hosts }
sets:
CFG
		for i in $(seq "$SETS"); do
			cat <<CFG
  - name: s$i
    source: $(id -un)@127.0.0.$((i + 1)):$PORT
    items:
      - { name: tree, type: filesystem, paths: [$W/srv/tree-$FILES-$i] }
CFG
		done
	} >"$cfg"
	rm -rf "$W/repo-$n"
	"$BIN/depot" --config "$cfg" init >/dev/null 2>&1 || die "depot init"
	echo "$cfg"
}

main() {
	setup
	start_sshd
	local c1 c4
	c1=$(config 1)
	c4=$(config 4)
	log "first runs: concurrency 1, then 4"
	timed first-1 "$BIN/depot" --config "$c1" run
	timed first-4 "$BIN/depot" --config "$c4" run
	sleep 2 # the quick path trusts no ctime within a second of the walk
	log "no-change runs, alternating, $ROUNDS rounds"
	for _ in $(seq "$ROUNDS"); do
		timed same-1 "$BIN/depot" --config "$c1" run
		timed same-4 "$BIN/depot" --config "$c4" run
	done
	echo
	echo "bench_sets.sh: $SETS sets of $FILES files pulled over SSH from $SETS hosts, $(nproc) cores, $(date -u +%F):"
	printf '  first run      concurrency 1 %7.2f s  concurrency 4 %7.2f s  speed-up %.2fx  max RSS %s / %s MB\n' \
		"$(wall first-1)" "$(wall first-4)" "$(calc %.2f "$(wall first-1) / $(wall first-4)")" "$(rss_mb first-1)" "$(rss_mb first-4)"
	printf '  no-change run  concurrency 1 %7.2f s  concurrency 4 %7.2f s  speed-up %.2fx  max RSS %s / %s MB\n' \
		"$(wall same-1)" "$(wall same-4)" "$(calc %.2f "$(wall same-1) / $(wall same-4)")" "$(rss_mb same-1)" "$(rss_mb same-4)"
	rm -rf "$W/repo-"*
}

main "$@"
