#!/usr/bin/env bash
# Runs the benchmark (bench/run.py) against gunicorn on SQLite, then on PostgreSQL, each on a
# fresh database, in production mode, with the shipped gunicorn configuration (one worker
# process per core, four threads each). The server is pinned to one core, the load driver
# and PostgreSQL to another (taskset), so that nothing shares the server's core. Then
# bench/floor.py measures, the same way, what the stack costs before the product does anything.
#
#   bench/run-all.sh [RESULTS_DIR] [-- extra bench/run.py arguments]
#
# Environment: SERVER_CPU (1), DRIVER_CPU (0), WORKERS (1, the one core's worth), PORT (8765), DURATION (10),
# WARMUP (3), BENCH_USERS (16), DATABASES ("sqlite postgresql"), POSTGRES_ADMIN_URL (postgresql://postgres@127.0.0.1:5432/postgres),
# REDIS_URL (redis://127.0.0.1:6379/0). Needs PostgreSQL and Redis running.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
results="${1:-bench/results}"
shift || true
[ "${1:-}" = "--" ] && shift
mkdir -p "$results"
python="${PYTHON:-$root/.venv/bin/python}"
server_cpu="${SERVER_CPU:-1}" driver_cpu="${DRIVER_CPU:-0}" workers="${WORKERS:-1}" port="${PORT:-8765}"
duration="${DURATION:-10}" warmup="${WARMUP:-3}" users="${BENCH_USERS:-16}"
admin_url="${POSTGRES_ADMIN_URL:-postgresql://postgres@127.0.0.1:5432/postgres}"
password="bench-password-$RANDOM$RANDOM"
work="$(mktemp -d)"
server_pid=""
# PostgreSQL runs beside the driver, so that the server's core runs gunicorn alone: a
# backend scheduled there would evict the worker's caches between its requests. New
# backends inherit the postmaster's affinity; every process gets the machine back at exit.
pin_postgres() {
  local cpus="$1" pid
  for pid in $(pgrep -x postgres || true); do
    taskset -a -p -c "$cpus" "$pid" >/dev/null 2>&1 || { echo "note: cannot pin PostgreSQL ($pid)" >&2; return; }
  done
}
all_cpus="0-$(($(nproc --all) - 1))"
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
  pin_postgres "$all_cpus"
  rm -rf "$work"
}
trap cleanup EXIT
pin_postgres "$driver_cpu"

# The tenants: one account each, so that remembered consent spares them the page after the
# first pairing (ServiceTitan's everyday case).
"$python" - "$users" "$password" > "$work/directory.json" <<'EOF'
import json, sys
users, password = int(sys.argv[1]), sys.argv[2]
print(json.dumps({
    "accounts": [{"id": f"acct-{n}", "name": f"Bench account {n}", "profiles": [{"id": f"p-{n}", "name": "Main"}]}
                 for n in range(1, users + 1)],
    "users": [{"email": f"bench-{n}@bench.example", "password": password, "accounts": [f"acct-{n}"]}
              for n in range(1, users + 1)],
}))
EOF

run_on() {
  local name="$1" database_url="$2"
  shift 2
  export DATABASE_URL="$database_url"
  export OIDC_PROVIDER_MODE=production
  export OIDC_PROVIDER_ISSUER="http://127.0.0.1:$port"
  export OIDC_PROVIDER_SECRET_KEY="bench-$RANDOM$RANDOM$RANDOM"
  export OIDC_PROVIDER_ENCRYPTION_KEYS="[\"$("$python" -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')\"]"
  export OIDC_PROVIDER_RATELIMIT_STORAGE_URI="${REDIS_URL:-redis://127.0.0.1:6379/0}"
  # W3 mints its codes before it starts the clock: they must outlive minting and the run.
  export OIDC_PROVIDER_AUTHORIZATION_CODE_LIFETIME=900
  local flask=("$python" -m flask --app oidc_provider)
  "${flask[@]}" db upgrade 2>/dev/null
  "${flask[@]}" directory import "$work/directory.json" >/dev/null
  "${flask[@]}" clients create --name "ServiceTitan (bench)" --redirect-uri https://bench.invalid/callback \
      --scope "openid profile email" --json > "$work/client-$name.json"
  local client_id client_secret
  client_id="$("$python" -c 'import json,sys; print(json.load(open(sys.argv[1]))["client_id"])' "$work/client-$name.json")"
  client_secret="$("$python" -c 'import json,sys; print(json.load(open(sys.argv[1]))["client_secret"])' "$work/client-$name.json")"

  # --max-requests 0: the shipped configuration recycles a worker every ~10,000 requests, and
  # a worker's start (about 1.5 s of CPU) inside a measured window would be charged to it.
  PROMETHEUS_MULTIPROC_DIR="$work/metrics-$name" taskset -c "$server_cpu" "$python" -m gunicorn -c python:oidc_provider.gunicorn_conf \
      --workers "$workers" --max-requests 0 --bind "127.0.0.1:$port" "oidc_provider:create_app()" 2> "$results/gunicorn-$name.log" &
  server_pid=$!
  for _ in $(seq 1 600); do
    curl -sf "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
    sleep 0.1
  done
  curl -sf "http://127.0.0.1:$port/readyz" >/dev/null

  local postgres_flag=()
  [ "$name" = postgresql ] && postgres_flag=(--postgres)
  taskset -c "$driver_cpu" "$python" bench/run.py --url "http://127.0.0.1:$port" \
      --client-id "$client_id" --client-secret="$client_secret" --redirect-uri https://bench.invalid/callback \
      --password "$password" --server-pid "$server_pid" --duration "$duration" --warmup "$warmup" \
      --json "$results/$name.json" "${postgres_flag[@]}" "$@" | tee "$results/$name.txt"
  kill "$server_pid"
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
}

for name in ${DATABASES:-sqlite postgresql}; do
  case "$name" in
    sqlite)
      echo "== SQLite"
      run_on sqlite "sqlite:///$work/bench.sqlite" "$@"
      ;;
    postgresql)
      echo "== PostgreSQL"
      database="oidc_bench_$RANDOM$RANDOM"
      psql "$admin_url" -qc "CREATE DATABASE $database"
      pg_url="${admin_url%/*}/$database"
      run_on postgresql "${pg_url/postgresql:\/\//postgresql+psycopg://}" "$@"
      psql "$admin_url" -qc "DROP DATABASE $database WITH (FORCE)"
      ;;
    *) echo "unknown database in DATABASES: $name" >&2; exit 2 ;;
  esac
done

echo "== The floor (bench/floor.py)"
database="oidc_floor_$RANDOM$RANDOM"
psql "$admin_url" -qc "CREATE DATABASE $database"
pg_url="${admin_url%/*}/$database"
"$python" bench/floor.py --database-url "${pg_url/postgresql:\/\//postgresql+psycopg://}" \
    --server-cpu "$server_cpu" --driver-cpu "$driver_cpu" | tee "$results/floor.txt"
psql "$admin_url" -qc "DROP DATABASE $database WITH (FORCE)"
