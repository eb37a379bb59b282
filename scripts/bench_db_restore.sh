#!/usr/bin/env bash
# Dump and restore of one large database, depot against the vendor tools by
# hand, for MariaDB and PostgreSQL: wall time and max RSS (GNU time) of
#
#   mariadb-dump --single-transaction DB | zstd     vs  depot run
#   zstdcat DUMP | mariadb NEW                      vs  depot restore --to-database NEW
#   pg_dump DB | zstd                               vs  depot run
#   zstdcat DUMP | psql -1 NEW                      vs  depot restore --to-database NEW
#
# on generated databases of about SIZE_MB megabytes of dump each (default
# 2048), one round (the machine is shared; repeat for a median). The
# databases are dropped at the end unless KEEP=1; DEPOT_FIRST=1 runs depot's
# side of each pair first.
#
#   scripts/bench_db_restore.sh [SIZE_MB]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
. scripts/services.sh

size_mb=${1:-2048}
dir=${BENCH_DIR:-/tmp/depot-bench-restore}
my=depot_bench_r pg=depot_bench_r
need_go
need_packages time zstd
ensure_services
mkdir -p "$dir"
go build -o "$dir/depot" .
rows=$((size_mb * 1024 * 1024 / 260))

sql() { mariadb --batch --skip-column-names "$@"; }
psql_() { runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 "$@"; }

