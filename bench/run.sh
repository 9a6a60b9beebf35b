#!/usr/bin/env bash
# idp against node-oidc-provider on one machine (issue 8). See bench/README.md.
#
#   bench/run.sh            ~10 s of load per endpoint and server (about 4 minutes in all)
#   bench/run.sh --smoke    1 s and 2 connections per run: checks that everything works (CI);
#                           fails if any request failed
#   bench/run.sh --soak     5 minutes of steady discovery + client_credentials load on idp,
#                           sampling its RSS every 10 s
#
# Options: --duration SECONDS, --connections N, --out FILE (also write the markdown there),
# --access-token-alg ES256|RS256|"" (idp's tokens.access_token_alg, default ES256; "" keeps
# idp's own default; node-oidc-provider signs with whatever idp's tokens turn out to use),
# --no-postgres, --keep (keep the temporary directory, for its logs).
# Environment:
#   IDP_BIN        the idp binary (default: `cargo build --release` into $CARGO_TARGET_DIR,
#                  or ./target, then its release/idp); a debug build is fine for --smoke
#   SIGNIN_BIN     the bench_signin example (default: examples/bench_signin next to IDP_BIN,
#                  built with cargo in the same profile if missing)
#   BENCH_SERVER_CPU, BENCH_LOAD_CPU   cores for the servers and for the load (default 0 and 1)
#   BENCH_SEED     refresh tokens minted per server (default 160; at least 64)
#   BENCH_SIGNIN_WORKERS   concurrent browsers in the sign-in benchmark (default 4)
#   BENCH_SOAK_SECONDS, BENCH_SOAK_DELAY_MS   soak length (300) and per-connection pause (5)
#   BENCH_SQLITE_DIR   where idp's SQLite file goes (default: the temporary directory; /dev/shm
#                  takes the disk out of the measurement)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")

die() {
  echo "bench/run.sh: error: $*" >&2
  exit 1
}
say() { echo "==> $*" >&2; }

smoke=0
soak=0
duration=10
connections=32
warmup=2
seed=${BENCH_SEED:-160}
signin_workers=${BENCH_SIGNIN_WORKERS:-4}
soak_seconds=${BENCH_SOAK_SECONDS:-300}
soak_delay_ms=${BENCH_SOAK_DELAY_MS:-5}
postgres=1
access_token_alg=ES256
keep=0
out_file=""
duration_set=""
connections_set=""
while [ $# -gt 0 ]; do
  case "$1" in
    --smoke) smoke=1 ;;
    --soak) soak=1 ;;
    --duration) duration_set=${2:?--duration needs a value}; shift ;;
    --connections) connections_set=${2:?--connections needs a value}; shift ;;
    --out) out_file=${2:?--out needs a file}; shift ;;
    --access-token-alg) access_token_alg=${2?--access-token-alg needs ES256, RS256 or ""}; shift ;;
    --no-postgres) postgres=0 ;;
    --keep) keep=1 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
  shift
done
if [ "$smoke" = 1 ]; then
  duration=1
  connections=2
  warmup=0
  seed=${BENCH_SEED:-64}
  signin_workers=${BENCH_SIGNIN_WORKERS:-2}
  soak_seconds=${BENCH_SOAK_SECONDS:-20}
fi
duration=${duration_set:-$duration}
connections=${connections_set:-$connections}
[ "$seed" -ge 64 ] || die "BENCH_SEED must be at least 64"
[ "$duration" -ge 1 ] || die "--duration must be at least 1 second"

# --- What the benchmark needs -------------------------------------------------------------

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
for tool in python3 curl taskset node npm; do
  command -v "$tool" >/dev/null || die "$tool is missing (python3, curl, taskset (util-linux), node >= 20 and npm are needed)"
done
node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" -ge 20 ] || die "node $(node --version) is too old: oidc-provider needs node >= 20"
if ! command -v wrk >/dev/null; then
  say "installing wrk (apt-get)"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq wrk >&2 ||
    { as_root apt-get -o DPkg::Lock::Timeout=600 update -qq >&2 &&
      as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq wrk >&2; } ||
    die "wrk is missing and could not be installed (apt-get install wrk)"
