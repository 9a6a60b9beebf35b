#!/usr/bin/env bash
# Runs the whole test suite on a fresh Debian machine: installs what the tests need, runs the
# unit and end-to-end tests (browser tests in headless Chromium included) on SQLite, then the end-to-end tests again on a throw-away
# PostgreSQL cluster that this script starts and stops.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# 1. System packages: PostgreSQL for the second run, Chromium and its WebDriver for the
#    browser tests, oathtool as an independent TOTP implementation.
missing=()
for pkg in postgresql chromium chromium-driver oathtool; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "==> installing ${missing[*]}"
  install() {
    as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 \
      install -y -qq --no-install-recommends "${missing[@]}"
  }
  install || { as_root apt-get -o DPkg::Lock::Timeout=600 update -qq && install; }
fi

# 2. Unit tests and end-to-end tests on SQLite (each test gets its own temporary database).
export TEST_BROWSER=required
echo "==> tests on SQLite"
cargo test --workspace --locked

# 3. A throw-away PostgreSQL cluster on a free local port, stopped however this script ends.
pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
pg_dir=$(mktemp -d /tmp/idp-test-pg.XXXXXX)
pg_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
[ "$(id -u)" = 0 ] && chown postgres: "$pg_dir"
stop_pg() {
  as_pg "$pg_bin/pg_ctl" -D "$pg_dir/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$pg_dir"
}
trap stop_pg EXIT
echo "==> starting PostgreSQL ($pg_bin) on 127.0.0.1:$pg_port"
as_pg "$pg_bin/initdb" -D "$pg_dir/data" -U idp -A trust -E UTF8 --no-sync >/dev/null
as_pg "$pg_bin/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/server.log" -w \
  -o "-p $pg_port -c listen_addresses=127.0.0.1 -k $pg_dir -c fsync=off -c max_connections=300" start >/dev/null

# 4. The end-to-end tests again, each on a new database of that cluster.
echo "==> end-to-end tests on PostgreSQL"
TEST_POSTGRES_URL="postgres://idp@127.0.0.1:$pg_port/postgres" cargo test --locked --test e2e
