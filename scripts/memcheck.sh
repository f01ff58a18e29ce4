#!/usr/bin/env bash
# The memory check: a focused program (lifecycle, sessions, the engine on good and bad input, and
# the racing patterns of the race properties; packages/test/hardening/cli/memcheck.ts) under
# valgrind memcheck, with `node --jitless` (V8's JIT writes code valgrind would have to follow).
# Any invalid read or write, invalid free, or use of freed or uninitialised memory that
# scripts/memcheck.supp does not suppress fails the run, with a summary of each error.
# Usage: scripts/memcheck.sh [--scale N]    (N multiplies the program's counts; default 1)
set -uo pipefail
cd "$(dirname "$0")/.."
out=.cache/memcheck
mkdir -p "$out"

if ! command -v valgrind >/dev/null 2>&1; then
  echo "memcheck: valgrind not found (Debian package valgrind; scripts/system-deps.sh installs it)"
  exit 1
fi

# One bundle (koffi stays a native module, found through NODE_PATH): loading a few hundred
# modules under valgrind costs more than the checks.
node_modules/.bin/esbuild packages/test/hardening/cli/memcheck.ts --bundle --platform=node --format=cjs \
  --target=node20 --external:koffi --log-level=warning --outfile="$out/memcheck.cjs" || exit 1

started=$(date +%s)
# Valgrind slows the program down 20 to 50 times: the race runs' time bounds are scaled by 20.
NODE_PATH="$PWD/packages/node/node_modules" valgrind --tool=memcheck --leak-check=no --num-callers=40 \
  --suppressions=scripts/memcheck.supp --xml=yes --xml-file="$out/valgrind.xml" --log-file="$out/valgrind.log" \
  node --jitless "$out/memcheck.cjs" --time-scale 20 "$@" 2>&1 | grep -v "disabling flag --expose_wasm"
program=${PIPESTATUS[0]}
echo "memcheck: valgrind run took $(($(date +%s) - started)) s (log: $out/valgrind.log)"

node_modules/.bin/tsx packages/test/hardening/cli/memcheck-report.ts "$out/valgrind.xml"
report=$?

if [ "$report" -ne 0 ]; then
  echo "memcheck: FAILED: valgrind found memory errors (above)"
  exit 1
fi
if [ "$program" -ne 0 ]; then
  echo "memcheck: FAILED: the program's own checks found problems (above)"
  exit 1
fi
echo "memcheck: passed"
