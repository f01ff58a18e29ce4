/**
 * Certificates for the ServerContext suites: one CA, a default certificate for `localhost`,
 * and certificates chosen by SNI name (exact, wildcard, another domain), plus files to rotate.
 */
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import { X509Certificate } from "node:crypto"
import { writeFile } from "node:fs/promises"
import * as TestPki from "../../test/src/TestPki.js"

export const sniPki = Effect.gen(function*() {
  const ca = yield* TestPki.rootCa()
  const issue = (hostNames: ReadonlyArray<string>, validity?: TestPki.Validity) =>
    TestPki.server(ca, { hostNames, validity })
  return {
    ca,
    trust: ca.certificate,
    fallback: yield* issue(["localhost"]),
    api: yield* issue(["api.example.org"]),
    wildcard: yield* issue(["*.example.org"]),
    net: yield* issue(["example.net", "www.example.net"]),
    issue
  }
})

/** SHA-256 fingerprint of a certificate, as `TlsInfo.peerChain[i].fingerprint256` gives it. */
export const fingerprint = (issued: TestPki.Issued): string => new X509Certificate(issued.certificate).fingerprint256

/** Write a certificate's chain and key over existing files (in place, as an editor would). */
export const overwrite = (
  paths: { readonly chain: string; readonly key: string },
  issued: { readonly chain: string; readonly key: Redacted.Redacted<string> }
): Effect.Effect<void> =>
  Effect.promise(async () => {
    await writeFile(paths.chain, issued.chain)
    await writeFile(paths.key, Redacted.value(issued.key), { mode: 0o600 })
  })

/** Certificate files in a temporary directory (removed with the scope), for `chainFile`/`keyFile`. */
export const certificateFiles = (issued: TestPki.Issued) =>
  Effect.map(
    TestPki.writeFiles({ chain: issued.chain, key: issued.key, ca: issued.root }),
    (files) => ({ ...files.paths, directory: files.directory })
  )
