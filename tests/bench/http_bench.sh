#!/usr/bin/env bash
# End-to-end HTTP benchmark, run by hand (not by ctest): the demo server
# (examples/demo_server/) against http_reference (the same routes and Redis
# work written by hand with Beast and hiredis) and against a Node stack (koa 3 + koa-generic-session +
# koa-redis), all on one throwaway redis-server, runs alternated A B A B so
# drift on a shared machine hits both sides alike.
#
#   tests/bench/http_bench.sh
#   tests/bench/http_bench.sh --quick   # DURATION=2 RSS_REQUESTS=100000: a first look
#
# Environment: THREADS (server threads, default 2), DURATION (seconds per
# wrk run, default 5), ROUNDS (alternations, default 3), RSS_REQUESTS
# (default 1000000), NODE_WORKERS (Node processes, default 1), BUILD_DIR
# (default build/bench).
#
# Prints the Redis round trips per request of each server and route (counted
# by a small proxy between the servers and Redis, checked against limits:
# /count with a session is one, the increment script), one line per run
# (req/s, p50, p99), then per route and connection count ratio=<demo/reference>
# (median of the rounds' paired ratios) beside both servers' round trips for
# that route, the RSS growth of demo_server over RSS_REQUESTS requests, and the
# Node comparison. Exits 1 when a check or a goal fails.
#
# On a machine shared with other work, `nice -n -10 tests/bench/http_bench.sh`
# (as root) gives every process of the benchmark (Redis, the servers, wrk)
# the same head start over the rest, so the figures measure the code more
# than the neighbours; the load average is printed at the start and the end.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
if [ "${1:-}" = --quick ]; then
  : "${DURATION:=2}" "${RSS_REQUESTS:=100000}"
elif [ $# -gt 0 ]; then
  echo "usage: tests/bench/http_bench.sh [--quick]" >&2
  exit 2
fi
build=${BUILD_DIR:-$root/build/bench}
threads=${THREADS:-2}
duration=${DURATION:-5}
rounds=${ROUNDS:-3}
rss_requests=${RSS_REQUESTS:-1000000}
node_workers=${NODE_WORKERS:-1}
status=0

# shellcheck source=tests/bench/bench_lib.sh
source "$root/tests/bench/bench_lib.sh"

"$root/cmake/install-deps.sh" wrk curl python3
command -v node >/dev/null && command -v npm >/dev/null || "$root/cmake/install-deps.sh" nodejs npm
build_http_servers
(cd "$root/tests/bench/node" && { [ -d node_modules ] || npm ci --no-audit --no-fund --silent; })
bench_workdir

# ------------------------------------------------------------------ Redis

start_redis

# A counting proxy between a server and Redis. A round trip is a burst of
# client bytes followed by the server's answer (a pipelined HGETALL+PEXPIRE is
# one); bursts of only PING or connection setup are counted apart. SIGUSR1
# writes the counts since the last one to $work/counts.json.
cat >"$work/proxy.py" <<'EOF'
import asyncio, collections, json, signal, sys

listen_port, redis_port, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
housekeeping = {"PING", "CLIENT", "SELECT", "AUTH", "HELLO", "SCRIPT"}
counts = {"round_trips": 0, "housekeeping": 0, "commands": collections.Counter()}
states = {}  # id -> the state of one client connection

def close_burst(state):
    if state["burst"]:
        counts["housekeeping" if state["burst"] <= housekeeping else "round_trips"] += 1
        state["burst"] = set()

def parse(buf):
    """Complete RESP commands at the start of buf: (names, bytes used)."""
    names, pos = [], 0
    while True:
        if not buf.startswith(b"*", pos):
            return names, pos
        end = buf.find(b"\r\n", pos)
        if end < 0:
            return names, pos
        n, p, args = int(buf[pos + 1:end]), end + 2, []
        for _ in range(n):
            e = buf.find(b"\r\n", p)
            if e < 0:
                return names, pos
            size = int(buf[p + 1:e])
            if len(buf) < e + 2 + size + 2:
                return names, pos
            args.append(buf[e + 2:e + 2 + size])
            p = e + 2 + size + 2
        names.append(args[0].decode().upper())
        pos = p

async def client(reader, writer):
    up_reader, up_writer = await asyncio.open_connection("127.0.0.1", redis_port)
    state = {"answered": True, "burst": set(), "buf": b""}
    states[id(state)] = state

    async def upstream():
        while data := await reader.read(65536):
            if state["answered"]:
                close_burst(state)
                state["answered"] = False
            state["buf"] += data
            names, used = parse(state["buf"])
            state["buf"] = state["buf"][used:]
            state["burst"].update(names)
            counts["commands"].update(names)
            up_writer.write(data)
            await up_writer.drain()
        up_writer.close()

    async def downstream():
        while data := await up_reader.read(65536):
            state["answered"] = True
            writer.write(data)
            await writer.drain()
        writer.close()

    await asyncio.gather(upstream(), downstream(), return_exceptions=True)
    close_burst(state)
    del states[id(state)]

def dump():
    # Bursts already answered belong to the requests made so far.
    for state in states.values():
        if state["answered"]:
            close_burst(state)
    with open(out, "w") as f:
        json.dump({"round_trips": counts["round_trips"], "housekeeping": counts["housekeeping"],
                   "commands": dict(counts["commands"])}, f)
    counts["round_trips"] = counts["housekeeping"] = 0
    counts["commands"] = collections.Counter()

async def main():
    server = await asyncio.start_server(client, "127.0.0.1", listen_port)
    asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, dump)
    print("proxy ready", flush=True)
    async with server:
        await server.serve_forever()

