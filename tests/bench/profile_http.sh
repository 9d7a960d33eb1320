#!/usr/bin/env bash
# Instructions per request, the demo server against http_reference, counted by
# valgrind's callgrind in the server process (run by hand, not by ctest).
# Instruction counts do not move with the neighbours on a shared machine, so
# this is how a gap in http_bench.sh is found and a fix is checked.
#
#   tests/bench/profile_http.sh            # /session and /count, 2000 requests each
#
# Environment: REQUESTS (default 2000), WARMUP (default 200), BUILD_DIR
# (default build/bench), KEEP (a directory: keep the callgrind.out files
# there, for callgrind_annotate).
#
# Each server runs with 1 thread under callgrind; a Python client sends
# sequential keep-alive requests with the benchmark's session cookie (the
# same session as http_bench.sh: count, color, cart). The counters are zeroed
# after the warm-up and dumped after the last request. Prints one line per
# server and route and, per route, ratio=<demo / reference instructions>.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
build=${BUILD_DIR:-$root/build/bench}
requests=${REQUESTS:-2000}
warmup=${WARMUP:-200}

# shellcheck source=tests/bench/bench_lib.sh
source "$root/tests/bench/bench_lib.sh"

"$root/cmake/install-deps.sh" valgrind curl python3
build_http_servers
bench_workdir
start_redis

# The client: warm-up, zero, the measured requests, dump. Exits non-zero on
# any answer other than 200.
cat >"$work/client.py" <<'EOF'
import http.client, subprocess, sys
url, path, cookie, warmup, requests, pid = sys.argv[1:7]
host, port = url.removeprefix("http://").split(":")
conn = http.client.HTTPConnection(host, int(port))
def run(n):
    for _ in range(n):
        conn.request("GET", path, headers={"Cookie": cookie})
        r = conn.getresponse()
        r.read()
        if r.status != 200:
            sys.exit(f"{path}: {r.status}")
run(int(warmup))
subprocess.run(["callgrind_control", "-z", pid], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
run(int(requests))
subprocess.run(["callgrind_control", "-d", pid], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
EOF

# serve NAME BINARY: starts it under callgrind (slow to start), prints its URL.
serve() {
  START_SECONDS=30 start "$1" valgrind --tool=callgrind --callgrind-out-file="$work/$1.%p.out" \
    "$2" --listen 127.0.0.1:0 --redis "$redis_url" --threads 1
}

demo=$(serve demo "$demo_bin")
reference=$(serve reference "$reference_bin")

bench_session "$demo"
cookie="sid=$sid"

# instructions NAME: the Ir total of the newest dump of that server, after
# the last one read.
instructions() {
  local file
  file=$(ls -t "$work/$1".*.out.* 2>/dev/null | head -1)
  awk '/^(summary|totals):/ {print $2; exit}' "$file"
  [ -z "${KEEP:-}" ] || cp "$file" "$KEEP/"
  rm -f "$file"
}

echo "profile_http: $requests sequential keep-alive requests per line after $warmup of warm-up, 1 server thread, callgrind"
for path in /session /count; do
  declare -A per=()
  for name in demo reference; do
    url=$demo
    [ "$name" = reference ] && url=$reference
    python3 "$work/client.py" "$url" "$path" "$cookie" "$warmup" "$requests" "$(cat "$work/$name.pid")"
    total=$(instructions "$name")
    per[$name]=$((total / requests))
    printf '%-9s %-8s %8d instructions per request\n' "$name" "$path" "${per[$name]}"
  done
  printf '%-8s demo / reference instructions per request, ratio=%s\n' "$path" \
    "$(python3 -c "print(f'{${per[demo]} / ${per[reference]}:.3f}')")"
done
