#!/usr/bin/env bash
# Install the Debian packages the tests use, where missing: the system libssl3 (the second-library
# binding tests), the openssl command (interop peers), curl (an HTTPS client of node:http over
# our TLS) and valgrind (the memory check). Runs apt-get as root, or through sudo.
set -euo pipefail

missing=()
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v curl >/dev/null 2>&1 || missing+=(curl)
command -v valgrind >/dev/null 2>&1 || missing+=(valgrind)
ldconfig -p 2>/dev/null | grep -q 'libssl.so.3 ' || missing+=(libssl3)
[ ${#missing[@]} -eq 0 ] && exit 0

echo "installing ${missing[*]}"
as_root=()
[ "$(id -u)" -eq 0 ] || as_root=(sudo)
"${as_root[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq "${missing[@]}"