fi

cpus=$(nproc)
server_cpu=${BENCH_SERVER_CPU:-0}
load_cpu=${BENCH_LOAD_CPU:-1}
if [ "$cpus" -lt 2 ] && [ -z "${BENCH_LOAD_CPU:-}" ]; then
  echo "bench/run.sh: warning: one core only: servers and load share core 0" >&2
  load_cpu=0
fi
on_load_cpu() { taskset -c "$load_cpu" "$@"; }

# The binaries.
target_dir=${CARGO_TARGET_DIR:-$repo/target}
if [ -z "${IDP_BIN:-}" ]; then
  if command -v cargo >/dev/null; then
    say "building idp and bench_signin (release) into $target_dir"
    (cd "$repo" && CARGO_TARGET_DIR=$target_dir cargo build --release --locked --bin idp --example bench_signin >&2) ||
      die "cargo build --release failed"
  fi
  IDP_BIN=$target_dir/release/idp
  [ -x "$IDP_BIN" ] || die "no idp binary at $IDP_BIN: install cargo or set IDP_BIN=/path/to/idp"
fi
[ -x "$IDP_BIN" ] || die "IDP_BIN=$IDP_BIN is not an executable"
IDP_BIN=$(cd "$(dirname "$IDP_BIN")" && pwd)/$(basename "$IDP_BIN")
if [ -z "${SIGNIN_BIN:-}" ]; then
  SIGNIN_BIN=$(dirname "$IDP_BIN")/examples/bench_signin
  if [ ! -x "$SIGNIN_BIN" ]; then
    profile_dir=$(basename "$(dirname "$IDP_BIN")")
    case "$profile_dir" in
      release) profile_flag=--release ;;
      debug) profile_flag="" ;;
      *) die "no bench_signin next to $IDP_BIN: set SIGNIN_BIN (cargo build --example bench_signin)" ;;
    esac
    command -v cargo >/dev/null || die "no $SIGNIN_BIN and no cargo to build it: set SIGNIN_BIN"
    say "building the bench_signin example ($profile_dir)"
    # shellcheck disable=SC2086
    (cd "$repo" && CARGO_TARGET_DIR=$(dirname "$(dirname "$IDP_BIN")") \
      cargo build --locked $profile_flag --example bench_signin >&2) || die "building bench_signin failed"
  fi
fi
[ -x "$SIGNIN_BIN" ] || die "SIGNIN_BIN=$SIGNIN_BIN is not an executable"

# node-oidc-provider, from the committed lockfile.
if [ "$soak" = 0 ]; then
  node_dir=$here/node
  if [ ! -f "$node_dir/node_modules/oidc-provider/package.json" ] ||
    [ "$node_dir/package-lock.json" -nt "$node_dir/node_modules/.package-lock.json" ]; then
    say "installing oidc-provider (npm ci)"
    (cd "$node_dir" && npm ci --no-audit --no-fund --loglevel=error >&2) || die "npm ci failed in $node_dir"
  fi
fi

# --- Temporary state, and cleaning up however the script ends ------------------------------

tmp=$(mktemp -d /tmp/idp-bench.XXXXXX)
chmod 755 "$tmp"
pids=()
extra_dirs=()
pg_dir=""
pg_bin=""
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

alive() {
  local state
  state=$(awk '/^State:/ {print $2}' "/proc/$1/status" 2>/dev/null) || return 1
  [ -n "$state" ] && [ "$state" != Z ]
}

stop_pid() {
  local pid=$1 i
  alive "$pid" || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 50); do
    alive "$pid" || return 0
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
}

