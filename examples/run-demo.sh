#!/usr/bin/env bash
# The demo, from a fresh Debian 12 machine: installs what is missing, builds
# the full demo server (examples/demo_server/) in Release, starts a throwaway
# redis-server on a free port in a temp dir, and serves the demo in the
# foreground until Ctrl-C; everything it started is stopped and removed on exit.
#
#   examples/run-demo.sh                    # http://127.0.0.1:8080, sessions in Redis
#   examples/run-demo.sh --store memory     # no Redis at all
#   examples/run-demo.sh --listen 0.0.0.0:9000 --threads 4 --idle-timeout 600
#   examples/run-demo.sh --smoke            # start, curl a few routes, stop, exit 0 (for CI)
#
# Arguments other than --smoke go to demo_server (see demo_server --help);
# with --redis URL the demo uses that server and none is started.
# REDIS_SESSION_DEMO_SMOKE=1 is the same as --smoke.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

smoke=${REDIS_SESSION_DEMO_SMOKE:-0}
args=()
need_redis=1
has_listen=0
prev=""
for a in "$@"; do
  case $a in
    --smoke) smoke=1; prev=$a; continue ;;
    --store=memory) need_redis=0 ;;
    --redis|--redis=*) need_redis=0 ;;
    --listen|--listen=*) has_listen=1 ;;
  esac
  [ "$prev" = "--store" ] && [ "$a" = "memory" ] && need_redis=0
  args+=("$a")
  prev=$a
done

"$root/cmake/install-deps.sh" curl
build=${REDIS_SESSION_BUILD_ROOT:-$root/build}/demo
gen=()
command -v ninja >/dev/null && gen=(-G Ninja)
cmake -S "$root" -B "$build" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release -DREDIS_SESSION_BUILD_TESTS=OFF \
      -DREDIS_SESSION_BUILD_BENCHMARKS=OFF >/dev/null
cmake --build "$build" -j "$(nproc)" --target demo_server
demo=$build/examples/demo_server

tmp=$(mktemp -d)
redis_pid=""
demo_pid=""
cleanup() {
  [ -n "$demo_pid" ] && kill "$demo_pid" 2>/dev/null && wait "$demo_pid" 2>/dev/null
  [ -n "$redis_pid" ] && kill "$redis_pid" 2>/dev/null && wait "$redis_pid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT

if [ "$need_redis" = 1 ]; then
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' \
         2>/dev/null || shuf -i 20000-60000 -n 1)
  redis-server --port "$port" --bind 127.0.0.1 --dir "$tmp" --save "" --appendonly no --daemonize no \
               --logfile "$tmp/redis.log" &
  redis_pid=$!
  for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.05; done
  redis-cli -p "$port" ping >/dev/null 2>&1 || { echo "redis-server did not start:"; cat "$tmp/redis.log"; exit 1; }
  echo "redis-server (throwaway) on 127.0.0.1:$port, data in $tmp (removed on exit)"
  args=(--redis "redis://127.0.0.1:$port/0" "${args[@]}")
fi

if [ "$smoke" != 1 ]; then
  # In the background so that Ctrl-C or a TERM to this script reaches the
  # demo (it exits cleanly on either) and the cleanup above still runs.
  "$demo" "${args[@]}" &
  demo_pid=$!
  trap 'kill -TERM "$demo_pid" 2>/dev/null' INT TERM
  # A trapped signal ends `wait` early: wait again until the demo has exited,
  # then once more for its exit status.
  while kill -0 "$demo_pid" 2>/dev/null; do wait "$demo_pid" || true; done
  status=0
  wait "$demo_pid" || status=$?
  demo_pid=""
  exit "$status"
fi

# --smoke: any free port, a few requests, a clean stop.
[ "$has_listen" = 1 ] || args+=(--listen 127.0.0.1:0)
"$demo" "${args[@]}" >"$tmp/demo.out" 2>&1 &
demo_pid=$!
url=""
for _ in $(seq 300); do
  url=$(sed -n 's/.*listening on \(http:\/\/[^ ]*\).*/\1/p' "$tmp/demo.out" | head -1)
  [ -n "$url" ] && break
  kill -0 "$demo_pid" 2>/dev/null || break
  sleep 0.1
done
cat "$tmp/demo.out"
[ -n "$url" ] || { echo "smoke: demo_server did not start"; exit 1; }

jar=$tmp/cookies
fail() { echo "smoke: FAIL: $*"; exit 1; }
expect() {  # expect WANT METHOD PATH [BODY]
  local want=$1 method=$2 path=$3 got
  got=$(curl -fsS -b "$jar" -c "$jar" -X "$method" ${4:+--data-binary "$4"} "$url$path") ||
    fail "$method $path"
  case $got in
    *"$want"*) echo "smoke: $method $path -> ${got%%$'\n'*}" ;;
    *) fail "$method $path gave '$got', wanted '$want'" ;;
  esac
}
expect ok GET /plain
expect ok GET /healthz
expect 1 GET /count
expect 2 GET /count
expect "" PUT /session/color '"blue"'
expect '"color":"blue"' GET /session
expect '"user":"ann"' POST '/login?user=ann'
expect '{}' POST /logout
expect '{}' GET /session
expect '# TYPE' GET /metrics
curl -fsS "$url/" | grep -q 'id="count-button"' || fail "GET / is not the demo page"
echo "smoke: GET / -> the demo page"

kill -TERM "$demo_pid"
status=0
wait "$demo_pid" || status=$?
demo_pid=""
[ "$status" = 0 ] || fail "demo_server exited $status on SIGTERM"
echo "smoke: demo_server stopped cleanly; demo smoke test passed"
