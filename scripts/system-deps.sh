#!/usr/bin/env bash
# Install the Debian packages the tests use, where missing: the system libssl3 (the second-library
# binding tests), the openssl command (interop peers, and the handshake client of `pnpm bench`),
# curl (an HTTPS client of node:http over our TLS) and valgrind (the memory check); and, for
# `pnpm bench` only, wrk (its HTTP load generator; without it the bench uses its own Node client),
# whose failure to install is reported but not an error. Runs apt-get as root, or through sudo.
set -euo pipefail

missing=()
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v curl >/dev/null 2>&1 || missing+=(curl)
command -v valgrind >/dev/null 2>&1 || missing+=(valgrind)
ldconfig -p 2>/dev/null | grep -q 'libssl.so.3 ' || missing+=(libssl3)
optional=()
command -v wrk >/dev/null 2>&1 || optional+=(wrk)
[ ${#missing[@]} -eq 0 ] && [ ${#optional[@]} -eq 0 ] && exit 0

as_root=()
[ "$(id -u)" -eq 0 ] || as_root=(sudo)
install() {
  DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq "$@"
}
echo "installing ${missing[*]} ${optional[*]}"
"${as_root[@]}" apt-get update -qq || [ ${#missing[@]} -eq 0 ]
[ ${#missing[@]} -eq 0 ] || install "${missing[@]}"
[ ${#optional[@]} -eq 0 ] || install "${optional[@]}" || echo "could not install ${optional[*]} (optional: pnpm bench only)"