asyncio.run(main())
EOF

# ------------------------------------------------------------------ servers

demo=$(start demo "$demo_bin" --listen 127.0.0.1:0 --redis "$redis_url" --threads "$threads")
reference=$(start reference "$reference_bin" --listen 127.0.0.1:0 --redis "$redis_url" --threads "$threads")
demo_pid=$(cat "$work/demo.pid")
reference_pid=$(cat "$work/reference.pid")

# The benchmark's session, made through the demo: three fields. The
# reference reads the same hash (same keys and layout), so both answer the
# same body.
bench_session "$demo"
cookie="Cookie: sid=$sid"
demo_body=$(curl -sf -H "$cookie" "$demo/session")
reference_body=$(curl -sf -H "$cookie" "$reference/session")
echo "session $demo_body"
if [ "$demo_body" != "$reference_body" ]; then
  echo "FAIL the reference answers /session differently: $reference_body"
  status=1
fi

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load:$(uptime | sed 's/.*load average://')"
echo "servers: $threads threads each; wrk -t2, ${duration}s per run, $rounds alternations"

# ------------------------------------------------------------------ round trips

proxy_port=$(free_port)
python3 "$work/proxy.py" "$proxy_port" "$redis_port" "$work/counts.json" >"$work/proxy.log" 2>&1 &
proxy_pid=$!
pids+=($proxy_pid)
for _ in $(seq 50); do grep -q ready "$work/proxy.log" && break; sleep 0.1; done
proxied_demo=$(start demo_counted "$demo_bin" --listen 127.0.0.1:0 --redis redis://127.0.0.1:$proxy_port --threads "$threads")
proxied_reference=$(start reference_counted "$reference_bin" --listen 127.0.0.1:0 --redis redis://127.0.0.1:$proxy_port --threads "$threads")

# count URL N [HEADER]: N sequential keep-alive requests; prints
# "round_trips_per_request commands..." for them.
count() {
  local urls=()
  for _ in $(seq "$2"); do urls+=("$1"); done
  curl -sf ${3:+-H "$3"} "${urls[0]}" >/dev/null  # warm: connect, SELECT, a first PING
  sleep 0.2
  kill -USR1 "$proxy_pid"
  sleep 0.3
  curl -sf ${3:+-H "$3"} "${urls[@]}" >/dev/null
  sleep 0.2
  kill -USR1 "$proxy_pid"
  sleep 0.3
  python3 - "$work/counts.json" "$2" <<'EOF'
import json, sys
c, n = json.load(open(sys.argv[1])), int(sys.argv[2])
per = {k: v / n for k, v in sorted(c["commands"].items())}
print("%.2f" % (c["round_trips"] / n), " ".join("%s=%.2f" % kv for kv in per.items()) or "(none)")
EOF
}

# check_rt WHAT LIMIT COUNTED: one line, ok or FAIL; keeps the figure in
# trips["$side $WHAT"] for the tables below.
declare -A trips
check_rt() {
  local counted commands ok
  read -r counted commands <<<"$3"
  trips["$side $1"]=$counted
  ok=$(awk -v t="$counted" -v l="$2" 'BEGIN { print (t <= l) ? "ok  " : "FAIL" }')
  [ "$ok" = FAIL ] && status=1
  printf '%s %-9s %-27s round trips %s (limit %s)  per request: %s\n' "$ok" "$side" "$1" "$counted" "$2" "$commands"
}

echo "Redis round trips per request (100 sequential requests each, counted by a proxy; PING/setup apart):"
n=100
for side in demo reference; do
  url=$proxied_demo
  [ $side = reference ] && url=$proxied_reference
  got=$(count "$url/session" $n "$cookie")
  check_rt "/session (a read)" 1 "$got"
  if grep -qE 'EVAL|HSET|HDEL|UNLINK|DEL' <<<"$got"; then
    echo "FAIL $side /session wrote something: $got"
    status=1
  fi
  # Issue 16: the increment script alone (it creates, increments and slides
  # the expiry), no load first.
  got=$(count "$url/count" $n "$cookie")
  check_rt "/count (existing session)" 1 "$got"
  if ! grep -qE '(^| )EVALSHA=1.00( |$)' <<<"$got" || grep -q HGETALL <<<"$got"; then
    echo "FAIL $side /count sends more than its increment: $got"
    status=1
  fi
  check_rt "/count (new session)" 1 "$(count "$url/count" $n)"
  check_rt "/session (no cookie)" 0 "$(count "$url/session" $n)"
  check_rt "/plain" 0 "$(count "$url/plain" $n)"
done
# Only the throughput servers run from here on.
kill "$proxy_pid" "$(cat "$work/demo_counted.pid")" "$(cat "$work/reference_counted.pid")" 2>/dev/null || true
wait "$proxy_pid" 2>/dev/null || true
rm "$work/demo_counted.pid" "$work/reference_counted.pid"

echo
echo "round trips per request      demo  reference"
for what in "/session (a read)" "/count (existing session)" "/count (new session)" "/session (no cookie)" "/plain"; do
  printf '  %-27s %5s  %5s\n' "$what" "${trips[demo $what]}" "${trips[reference $what]}"
done

# ------------------------------------------------------------------ demo vs reference

# CPU time (user + system, clock ticks) a process has used so far.
cpu_ticks() { sed 's/.*) //' /proc/"$1"/stat | awk '{ print $12 + $13 }'; }

# wrk_run URL CONNECTIONS HEADER [SERVER_PID]: "req/s p50_ms p99_ms requests
# server_cpu_us redis_cpu_us", the last two per request. CPU time per request
# hardly depends on what else runs on the machine, unlike requests/s.
wrk_run() {
  local out server_before redis_before server_after redis_after
  server_before=$(cpu_ticks "${4:-$redis_pid}")
  redis_before=$(cpu_ticks "$redis_pid")
  out=$(wrk -t2 -c"$2" -d"${duration}s" --latency ${3:+-H "$3"} "$1")
  server_after=$(cpu_ticks "${4:-$redis_pid}")
  redis_after=$(cpu_ticks "$redis_pid")
  if grep -qE 'Non-2xx|Socket errors' <<<"$out"; then
    echo "FAIL wrk saw errors on $1:" >&2
    echo "$out" >&2
    touch "$work/wrk_failed"
  fi
  awk -v sb="$server_before" -v sa="$server_after" -v rb="$redis_before" -v ra="$redis_after" -v hz="$(getconf CLK_TCK)" '
    function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
    /Requests\/sec/ { rps = $2 }
    $1 == "50%" { p50 = ms($2) }
    $1 == "99%" { p99 = ms($2) }
    /requests in/ { n = $1 }
    END { printf "%.0f %.3f %.3f %d %.2f %.2f\n", rps, p50, p99, n, (sa - sb) * 1e6 / hz / n, (ra - rb) * 1e6 / hz / n }' <<<"$out"
}

median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# Warm-up: connections, pools, allocator arenas, the script cache.
for url in "$demo" "$reference"; do
  for route in plain session count; do wrk -t2 -c50 -d2s -H "$cookie" "$url/$route" >/dev/null; done
done
rss_start=$(awk '/VmRSS/ {print $2}' /proc/"$demo_pid"/status)

echo
# The round trips counted above that each benchmarked route makes (the
# benchmark's cookie names an existing session).
declare -A route_rt=([plain]="/plain" [session]="/session (a read)" [count]="/count (existing session)")
summary=()
for route in plain session count; do
  for conns in 8 50; do
    : >"$work/ratios"
    : >"$work/cpu_ratios"
    : >"$work/demo.runs"
    : >"$work/reference.runs"
    for round in $(seq "$rounds"); do
      for side in demo reference; do
        url=$demo pid=$demo_pid
        [ $side = reference ] && url=$reference pid=$reference_pid
        read -r rps p50 p99 _ server_us redis_us < <(wrk_run "$url/$route" "$conns" "$cookie" "$pid")
        echo "$rps $p50 $p99 $server_us $redis_us" >>"$work/$side.runs"
        printf 'run /%-8s -c%-3s %-9s round %d: %7d req/s  p50 %6.2f ms  p99 %6.2f ms  CPU/request: server %5.1f us, redis %4.1f us\n' \
          "$route" "$conns" "$side" "$round" "$rps" "$p50" "$p99" "$server_us" "$redis_us"
      done
      paste -d' ' "$work/demo.runs" "$work/reference.runs" | tail -1 | awk '{ printf "%.4f\n", $1 / $6 }' >>"$work/ratios"
      # CPU (server + Redis) the reference spends per request over what the demo spends.
      paste -d' ' "$work/demo.runs" "$work/reference.runs" | tail -1 |
        awk '{ printf "%.4f\n", ($9 + $10) / ($4 + $5) }' >>"$work/cpu_ratios"
    done
    ratio=$(median <"$work/ratios")
    cpu_ratio=$(median <"$work/cpu_ratios")
    d_cpu=$(awk '{ print $4 + $5 }' "$work/demo.runs" | median)
    r_cpu=$(awk '{ print $4 + $5 }' "$work/reference.runs" | median)
    d_rps=$(cut -d' ' -f1 "$work/demo.runs" | median)
    r_rps=$(cut -d' ' -f1 "$work/reference.runs" | median)
    d_p50=$(cut -d' ' -f2 "$work/demo.runs" | median)
    d_p99=$(cut -d' ' -f3 "$work/demo.runs" | median)
    r_p50=$(cut -d' ' -f2 "$work/reference.runs" | median)
    r_p99=$(cut -d' ' -f3 "$work/reference.runs" | median)
    verdict="(no goal)"
    if [ $route != plain ]; then
      verdict=$(awk -v r="$ratio" 'BEGIN { print (r >= 0.90) ? "goal >= 0.90 met" : "goal >= 0.90 MISSED" }')
      [[ $verdict == *MISSED* ]] && status=1
    fi
    if [ $route = session ] && [ "$conns" = 50 ]; then
      p99_verdict=$(awk -v p="$d_p99" 'BEGIN { print (p <= 5) ? "met" : "MISSED" }')
      [ "$p99_verdict" = MISSED ] && status=1
      verdict="$verdict; demo p99 <= 5 ms $p99_verdict"
    fi
    what=${route_rt[$route]}
    summary+=("$(printf '/%-8s -c%-3s demo %6.0f req/s (p50 %.2f, p99 %.2f ms, %.1f us CPU, %s round trips)  reference %6.0f req/s (p50 %.2f, p99 %.2f ms, %.1f us CPU, %s round trips)  ratio=%.3f  cpu_ratio=%.3f  %s' \
      "$route" "$conns" "$d_rps" "$d_p50" "$d_p99" "$d_cpu" "${trips[demo $what]}" "$r_rps" "$r_p50" "$r_p99" "$r_cpu" \
      "${trips[reference $what]}" "$ratio" "$cpu_ratio" "$verdict")")
  done
done
echo
echo "medians over $rounds alternations; ratio: median of the paired demo/reference requests/s ratios;"
echo "cpu_ratio: median of the paired reference/demo ratios of CPU (server + Redis) per request;"
echo "round trips: Redis round trips per request of each server, counted above"
printf '%s\n' "${summary[@]}"

# ------------------------------------------------------------------ RSS

echo
rss_before=$(awk '/VmRSS/ {print $2}' /proc/"$demo_pid"/status)
done_requests=0
while [ "$done_requests" -lt "$rss_requests" ]; do
  for route in session count plain; do
    read -r _ _ _ got _ < <(wrk_run "$demo/$route" 50 "$cookie")
    done_requests=$((done_requests + got))
  done
done
rss_after=$(awk '/VmRSS/ {print $2}' /proc/"$demo_pid"/status)
growth=$((rss_after - rss_before))
rss_verdict=$(awk -v g="$growth" 'BEGIN { print (g < 5120) ? "ok  " : "FAIL" }')
[ "$rss_verdict" = FAIL ] && status=1
echo "$rss_verdict demo_server RSS: $rss_start kB after warm-up, $rss_before kB before and $rss_after kB after" \
  "$done_requests more requests (/session, /count, /plain at -c50): growth $growth kB (limit 5120 kB)"

# ------------------------------------------------------------------ Node

node_url=$(start node node "$root/tests/bench/node/server.js" --redis "$redis_url" --listen 127.0.0.1:0 \
  --workers "$node_workers")
node_jar=$work/node_jar
curl -sf -c "$node_jar" -b "$node_jar" "$node_url/count" >/dev/null
curl -sf -c "$node_jar" -b "$node_jar" "$node_url/count" >/dev/null
node_cookie="Cookie: $(awk '$6 ~ /^koa\.sid/ {printf "%s%s=%s", sep, $6, $7; sep="; "}' "$node_jar")"
echo "node session: $(curl -sf -H "$node_cookie" "$node_url/session")"
node_pid=$(cat "$work/node.pid")
wrk -t2 -c50 -d2s -H "$node_cookie" "$node_url/session" >/dev/null
: >"$work/node_ratios"
: >"$work/node_cpu_ratios"
for round in $(seq "$rounds"); do
  read -r d_rps d_p50 d_p99 _ d_server d_redis < <(wrk_run "$demo/session" 50 "$cookie" "$demo_pid")
  read -r n_rps n_p50 n_p99 _ n_server n_redis < <(wrk_run "$node_url/session" 50 "$node_cookie" "$node_pid")
  printf 'run /session -c50 round %d: demo %6d req/s (p99 %.2f ms, CPU %.1f + %.1f us)  node %6d req/s (p99 %.2f ms, CPU %.1f + %.1f us)\n' \
    "$round" "$d_rps" "$d_p99" "$d_server" "$d_redis" "$n_rps" "$n_p99" "$n_server" "$n_redis"
  awk -v d="$d_rps" -v n="$n_rps" 'BEGIN { printf "%.4f\n", d / n }' >>"$work/node_ratios"
  awk -v d="$d_server" -v n="$n_server" 'BEGIN { printf "%.4f\n", n / d }' >>"$work/node_cpu_ratios"
done
node_ratio=$(median <"$work/node_ratios")
node_cpu_ratio=$(median <"$work/node_cpu_ratios")
node_verdict=$(awk -v r="$node_ratio" 'BEGIN { print (r >= 2.5) ? "goal >= 2.5 met" : "goal >= 2.5 MISSED" }')
[[ $node_verdict == *MISSED* ]] && status=1
echo "session read, wrk -t2 -c50: demo_server vs koa ($node_workers process(es)): ratio=$node_ratio  $node_verdict" \
  "(server CPU per request, node / demo: cpu_ratio=$node_cpu_ratio)"

if [ -e "$work/wrk_failed" ]; then
  echo "FAIL some wrk run saw errors (above)"
  status=1
fi
echo
echo "load at the end:$(uptime | sed 's/.*load average://')"
exit $status
