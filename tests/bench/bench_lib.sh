# Shell helpers for the benchmark scripts run by hand (http_bench.sh,
# profile_http.sh, plot_store_bench.sh); sourced, not run. The caller sets
# $work (a temp dir it removes) and kills the processes whose pids these
# helpers leave in $work/*.pid, or calls bench_workdir, which does both.

# bench_workdir: a fresh $work, removed on exit after every process whose pid
# is in $work/*.pid or in the array `pids` is stopped.
bench_workdir() {
  work=$(mktemp -d)
  pids=()
  trap bench_cleanup EXIT
  trap 'exit 130' INT TERM
}
bench_cleanup() {
  for pid in "${pids[@]}" $(cat "$work"/*.pid 2>/dev/null); do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}

# build_http_servers: the two servers the HTTP benchmarks compare, in Release
# in $build; sets demo_bin (examples/demo_server/) and reference_bin
# (http_reference.cpp).
build_http_servers() {
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DREDIS_SESSION_BUILD_BENCHMARKS=ON >/dev/null
  cmake --build "$build" --target demo_server http_reference -j2 >/dev/null
  demo_bin=$build/examples/demo_server
  reference_bin=$build/tests/bench/http_reference
}

# bench_session URL: the benchmarks' session, made through the demo at URL:
# three fields (count, color, cart). Sets sid to its id.
bench_session() {
  local jar=$work/jar
  curl -sf -c "$jar" -b "$jar" "$1/count" >/dev/null
  curl -sf -c "$jar" -b "$jar" -X PUT -d '"blue"' "$1/session/color" >/dev/null
  curl -sf -c "$jar" -b "$jar" -X PUT -d '[1,2,3]' "$1/session/cart" >/dev/null
  sid=$(awk '$6 == "sid" {print $7}' "$jar")
}

# A free TCP port on 127.0.0.1 right now.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_redis: a throwaway redis-server (no persistence) on a free port in
# $work; sets redis_port, redis_url and redis_pid once it answers PING.
start_redis() {
  redis_port=$(free_port)
  redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no --dir "$work" \
    --logfile "$work/redis.log" &
  redis_pid=$!
  echo "$redis_pid" >"$work/redis.pid"
  for _ in $(seq 50); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.1; done
  redis_url=redis://127.0.0.1:$redis_port
}

# start NAME COMMAND...: runs it in the background, waits (START_SECONDS,
# default 10) for its "listening on http://..." line and prints that URL.
start() {
  local name=$1
  shift
  "$@" >"$work/$name.log" 2>&1 &
  echo $! >"$work/$name.pid"  # read by the caller's cleanup: this runs in a $(...) subshell
  for _ in $(seq $((${START_SECONDS:-10} * 10))); do
    if grep -q 'listening on http://' "$work/$name.log"; then
      grep -o 'http://[0-9.]*:[0-9]*' "$work/$name.log" | head -1
      return
    fi
    sleep 0.1
  done
  echo "$name did not start:" >&2
  cat "$work/$name.log" >&2
  exit 1
}
