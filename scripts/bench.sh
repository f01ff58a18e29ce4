#!/usr/bin/env bash
# pnpm bench [--lines] [--quick] [--client=wrk|node] [lifecycle] [tls] [loopback]
# Bundles the benchmark, and the server and client programs its loopback suite runs as processes
# of their own, with esbuild (compiled code, as users run it), then runs it with plain node.
# --lines runs it on every supported Node line in turn (scripts/node-lines.sh fetches the others).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/node-lines.sh
bench=packages/node/bench

node_modules/.bin/esbuild --conditions=@effect-openssl/source "$bench/run.ts" "$bench"/loopback/servers/*.ts "$bench/loopback/loadClient.ts" \
  --bundle --platform=node --format=esm --target=node20 --log-level=warning \
  --external:effect --external:koffi --external:@effect/platform --external:@effect/platform-node \
  --outdir="$bench/.build" --entry-names='[name]' --out-extension:.js=.mjs

args=()
lines=false
for arg in "$@"; do
  if [ "$arg" = "--lines" ]; then lines=true; else args+=("$arg"); fi
done

if [ "$lines" = false ]; then
  exec node "$bench/.build/run.mjs" "${args[@]}"
fi
status=0
for version in "${NODE_LINES[@]}"; do
  echo "== Node $version"
  bin=$(node_bin "$version") && PATH="$bin:$PATH" node "$bench/.build/run.mjs" "${args[@]}" || status=1
  echo
done
exit $status
