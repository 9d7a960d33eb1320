#!/usr/bin/env bash
# Plots store_bench's rate against threads (T = 1, 2, 4, 8): RedisPoolStore
# beside raw hiredis sending the same bytes, and the naive blob store, into
# docs/store_bench.png (shown in README.md). Run by hand:
#
#   tests/bench/plot_store_bench.sh [OUTPUT.png]
#
# Builds store_bench in Release (BUILD_DIR, default build/bench), starts a
# throwaway redis-server, runs store_bench --threads T for each T (each run
# is the median of 15 paired rounds), keeps the figures in a .dat file beside
# the PNG and draws them with gnuplot.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
build=${BUILD_DIR:-$root/build/bench}
out=${1:-$root/docs/store_bench.png}
data=${out%.png}.dat

"$root/cmake/install-deps.sh" gnuplot-nox python3
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DREDIS_SESSION_BUILD_BENCHMARKS=ON >/dev/null
cmake --build "$build" --target store_bench -j2 >/dev/null

work=$(mktemp -d)
cleanup() {
  [ -e "$work/redis.pid" ] && kill "$(cat "$work/redis.pid")" 2>/dev/null
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
# shellcheck source=tests/bench/bench_lib.sh
source "$root/tests/bench/bench_lib.sh"
start_redis

mkdir -p "$(dirname "$out")"
echo "# threads store_ops_per_s raw_hiredis_ops_per_s naive_blob_ops_per_s ratio (store_bench, $(date -u +%F), load:$(uptime | sed 's/.*load average://'))" >"$data"
for threads in 1 2 4 8; do
  "$build/tests/bench/store_bench" --redis "$redis_url" --threads "$threads" | tee "$work/run.txt"
  # "T=2 store 24258 ops/s, raw hiredis 21339 ops/s, goal >= 0.90, ratio=1.225"
  # "T=2 naive GET/SET blob: 29372 ops/s (no goal)"
  awk -v t="$threads" '
    $2 == "store" { store = $3; raw = $7; split($NF, r, "="); ratio = r[2] }
    $2 == "naive" { naive = $5 }
    END { print t, store, raw, naive, ratio }' "$work/run.txt" >>"$data"
done
cat "$data"

gnuplot <<EOF
set terminal pngcairo size 800,480 font "sans,11" noenhanced
set output "$out"
set title "store_bench: load 1 KB / 10 fields, change 1, save (medians of 15 paired rounds)"
set xlabel "threads"
set ylabel "operations per second"
set logscale x 2
set xtics ("1" 1, "2" 2, "4" 4, "8" 8)
set xrange [0.8:10]
set yrange [0:*]
set grid
set key bottom right
set format y "%.0f"
plot "$data" using 1:2 with linespoints lw 2 pt 7 title "RedisPoolStore", \
     "$data" using 1:3 with linespoints lw 2 pt 5 title "raw hiredis, same bytes", \
     "$data" using 1:4 with linespoints lw 1 dt 2 pt 9 title "naive GET/SET JSON blob"
EOF
echo "wrote $out and $data"
