#!/usr/bin/env bash
# Installs what the browser test (ctest -L e2e) needs, only what is missing:
# the project's Debian packages (cmake/install-deps.sh) plus chromium, fonts,
# libcpp-httplib-dev (for the httplib example) and node/npm when absent;
# then playwright-core, pinned, into tests/e2e/node_modules (or
# $REDIS_SESSION_E2E_PREFIX/node_modules). Nothing is installed globally,
# and no browser is ever downloaded: the test drives /usr/bin/chromium.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
# The newest release that still runs on Debian 12's node 18 (1.62 wants 20).
playwright_version=1.61.1
prefix=${REDIS_SESSION_E2E_PREFIX:-$here}

extra=(chromium fonts-dejavu-core libcpp-httplib-dev)
command -v node >/dev/null || extra+=(nodejs)
command -v npm >/dev/null || extra+=(npm)
"$root/cmake/install-deps.sh" "${extra[@]}"

installed=$(node -p "try { require('$prefix/node_modules/playwright-core/package.json').version } catch { '' }")
if [ "$installed" != "$playwright_version" ]; then
  echo "installing playwright-core@$playwright_version into $prefix/node_modules"
  mkdir -p "$prefix"
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --prefix "$prefix" --no-save --no-package-lock --no-audit \
    --no-fund --loglevel=error "playwright-core@$playwright_version" >/dev/null
fi
