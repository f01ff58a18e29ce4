#!/usr/bin/env bash
# The whole test job: type-check, lint and format check, the vitest suites on the machine's Node
# and on every other supported Node line (there without the long tests of our own code: see
# `excludedOnOtherLines` in vitest.shared.ts), then (once, on the machine's Node) the packages packed
# and installed into fresh projects, and the memory check under valgrind. Ends with a summary.
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/node-lines.sh
reports=.cache/vitest
rm -rf "$reports" && mkdir -p "$reports"
status=0

step() {
  echo "== $1"
  shift
  "$@" || status=1
}

step "type-check" pnpm -s check
step "lint + format" pnpm -s lint

run_vitest() {
  local label=$1
  node node_modules/vitest/vitest.mjs run --reporter=default --reporter=json --outputFile="$reports/$label.json"
}

current=$(node -p 'process.versions.node')
step "vitest on Node $current (OpenSSL $(node -p 'process.versions.openssl'))" run_vitest "node-$current"
for version in "${NODE_LINES[@]}"; do
  [ "${version%%.*}" = "${current%%.*}" ] && continue
  if bin=$(node_bin "$version"); then
    step "vitest on Node $version (OpenSSL $(PATH="$bin:$PATH" node -p 'process.versions.openssl'))" \
      env PATH="$bin:$PATH" EFFECT_OPENSSL_OTHER_NODE_LINE=1 \
      bash -c "$(declare -f run_vitest); reports=$reports; run_vitest node-$version"
  else
    status=1
  fi
done

step "pack and install (Node $current)" \
  node node_modules/vitest/vitest.mjs run --root test/pack --reporter=default --reporter=json \
  --outputFile="$PWD/$reports/pack.json"
echo "== memory check (valgrind, Node $current)"
memcheck=passed
bash scripts/memcheck.sh || { memcheck=FAILED; status=1; }

node -e '
  const fs = require("fs"), dir = process.argv[1]
  let passed = 0, failed = 0, lines = 0
  for (const f of fs.readdirSync(dir)) {
    const r = JSON.parse(fs.readFileSync(dir + "/" + f, "utf8"))
    passed += r.numPassedTests; failed += r.numFailedTests + (r.success ? 0 : r.numFailedTestSuites)
    if (f.startsWith("node-")) lines++
  }
  console.log(`\nvitest runs: ${lines} Node lines${fs.existsSync(dir + "/pack.json") ? " + pack and install" : ""}`)
  console.log(`tests: ${passed} passed, ${failed} failed`)
' "$reports"
echo "memory check: $memcheck"
exit $status