cleanup() {
  local status=$?
  set +e
  for pid in "${pids[@]}"; do
    stop_pid "$pid"
  done
  if [ -n "$pg_dir" ]; then
    as_pg "$pg_bin/pg_ctl" -D "$pg_dir/data" -m immediate stop >/dev/null 2>&1
  fi
  if [ "$keep" = 1 ]; then
    echo "bench/run.sh: kept $tmp ${extra_dirs[*]}" >&2
  else
    rm -rf "$tmp" "${extra_dirs[@]}"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

results=$tmp/results.jsonl
: >"$results"
record() { echo "$1" >>"$results"; }
# json FIELD: a top-level field of the JSON document on stdin.
json() { python3 -c 'import json, sys; v = json.load(sys.stdin)[sys.argv[1]]; print(v if not isinstance(v, (dict, list)) else json.dumps(v))' "$1"; }
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
# record_memory SERVER PID PHASE: its resident memory now (all, anonymous, file-backed).
record_memory() {
  local server=$1 pid=$2 phase=$3 field name
  for field in VmRSS:rss RssAnon:anon RssFile:file; do
    name=${field#*:}
    record "{\"type\": \"metric\", \"server\": \"$server\", \"name\": \"${name}_${phase}_kib\", \"value\": $(awk -v f="${field%%:*}:" '$1 == f {print $2}' "/proc/$pid/status")}"
  done
}
load1() { cut -d' ' -f1 /proc/loadavg; }
random_hex() { python3 -c 'import secrets; print(secrets.token_hex(16))'; }
basic() { printf 'Basic %s' "$(printf '%s:%s' "$1" "$2" | base64 -w0)"; }

# start NAME PORT LOG CMD...: starts a server on the server core; sets $start_ms (from its
# start to its first discovery answer) and $last_pid.
last_pid=""
start_ms=""
start() {
  local name=$1 port=$2 log=$3 answer
  shift 3
  answer=$(on_load_cpu python3 "$here/start.py" "$port" "$log" 60 -- taskset -c "$server_cpu" "$@") ||
    { tail -n 20 "$log" >&2; die "$name did not start (log above, in $log)"; }
  last_pid=$(json pid <<<"$answer")
  pids+=("$last_pid")
  start_ms=$(json ms <<<"$answer")
}

# path URL: the path of a URL (servers are always reached at 127.0.0.1).
path_of() { python3 -c 'import sys, urllib.parse; print(urllib.parse.urlsplit(sys.argv[1]).path)' "$1"; }

# wrk_run SERVER ENDPOINT URL [VAR=VALUE...]: a warm-up, then the measured run; records it.
wrk_run() {
  local server=$1 endpoint=$2 url=$3 output line
  shift 3
  if [ "$warmup" -gt 0 ]; then
    if [ "$endpoint" = refresh_token ]; then
      env "$@" BENCH_TOKENS_OUT="$tmp/pool.out" taskset -c "$load_cpu" wrk -t1 -c"$connections" -d"${warmup}s" \
        --timeout 5s -s "$here/wrk/bench.lua" "$url" >/dev/null
      refill_pool "$@"
    else
      env "$@" taskset -c "$load_cpu" wrk -t1 -c"$connections" -d"${warmup}s" --timeout 5s \
        -s "$here/wrk/bench.lua" "$url" >/dev/null
    fi
  fi
  say "$server $endpoint: ${duration}s, $connections connections"
  local cpu_before
  cpu_before=$(head -n1 /proc/stat)
  watch_rustc &
  local watcher=$!
  pids+=("$watcher")
  output=$(env "$@" BENCH_TOKENS_OUT="$tmp/pool.out" taskset -c "$load_cpu" wrk -t1 -c"$connections" \
    -d"${duration}s" --timeout 5s -s "$here/wrk/bench.lua" "$url") || die "wrk failed: $output"
  kill "$watcher" 2>/dev/null || true
  wait "$watcher" 2>/dev/null || true
  rustc_seen=$(sort -u "$tmp/rustc.seen" 2>/dev/null | wc -l)
  steal=$(steal_percent "$cpu_before" "$(head -n1 /proc/stat)")
  [ "$endpoint" = refresh_token ] && refill_pool "$@"
  line=$(grep '^BENCH_RESULT ' <<<"$output") || die "no result from wrk for $server $endpoint: $output"
  line=${line#BENCH_RESULT }
  record "$(python3 -c 'import json, sys; r = json.loads(sys.argv[1]); r.update(type="wrk", server=sys.argv[2], endpoint=sys.argv[3], load1=float(sys.argv[4]), rustc=int(sys.argv[5]), steal=float(sys.argv[6])); print(json.dumps(r))' \
    "$line" "$server" "$endpoint" "$(load1)" "$rustc_seen" "$steal")"
  echo "    $line" >&2
}

# watch_rustc: until killed, notes every rustc process (another build competing for the
# cores) in $tmp/rustc.seen, once a second.
watch_rustc() {
  : >"$tmp/rustc.seen"
  while true; do
    pgrep -x rustc >>"$tmp/rustc.seen" || true
    sleep 1
  done
}

# steal_percent CPU_LINE_BEFORE CPU_LINE_AFTER: the share of CPU time the hypervisor gave to
# other machines (the "steal" column of /proc/stat) between the two samples, in percent.
steal_percent() {
  python3 -c 'import sys
a = [int(x) for x in sys.argv[1].split()[1:]]
b = [int(x) for x in sys.argv[2].split()[1:]]
d = [y - x for x, y in zip(a, b)]
print(round(100 * d[7] / max(1, sum(d[:8])), 1))' "$1" "$2"
}

# fsync_ms DIR: median and 99th percentile of 200 fsyncs of a 4 KiB append in DIR (what a
# SQLite commit waits for).
fsync_ms() {
  python3 -c 'import os, sys, time
path = os.path.join(sys.argv[1], "fsync-probe")
fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
ts = []
for _ in range(200):
    os.write(fd, b"x" * 4096)
    t = time.perf_counter(); os.fsync(fd); ts.append((time.perf_counter() - t) * 1000)
os.close(fd); os.unlink(path); ts.sort()
print(f"fsync p50 {ts[100]:.2f} ms, p99 {ts[198]:.2f} ms")' "$1"
}

# After a refresh run: the tokens left in wrk's pools become the next run's tokens.
refill_pool() {
  local var file=""
  for var in "$@"; do
    case "$var" in BENCH_TOKENS=*) file=${var#BENCH_TOKENS=} ;; esac
  done
  [ -n "$file" ] && [ -s "$tmp/pool.out" ] && mv "$tmp/pool.out" "$file"
  local left
  left=$(wc -l <"$file")
  if [ "$left" -lt $((connections + 1)) ]; then
    echo "bench/run.sh: warning: only $left refresh tokens left in $file" >&2
  fi
}

# --- idp ---------------------------------------------------------------------------------

# idp_config DIR PORT DATABASE_URL: a configuration file for a server in DIR.
idp_config() {
  local dir=$1 port=$2 db=$3
  mkdir -p "$dir"
  cat >"$dir/idp.toml" <<EOF
issuer = "http://localhost:$port"
listen = "127.0.0.1:$port"
database_url = "$db"
secret_key_file = "$dir/secret.key"

[rate_limits]
# One load generator on one address is the whole point here; node-oidc-provider has no
# request-rate limits either.
sign_in_per_minute = 0
token_per_second = 0

[tokens]
# The seeded access tokens must outlive the run.
access_token = "1h"
EOF
  if [ -n "$access_token_alg" ]; then
    cp "$dir/idp.toml" "$dir/idp.toml.plain"
    printf 'access_token_alg = "%s"\n' "$access_token_alg" >>"$dir/idp.toml"
    if ! "$IDP_BIN" --config "$dir/idp.toml" check-config >/dev/null 2>&1; then
      echo "bench/run.sh: warning: this idp does not take tokens.access_token_alg = \"$access_token_alg\"; using its default" >&2
      mv "$dir/idp.toml.plain" "$dir/idp.toml"
      access_token_alg=""
    fi
    rm -f "$dir/idp.toml.plain"
  fi
  echo "$dir/idp.toml"
}

idp_cli() { (cd "$(dirname "$IDP_CONFIG")" && on_load_cpu "$IDP_BIN" --config "$IDP_CONFIG" "$@"); }

# idp_users PREFIX COUNT: users PREFIX-0… with the password $password; prints them, comma-separated.
idp_users() {
  local prefix=$1 count=$2 i names=()
  for i in $(seq 0 $((count - 1))); do
    printf '%s\n' "$password" | idp_cli user add "$prefix-$i" --password-stdin >/dev/null ||
      die "idp user add $prefix-$i failed"
    names+=("$prefix-$i")
  done
  (IFS=,; echo "${names[*]}")
}

# idp_signin_client: a confidential client for the sign-ins; sets client_id and client_secret.
idp_signin_client() {
  local answer
  answer=$(idp_cli client add --name bench --redirect-uri https://app.example/callback --first-party --json) ||
    die "idp client add failed"
  client_id=$(json client_id <<<"$answer")
  client_secret=$(json client_secret <<<"$answer")
}

signin() {
  env BENCH_CLIENT_SECRET="$client_secret" BENCH_PASSWORD="$password" taskset -c "$load_cpu" "$SIGNIN_BIN" \
    --issuer "http://localhost:$port" --base-url "http://127.0.0.1:$port" \
    --client-id "$client_id" "$@"
}

# signins DB: the sign-in benchmark against the idp on $port, recorded under DB.
signins() {
  local db=$1 users answer
  users=$(idp_users "signin-$(random_hex | cut -c1-6)" "$signin_workers")
  say "sign-ins on $db: ${duration}s, $signin_workers browsers"
  answer=$(signin --users "$users" signins --seconds "$duration") || die "bench_signin failed on $db"
  echo "    $answer" >&2
  record "$(python3 -c 'import json, sys; r = json.loads(sys.argv[1]); r.update(type="signin", db=sys.argv[2], workers=int(sys.argv[3])); print(json.dumps(r))' \
    "$answer" "$db" "$signin_workers")"
}

password=$(random_hex)
machine="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $cpus cores, $(($(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024)) MiB; $(uname -sr)"
record "$(python3 -c 'import json, sys; print(json.dumps({"type": "meta", "machine": sys.argv[1], "loadavg_start": sys.argv[2]}))' \
  "$machine" "$(cut -d' ' -f1-3 /proc/loadavg)")"

say "idp: $IDP_BIN"
port=$(free_port)
sqlite_dir=$tmp/idp
if [ -n "${BENCH_SQLITE_DIR:-}" ]; then
  sqlite_dir=$(mktemp -d "$BENCH_SQLITE_DIR/idp-bench-db.XXXXXX") || die "cannot write to BENCH_SQLITE_DIR=$BENCH_SQLITE_DIR"
  extra_dirs+=("$sqlite_dir")
fi
IDP_CONFIG=$(idp_config "$tmp/idp" "$port" "sqlite://$sqlite_dir/idp.db")
record "$(python3 -c 'import json, sys; print(json.dumps({"type": "meta", "fsync_start": sys.argv[1]}))' "$(fsync_ms "$sqlite_dir") ($sqlite_dir)")"
start idp "$port" "$tmp/idp/server.log" "$IDP_BIN" --config "$IDP_CONFIG" serve
cold=$start_ms
stop_pid "$last_pid"
start idp "$port" "$tmp/idp/server.log" "$IDP_BIN" --config "$IDP_CONFIG" serve
warm=$start_ms
idp_pid=$last_pid
sleep 1
record_memory idp "$idp_pid" idle
record "{\"type\": \"metric\", \"server\": \"idp\", \"name\": \"start_cold_ms\", \"value\": $cold}"
record "{\"type\": \"metric\", \"server\": \"idp\", \"name\": \"start_warm_ms\", \"value\": $warm}"
say "idp started in $cold ms (new database), $warm ms (restart); idle RSS $(rss_kib "$idp_pid") KiB"
idp_base=http://127.0.0.1:$port

# A machine client, and its access tokens' algorithm (node-oidc-provider gets the same).
answer=$(idp_cli client add --name bench-machine --grant client_credentials --scope api --json) ||
  die "idp client add (client_credentials) failed"
cc_auth=$(basic "$(json client_id <<<"$answer")" "$(json client_secret <<<"$answer")")
token=$(curl -fsS -H "Authorization: $cc_auth" -d 'grant_type=client_credentials&scope=api' "$idp_base/token") ||
  die "idp refused a client_credentials token request"
at_alg=$(python3 -c 'import base64, json, sys; h = sys.argv[1].split(".")[0]; print(json.loads(base64.urlsafe_b64decode(h + "=" * (-len(h) % 4)))["alg"])' \
  "$(json access_token <<<"$token")")

if [ "$soak" = 1 ]; then
  record "$(python3 -c 'import json, sys; print(json.dumps({"type": "meta", "versions": sys.argv[1], "settings": sys.argv[2]}))' \
    "idp $("$IDP_BIN" --version | cut -d' ' -f2) ($IDP_BIN); $(wrk --version 2>&1 | head -n1 | cut -d' ' -f1-2)" \
    "soak: ${soak_seconds}s of discovery and client_credentials at once, 8 connections each, ${soak_delay_ms} ms pause per request and connection; idp on core $server_cpu, wrk on core $load_cpu")"
  say "soak: ${soak_seconds}s of discovery + client_credentials; RSS every 10 s"
  env BENCH_MODE=get BENCH_DELAY_MS="$soak_delay_ms" taskset -c "$load_cpu" wrk -t1 -c8 -d"${soak_seconds}s" --timeout 5s \
    -s "$here/wrk/bench.lua" "$idp_base/.well-known/openid-configuration" >"$tmp/soak-discovery.out" &
  pids+=($!)
  env BENCH_MODE=post BENCH_AUTH="$cc_auth" BENCH_BODY='grant_type=client_credentials&scope=api' \
    BENCH_DELAY_MS="$soak_delay_ms" taskset -c "$load_cpu" wrk -t1 -c8 -d"${soak_seconds}s" --timeout 5s \
    -s "$here/wrk/bench.lua" "$idp_base/token" >"$tmp/soak-token.out" &
  pids+=($!)
  record "{\"type\": \"soak\", \"t\": 0, \"rss_kib\": $(rss_kib "$idp_pid")}"
  for t in $(seq 10 10 "$soak_seconds"); do
    sleep 10
    alive "$idp_pid" || die "idp died during the soak; see $tmp/idp/server.log"
    record "{\"type\": \"soak\", \"t\": $t, \"rss_kib\": $(rss_kib "$idp_pid")}"
    echo "    ${t}s: $(rss_kib "$idp_pid") KiB" >&2
  done
  wait
  for endpoint in discovery client_credentials; do
    file=$tmp/soak-${endpoint/client_credentials/token}.out
    line=$(grep '^BENCH_RESULT ' "$file") || die "no wrk result in $file"
    line=${line#BENCH_RESULT }
    record "$(python3 -c 'import json, sys; r = json.loads(sys.argv[1]); r.update(type="wrk", server="idp", endpoint=sys.argv[2], load1=float(sys.argv[3])); print(json.dumps(r))' \
      "$line" "$endpoint" "$(load1)")"
  done
else
  # Seed tokens by real sign-ins.
  idp_signin_client
  seed_users=$(idp_users "seed-$(random_hex | cut -c1-6)" 1)
  say "idp: $seed sign-ins for the seed tokens"
  signin --users "$seed_users" seed --count "$seed" >"$tmp/idp/seed.jsonl" || die "seeding idp failed"
  python3 -c 'import json, sys; [print(json.loads(l)["refresh_token"]) for l in open(sys.argv[1])]' \
    "$tmp/idp/seed.jsonl" >"$tmp/idp/refresh_tokens.txt"
  idp_at=$(head -n1 "$tmp/idp/seed.jsonl" | json access_token)
  idp_auth=$(basic "$client_id" "$client_secret")

  # --- node-oidc-provider ------------------------------------------------------------------
  node_port=$(free_port)
  mkdir -p "$tmp/node"
  node_secret=$(random_hex)$(random_hex)
  node_env=(NODE_ENV=production BENCH_PORT="$node_port" BENCH_STATE="$tmp/node"
    BENCH_CLIENT_ID=bench BENCH_CLIENT_SECRET="$node_secret" BENCH_AT_ALG="$at_alg")
  say "node-oidc-provider $(node -p 'require("'"$here"'/node/node_modules/oidc-provider/package.json").version') on node $(node --version), access tokens $at_alg"
  start node "$node_port" "$tmp/node/server.log" env "${node_env[@]}" BENCH_SEED=0 node "$here/node/server.mjs"
  cold=$start_ms
  stop_pid "$last_pid"
  start node "$node_port" "$tmp/node/server.log" env "${node_env[@]}" BENCH_SEED="$seed" node "$here/node/server.mjs"
  warm=$start_ms
  node_pid=$last_pid
  sleep 1
  record_memory node "$node_pid" idle
  record "{\"type\": \"metric\", \"server\": \"node\", \"name\": \"start_cold_ms\", \"value\": $cold}"
  record "{\"type\": \"metric\", \"server\": \"node\", \"name\": \"start_warm_ms\", \"value\": $warm}"
  say "node-oidc-provider started in $cold ms (new keys), $warm ms (restart); idle RSS $(rss_kib "$node_pid") KiB"
  for i in $(seq 300); do
    [ -s "$tmp/node/access_token.txt" ] && break
    alive "$node_pid" || die "node-oidc-provider died; see $tmp/node/server.log"
    sleep 0.1
  done
  [ -s "$tmp/node/access_token.txt" ] || die "node-oidc-provider wrote no seed tokens; see $tmp/node/server.log"
  node_at=$(cat "$tmp/node/access_token.txt")
  node_auth=$(basic bench "$node_secret")
  node_base=http://127.0.0.1:$node_port

  # Endpoints from each server's discovery document; one request each to check them.
  declare -A url
  for server in idp node; do
    base_var=${server}_base
    base=${!base_var}
    doc=$(curl -fsS "$base/.well-known/openid-configuration") || die "$server: no discovery document"
    for key in jwks_uri token_endpoint userinfo_endpoint introspection_endpoint; do
      url[$server.$key]=$base$(path_of "$(json "$key" <<<"$doc")")
    done
  done
  check() {
    local what=$1
    shift
    curl -fsS -o /dev/null "$@" || die "$what failed: curl $*"
  }
  check "idp userinfo" -H "Authorization: Bearer $idp_at" "${url[idp.userinfo_endpoint]}"
  check "node userinfo" -H "Authorization: Bearer $node_at" "${url[node.userinfo_endpoint]}"
  check "idp introspection" -H "Authorization: $idp_auth" -d "token=$idp_at" "${url[idp.introspection_endpoint]}"
  check "node introspection" -H "Authorization: $node_auth" -d "token=$node_at" "${url[node.introspection_endpoint]}"
  check "node client_credentials" -H "Authorization: $node_auth" -d 'grant_type=client_credentials&scope=api' "${url[node.token_endpoint]}"

  for endpoint in discovery jwks client_credentials refresh_token userinfo introspection; do
    for server in idp node; do
      base_var=${server}_base
      auth_var=${server}_auth
      at_var=${server}_at
      case "$endpoint" in
        discovery) wrk_run "$server" discovery "${!base_var}/.well-known/openid-configuration" BENCH_MODE=get ;;
        jwks) wrk_run "$server" jwks "${url[$server.jwks_uri]}" BENCH_MODE=get ;;
        client_credentials)
          if [ "$server" = idp ]; then auth=$cc_auth; else auth=$node_auth; fi
          wrk_run "$server" client_credentials "${url[$server.token_endpoint]}" BENCH_MODE=post \
            BENCH_AUTH="$auth" BENCH_BODY='grant_type=client_credentials&scope=api'
          ;;
        refresh_token)
          wrk_run "$server" refresh_token "${url[$server.token_endpoint]}" BENCH_MODE=refresh \
            BENCH_AUTH="${!auth_var}" BENCH_TOKENS="$tmp/$server/refresh_tokens.txt"
          ;;
        userinfo)
          wrk_run "$server" userinfo "${url[$server.userinfo_endpoint]}" BENCH_MODE=get \
            BENCH_AUTH="Bearer ${!at_var}"
          ;;
        introspection)
          wrk_run "$server" introspection "${url[$server.introspection_endpoint]}" BENCH_MODE=post \
            BENCH_AUTH="${!auth_var}" BENCH_BODY="token=${!at_var}"
          ;;
      esac
    done
  done
  record_memory idp "$idp_pid" after
  record_memory node "$node_pid" after
  stop_pid "$node_pid"

  # --- 7. Whole sign-ins, SQLite and PostgreSQL ----------------------------------------------
  signins SQLite
  stop_pid "$idp_pid"

  if [ "$postgres" = 1 ] && pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1) &&
    [ -n "$pg_bin" ] && [ -x "$pg_bin/initdb" ] && { [ "$(id -u)" != 0 ] || id postgres >/dev/null 2>&1; }; then
    pg_dir=$tmp/pg
    mkdir -p "$pg_dir"
    [ "$(id -u)" = 0 ] && chown postgres: "$pg_dir"
    pg_port=$(free_port)
    say "PostgreSQL ($pg_bin) on 127.0.0.1:$pg_port, core $server_cpu"
    as_pg "$pg_bin/initdb" -D "$pg_dir/data" -U idp -A trust -E UTF8 --no-sync >/dev/null ||
      die "initdb failed"
    as_pg taskset -c "$server_cpu" "$pg_bin/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/server.log" -w \
      -o "-p $pg_port -c listen_addresses=127.0.0.1 -k $pg_dir -c max_connections=200" start >/dev/null ||
      die "PostgreSQL did not start; see $pg_dir/server.log"
    port=$(free_port)
    IDP_CONFIG=$(idp_config "$tmp/idp-pg" "$port" "postgres://idp@127.0.0.1:$pg_port/postgres")
    start "idp (PostgreSQL)" "$port" "$tmp/idp-pg/server.log" "$IDP_BIN" --config "$IDP_CONFIG" serve
    cold=$start_ms
    stop_pid "$last_pid"
    start "idp (PostgreSQL)" "$port" "$tmp/idp-pg/server.log" "$IDP_BIN" --config "$IDP_CONFIG" serve
    warm=$start_ms
    sleep 1
    record_memory idp-postgres "$last_pid" idle
    record "{\"type\": \"metric\", \"server\": \"idp-postgres\", \"name\": \"start_cold_ms\", \"value\": $cold}"
    record "{\"type\": \"metric\", \"server\": \"idp-postgres\", \"name\": \"start_warm_ms\", \"value\": $warm}"
    idp_signin_client
    signins PostgreSQL
  else
    record '{"type": "note", "text": "PostgreSQL skipped: no /usr/lib/postgresql/*/bin/initdb (apt-get install postgresql), or --no-postgres."}'
    say "PostgreSQL skipped (not installed, or --no-postgres)"
  fi

  record "$(python3 -c 'import json, sys; print(json.dumps({"type": "meta", "versions": sys.argv[1], "settings": sys.argv[2]}))' \
    "idp $("$IDP_BIN" --version | cut -d' ' -f2) ($IDP_BIN); oidc-provider $(node -p 'require("'"$here"'/node/node_modules/oidc-provider/package.json").version') on node $(node --version); $(wrk --version 2>&1 | head -n1 | cut -d' ' -f1-2)" \
    "${duration}s per run after a ${warmup}s warm-up; wrk -t1 -c$connections on core $load_cpu; servers on core $server_cpu; access tokens $at_alg (both); $seed seed refresh tokens per server")"
fi

record "$(python3 -c 'import json, sys; print(json.dumps({"type": "meta", "loadavg_end": sys.argv[1], "fsync_end": sys.argv[2]}))' "$(cut -d' ' -f1-3 /proc/loadavg)" "$(fsync_ms "$sqlite_dir")")"
record '{"type": "note", "text": "The load average includes the benchmark itself (a busy server and wrk: about 2 on 2 cores). Noise, per measured run (idp / node): \"rustc seen\" counts compiler processes of other builds (0: no build competed for the cores), \"steal\" is the CPU time the hypervisor gave to other virtual machines. idp commits every refresh-token rotation and code exchange to SQLite with an fsync: the disk line above bounds those rates."}'
strict=""
[ "$smoke" = 1 ] && strict=--strict
report_status=0
report=$(python3 "$here/report.py" "$results" $strict) || report_status=$?
echo "$report"
[ -n "$out_file" ] && echo "$report" >"$out_file"
case "$report_status" in
  0) ;;
  2) die "some requests failed (see the table)" ;;
  *) die "bench/report.py failed on $results (run with --keep to look at it)" ;;
esac
