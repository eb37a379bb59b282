# The database servers and tools the tests use: sourced, not run (needs lib.sh).
#
# ensure_services installs MariaDB, PostgreSQL and Subversion when missing,
# starts the servers when stopped (there is no systemd on these machines),
# waits until each takes connections, and creates the test accounts the tests
# log in with. Every step is idempotent.

# The test accounts; the tests use the same names and passwords.
DEPOT_TEST_DB_USER=depot_test
DEPOT_TEST_DB_PASSWORD=depot-test-pw-7Hq2

ensure_services() {
  need_packages mariadb-server mariadb-client postgresql postgresql-client subversion zstd || return 1
  if [ "$(id -u)" -ne 0 ]; then
    echo "not root: assuming MariaDB and PostgreSQL run and have the test accounts" >&2
    return 0
  fi
  _start_mariadb && _start_postgresql
}

# _wait_for WHAT CMD... runs CMD until it succeeds, for at most 30 s.
_wait_for() {
  local what=$1 i
  shift
  for i in $(seq 1 60); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  echo "$what does not answer after 30 s" >&2
  return 1
}

_start_mariadb() {
  if ! mariadb-admin ping >/dev/null 2>&1; then
    echo "starting MariaDB" >&2
    mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql
    _wait_for MariaDB mariadb-admin ping || return 1
  fi
  # Root logs in through the socket; the tests use a password over TCP.
  local u
  for u in "'$DEPOT_TEST_DB_USER'@'127.0.0.1'" "'$DEPOT_TEST_DB_USER'@'localhost'"; do
    mariadb -e "CREATE USER IF NOT EXISTS $u IDENTIFIED BY '$DEPOT_TEST_DB_PASSWORD';
      ALTER USER $u IDENTIFIED BY '$DEPOT_TEST_DB_PASSWORD';
      GRANT ALL ON *.* TO $u WITH GRANT OPTION;" || return 1
  done
}

_start_postgresql() {
  local version
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  if ! pg_isready -q -h 127.0.0.1; then
    echo "starting PostgreSQL $version" >&2
    pg_ctlcluster --skip-systemctl-redirect "$version" main start || return 1
    _wait_for PostgreSQL pg_isready -q -h 127.0.0.1 || return 1
  fi
  # The test role needs its password over TCP even where pg_hba.conf trusts
  # local connections, so the tests see that depot passes it on (and that a
  # wrong one fails). The rule names only that role.
  local hba
  hba=$(runuser -u postgres -- psql -X -A -t -d postgres -c 'SHOW hba_file') || return 1
  if ! grep -q "^host all $DEPOT_TEST_DB_USER " "$hba"; then
    sed -i "1i host all $DEPOT_TEST_DB_USER 127.0.0.1/32 scram-sha-256\\nhost all $DEPOT_TEST_DB_USER ::1/128 scram-sha-256" "$hba"
    runuser -u postgres -- psql -X -q -d postgres -c 'SELECT pg_reload_conf()' >/dev/null || return 1
  fi
  # The postgres OS user logs in through the socket (peer).
  runuser -u postgres -- psql -q -X -v ON_ERROR_STOP=1 -d postgres <<SQL || return 1
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$DEPOT_TEST_DB_USER') THEN
    CREATE ROLE $DEPOT_TEST_DB_USER;
  END IF;
END \$\$;
ALTER ROLE $DEPOT_TEST_DB_USER WITH LOGIN SUPERUSER PASSWORD '$DEPOT_TEST_DB_PASSWORD';
SQL
}