cleanup() {
  [ "${KEEP:-0}" = 1 ] && return
  sql -e "DROP DATABASE IF EXISTS $my; DROP DATABASE IF EXISTS ${my}_hand; DROP DATABASE IF EXISTS ${my}_depot" || true
  for d in $pg ${pg}_hand ${pg}_depot; do psql_ -d postgres -c "DROP DATABASE IF EXISTS $d" || true; done
  rm -rf "$dir/repo" "$dir"/*.zst
}
trap cleanup EXIT

# Rows of about 260 bytes of dump, a million at a time from the SEQUENCE
# engine (an INSERT ... SELECT from the table itself would need a temporary
# table in tmpdir).
make_mariadb() {
  sql -e "DROP DATABASE IF EXISTS $my; CREATE DATABASE $my"
  sql "$my" -e "CREATE TABLE orders (id BIGINT AUTO_INCREMENT PRIMARY KEY, customer VARCHAR(64), status VARCHAR(16),
      amount DECIMAL(12,2), placed DATETIME, note TEXT, digest CHAR(64)) ENGINE=InnoDB"
  local n=0 batch
  while [ "$n" -lt "$rows" ]; do
    batch=$((rows - n > 1000000 ? 1000000 : rows - n))
    sql "$my" -e "INSERT INTO orders (customer, status, amount, placed, note, digest)
      SELECT CONCAT('customer-', FLOOR(RAND() * 100000)), ELT(1 + FLOOR(RAND() * 4), 'new', 'paid', 'shipped', 'returned'),
             ROUND(RAND() * 10000, 2), NOW() - INTERVAL FLOOR(RAND() * 100000000) SECOND,
             CONCAT('order note ', MD5(RAND()), ' deliver to the back door, ring twice ', MD5(RAND()), ' thank you'), SHA2(RAND(), 256)
      FROM seq_1_to_$batch"
    n=$((n + batch))
  done
  sql "$my" -e "ANALYZE TABLE orders" >/dev/null
}

make_postgres() {
  psql_ -d postgres -c "DROP DATABASE IF EXISTS $pg" -c "CREATE DATABASE $pg OWNER $DEPOT_TEST_DB_USER"
  psql_ -d "$pg" -c "CREATE TABLE orders (id bigserial PRIMARY KEY, customer text, status text, amount numeric(12,2), placed timestamptz, note text, digest text)" \
    -c "INSERT INTO orders (customer, status, amount, placed, note, digest)
        SELECT 'customer-' || floor(random() * 100000), (ARRAY['new','paid','shipped','returned'])[1 + floor(random() * 4)],
               round((random() * 10000)::numeric, 2), now() - floor(random() * 100000000) * interval '1 second',
               'order note ' || md5(random()::text) || ' deliver to the back door, ring twice ' || md5(random()::text) || ' thank you',
               encode(sha256(random()::text::bytea), 'hex')
        FROM generate_series(1, $rows)" -c "ALTER TABLE orders OWNER TO $DEPOT_TEST_DB_USER"
}

# timed LABEL CMD... prints LABEL, seconds and max RSS.
timed() {
  local label=$1
  shift
  sync
  /usr/bin/time -f '%e %M' -o "$dir/time" "$@" >/dev/null 2>"$dir/stderr" || { cat "$dir/stderr" >&2; return 1; }
  read -r s rss <"$dir/time"
  printf '%-34s %8.2f s %8d MB\n' "$label" "$s" $((rss / 1024))
}

echo "generating about $size_mb MB of dump in each server ($rows rows)" >&2
make_mariadb
make_postgres
export DEPOT_BENCH_PW=$DEPOT_TEST_DB_PASSWORD
cat >"$dir/depot.yaml" <<YAML
version: 1
repository:
  path: $dir/repo
sets:
  - name: bench
    items:
      - { name: my, type: mysql, user: root, socket: /run/mysqld/mysqld.sock, databases: [$my], globals: false }
      - { name: pg, type: postgresql, user: $DEPOT_TEST_DB_USER, password_env: DEPOT_BENCH_PW, databases: [$pg], globals: false }
YAML
rm -rf "$dir/repo"
"$dir/depot" --config "$dir/depot.yaml" init >/dev/null

echo "MariaDB $(sql -e "SELECT ROUND(SUM(data_length + index_length) / 1048576) FROM information_schema.TABLES WHERE table_schema = '$my'") MB in InnoDB; PostgreSQL $(psql_ -At -d "$pg" -c "SELECT pg_database_size('$pg') / 1048576") MB"
# Each step by hand and by depot; DEPOT_FIRST=1 runs depot's first, for a
# second round that evens out what one run leaves the next (a checkpoint, a
# warm cache).
pair() { # pair HAND_FN DEPOT_FN
  if [ "${DEPOT_FIRST:-0}" = 1 ]; then "$2"; "$1"; else "$1"; "$2"; fi
}
hand_dump() {
  timed "mariadb-dump | zstd (by hand)" sh -c "mariadb-dump --single-transaction $my | zstd -q > '$dir/my.sql.zst'"
  timed "pg_dump | zstd (by hand)" sh -c "PGPASSWORD=$DEPOT_TEST_DB_PASSWORD pg_dump -h 127.0.0.1 -U $DEPOT_TEST_DB_USER $pg | zstd -q > '$dir/pg.sql.zst'"
}
depot_dump() { timed "depot run (both dumps)" "$dir/depot" --config "$dir/depot.yaml" run; }
hand_my() {
  sql -e "CREATE DATABASE ${my}_hand"
  timed "zstdcat | mariadb (by hand)" sh -c "zstdcat '$dir/my.sql.zst' | mariadb ${my}_hand"
}
depot_my() { timed "depot restore (mariadb)" "$dir/depot" --config "$dir/depot.yaml" restore bench --item my --to-database "${my}_depot"; }
hand_pg() {
  psql_ -d postgres -c "CREATE DATABASE ${pg}_hand OWNER $DEPOT_TEST_DB_USER"
  timed "zstdcat | psql -1 (by hand)" sh -c "zstdcat '$dir/pg.sql.zst' | PGPASSWORD=$DEPOT_TEST_DB_PASSWORD psql -X -q -1 -v ON_ERROR_STOP=1 -h 127.0.0.1 -U $DEPOT_TEST_DB_USER ${pg}_hand"
}
depot_pg() { timed "depot restore (postgresql)" "$dir/depot" --config "$dir/depot.yaml" restore bench --item pg --to-database "${pg}_depot"; }

pair hand_dump depot_dump
echo "dump sizes: by hand $(( $(stat -c %s "$dir/my.sql.zst") / 1048576 )) + $(( $(stat -c %s "$dir/pg.sql.zst") / 1048576 )) MB, depot $(du -sm "$dir"/repo/holding/bench/*/ | cut -f1) MB"
pair hand_my depot_my
pair hand_pg depot_pg
