/**
 * The C column of the in-memory TLS table (src/internal/bench/tls.ts): c/tls.c, the same loop
 * in C on the same OpenSSL, built by `cReference.ts`. It runs in the repository only: the
 * published package carries no C sources.
 */
import type { ReferenceColumn, TlsFixture } from "../src/internal/bench/tls.js"
import { loadCReference } from "./cReference.js"

/** The C column, named with the key exchange group its handshakes negotiate (for the table title). */
export const cColumn = (fixture: TlsFixture): ReferenceColumn => {
  const c = loadCReference("tls.c")
  if (c._tag === "Unavailable") return { name: "C", unavailable: c.reason }
  const create = c.lib.func("void *c_tls_new(const char *cert, const char *key, const char *ca)")
  const error = c.lib.func("const char *c_tls_error()")
  const free = c.lib.func("void c_tls_free(void *bench)")
  const group = c.lib.func("int c_tls_group(void *bench, void *out, int size)")
  const bench: bigint | null = create(fixture.certPem, fixture.keyPem, fixture.caPem)
  if (bench === null) throw new Error(`C: ${error()}`)
  const metric = (name: string) => {
    const f = c.lib.func(`double ${name}(void *bench, long n)`)
    return (n: number): number => {
      const value: number = f(bench, n)
      if (value < 0) throw new Error(`C ${name}: ${error()}`)
      return value
    }
  }
  const name = Buffer.alloc(64)
  if (group(bench, name, name.length) !== 1) throw new Error(`C: ${error()}`)
  return {
    name: "C",
    column: {
      fullHandshake: metric("c_tls_full"),
      resumed: metric("c_tls_resumed"),
      bulk: metric("c_tls_bulk"),
      close: () => free(bench)
    },
    detail: name.toString("latin1").replace(/\0.*$/s, "")
  }
}
