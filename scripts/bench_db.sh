#!/usr/bin/env bash
# Compares depot's mysql item with the bare dump pipeline it replaces:
#
#   mariadb-dump --single-transaction DB | zstd > file
#
# on a generated database of about DB_SIZE_MB megabytes of dump (default
# 1024), in the same run: three rounds, bare and depot alternating, each depot
# run into an empty repository (a full dump, nothing to hard-link). It prints
# the median wall times, their ratio and depot's max RSS (GNU time's %M, which
# covers depot and its dump tool), and PASS or FAIL against the targets:
# depot at most 1.10 times the bare pipeline, under 100 MB of RSS.
#
#   scripts/bench_db.sh [DB_SIZE_MB]        (BENCH_ROUNDS=5 for more rounds)
#
# The database (depot_bench) is kept between runs and made again only when
# its size changes; BENCH_DIR (default /tmp/depot-bench-db) holds the
# outputs. Both sides connect as root through MariaDB's socket.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
. scripts/services.sh

size_mb=${1:-1024}
db=depot_bench
dir=${BENCH_DIR:-/tmp/depot-bench-db}
socket=/run/mysqld/mysqld.sock
rounds=${BENCH_ROUNDS:-3}

need_go
need_packages time zstd
ensure_services
mkdir -p "$dir"
go build -o "$dir/depot" .

sql() { mariadb --batch --skip-column-names "$@"; }

# A row is about 260 bytes of dump: text that compresses like real data
# (hex digests, repeated words), numbers and a date. Rows double with
# INSERT ... SELECT, which MariaDB does without a round trip per row.
make_database() {
  local rows=$((size_mb * 1024 * 1024 / 260)) n
  echo "generating $db: about $size_mb MB of dump, $rows rows" >&2
  sql -e "DROP DATABASE IF EXISTS $db; CREATE DATABASE $db"
  sql "$db" -e "
    CREATE TABLE orders (
      id BIGINT AUTO_INCREMENT PRIMARY KEY,
      customer VARCHAR(64), status VARCHAR(16), amount DECIMAL(12,2),
      placed DATETIME, note TEXT, digest CHAR(64)
    ) ENGINE=InnoDB;
    INSERT INTO orders (customer, status, amount, placed, note, digest)
      VALUES ('seed', 'new', 1, NOW(), 'seed', SHA2('seed', 256));"
  n=1
  while [ "$n" -lt "$rows" ]; do
    sql "$db" -e "
      SET SESSION unique_checks = 0;
      INSERT INTO orders (customer, status, amount, placed, note, digest)
      SELECT CONCAT('customer-', FLOOR(RAND() * 100000)),
             ELT(1 + FLOOR(RAND() * 4), 'new', 'paid', 'shipped', 'returned'),
             ROUND(RAND() * 10000, 2),
             NOW() - INTERVAL FLOOR(RAND() * 100000000) SECOND,
             CONCAT('order note ', MD5(RAND()), ' deliver to the back door, ring twice ', MD5(RAND()), ' thank you'),
             SHA2(RAND(), 256)
      FROM orders LIMIT $((rows - n));"
    n=$(sql "$db" -e "SELECT COUNT(*) FROM orders")
    echo "  $n rows" >&2
  done
  sql "$db" -e "ANALYZE TABLE orders" >/dev/null
  sql "$db" -e "CREATE TABLE bench_meta (rows_wanted INT); INSERT INTO bench_meta VALUES ($rows)"
}

have=$(sql "$db" -e "SELECT rows_wanted FROM bench_meta" 2>/dev/null || true)
[ "$have" = "$((size_mb * 1024 * 1024 / 260))" ] || make_database

cat >"$dir/depot.yaml" <<YAML
version: 1
repository:
  path: $dir/repo
  holding: { max_recent_backups: 1 }
sets:
  - name: bench
    items:
      - { name: db, type: mysql, user: root, socket: $socket, databases: [$db] }
YAML

# timed CMD... runs CMD under GNU time and prints "SECONDS MAXRSS_KB". It
# first writes back what earlier rounds left dirty, so that no round pays
# for another's writes.
timed() {
  sync
  /usr/bin/time -f '%e %M' -o "$dir/time" "$@" >/dev/null 2>"$dir/stderr" || {
    cat "$dir/stderr" >&2
    return 1
  }
  cat "$dir/time"
}

bare_times=() depot_times=() depot_rss=()
for i in $(seq 1 "$rounds"); do
  rm -f "$dir/bare.sql.zst"
  read -r s _ < <(timed sh -c "mariadb-dump --single-transaction $db | zstd -q > '$dir/bare.sql.zst'")
  bare_times+=("$s")
  rm -rf "$dir/repo"
  read -r d rss < <(timed "$dir/depot" --config "$dir/depot.yaml" run)
  depot_times+=("$d") depot_rss+=("$rss")
  echo "round $i: bare ${s}s, depot ${d}s, depot max RSS $((rss / 1024)) MB" >&2
done

median() { printf '%s\n' "$@" | sort -g | sed -n "$(( ($# + 1) / 2 ))p"; }
bare=$(median "${bare_times[@]}")
dep=$(median "${depot_times[@]}")
rss=$(printf '%s\n' "${depot_rss[@]}" | sort -g | tail -n 1)
bare_size=$(stat -c %s "$dir/bare.sql.zst")
depot_size=$(stat -c %s "$dir"/repo/holding/bench/*/db/$db.sql.zst)
raw_mb=$(sql -e "SELECT ROUND(SUM(data_length + index_length) / 1048576) FROM information_schema.TABLES WHERE table_schema = '$db'")

ratio=$(awk -v d="$dep" -v b="$bare" 'BEGIN { printf "%.3f", d / b }')
time_ok=$(awk -v r="$ratio" 'BEGIN { print (r <= 1.10) ? "PASS" : "FAIL" }')
rss_ok=$(awk -v k="$rss" 'BEGIN { print (k < 100 * 1024) ? "PASS" : "FAIL" }')

cat <<TXT
database $db: $raw_mb MB in InnoDB; compressed dump: bare $((bare_size / 1048576)) MB, depot $((depot_size / 1048576)) MB
median of $rounds: bare pipeline ${bare}s, depot ${dep}s
ratio depot/bare: $ratio (target <= 1.10): $time_ok
depot max RSS: $((rss / 1024)) MB (target < 100 MB): $rss_ok
TXT
[ "$time_ok" = PASS ] && [ "$rss_ok" = PASS ]
