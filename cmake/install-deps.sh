#!/usr/bin/env bash
# Installs the Debian 12 packages redis_session builds and tests with, only
# those missing. apt-get as root, or through sudo. Extra package names may be
# passed as arguments (e.g. wrk for the HTTP benchmark).
set -euo pipefail
packages=(g++ cmake ninja-build pkg-config libhiredis-dev libboost-dev libssl-dev openssl
          nlohmann-json3-dev libgtest-dev libgmock-dev libbenchmark-dev redis-server redis-tools
          clang libclang-rt-14-dev "$@")
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing: ${missing[*]}"
as_root=()
[ "$(id -u)" -eq 0 ] || as_root=(sudo)
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -qq
"${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
