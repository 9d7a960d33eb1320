#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine: installs what is
# missing, then builds and runs ctest in three flavours:
#   release  Release build, -Werror: unit, integration, examples (smoke-tested
#            against throwaway servers), the demo in headless Chromium, consumer
#            packages and the README quick start, every benchmark in --quick mode
#   asan     ASan + UBSan: unit and integration tests
#   tsan     ThreadSanitizer: unit and integration tests
#   fuzz     clang + libFuzzer (ASan+UBSan): the decoder, URL, cookie and codec
#            fuzzers, 20 s each
# Every test that needs Redis starts its own redis-server on a free port in a
# temp dir and removes it. Usage: tests/run.sh [release] [asan] [tsan] [fuzz]
# (default: all four). Exits non-zero if anything fails.
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$root/cmake/install-deps.sh" || { echo "dependency installation failed"; exit 1; }
# The browser test of the demo (release flavour) needs chromium and playwright-core.
"$root/tests/e2e/install-e2e-deps.sh" || { echo "e2e dependency installation failed"; exit 1; }

flavours=("$@")
[ ${#flavours[@]} -gt 0 ] || flavours=(release asan tsan fuzz)
build_root=${REDIS_SESSION_BUILD_ROOT:-$root/build}
jobs=$(nproc)
failed=()

run_flavour() {
  local name=$1 dir="$build_root/$1" cxxflags="" type=Release labels=""
  local extra=(-DREDIS_SESSION_WERROR=ON)
  case $name in
    release) ;;
    asan) type=RelWithDebInfo
          cxxflags="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all"
          extra+=(-DREDIS_SESSION_BUILD_EXAMPLES=OFF -DREDIS_SESSION_BUILD_BENCHMARKS=OFF); labels="unit|integration" ;;
    tsan) type=RelWithDebInfo
          cxxflags="-O1 -g -fsanitize=thread -Wno-tsan"
          extra+=(-DREDIS_SESSION_BUILD_EXAMPLES=OFF -DREDIS_SESSION_BUILD_BENCHMARKS=OFF); labels="unit|integration" ;;
    fuzz) type=RelWithDebInfo
          cxxflags="-O1 -g -fsanitize=address,undefined -fsanitize=fuzzer-no-link -fno-sanitize-recover=all"
          extra+=(-DCMAKE_CXX_COMPILER=clang++ -DREDIS_SESSION_BUILD_TESTS=OFF -DREDIS_SESSION_BUILD_EXAMPLES=OFF
                  -DREDIS_SESSION_BUILD_BENCHMARKS=OFF -DREDIS_SESSION_BUILD_FUZZERS=ON); labels="fuzz" ;;
    *) echo "unknown flavour $name"; return 1 ;;
  esac
  echo "=== $name: configure and build ($dir)"
  local gen=()
  command -v ninja >/dev/null && gen=(-G Ninja)
  cmake -S "$root" -B "$dir" "${gen[@]}" -DCMAKE_BUILD_TYPE=$type ${cxxflags:+"-DCMAKE_CXX_FLAGS=$cxxflags"} \
        "${extra[@]}" >"$dir.configure.log" 2>&1 || { cat "$dir.configure.log"; return 1; }
  cmake --build "$dir" -j "$jobs" || return 1
  echo "=== $name: ctest"
  local args=(--test-dir "$dir" --output-on-failure -j "$jobs" --timeout 900)
  [ -n "$labels" ] && args+=(-L "$labels")
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" \
    ctest "${args[@]}"
}

mkdir -p "$build_root"
for f in "${flavours[@]}"; do
  start=$SECONDS
  if run_flavour "$f"; then
    echo "=== $f: passed in $((SECONDS - start)) s"
  else
    echo "=== $f: FAILED after $((SECONDS - start)) s"
    failed+=("$f")
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "FAILED flavours: ${failed[*]}"
  exit 1
fi
echo "all flavours passed: ${flavours[*]}"
