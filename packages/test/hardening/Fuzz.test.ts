/**
 * Fuzzing with fixed seeds and small counts (the longer hunt is `pnpm fuzz`): captured valid
 * handshakes, records, sessions, PEM and DER, mutated, into the library. Every case ends in
 * success or a typed error from the expected set, within its bound, with nothing freed wrongly
 * or left behind; an exchange that succeeds delivers exactly what was sent.
 */
import { OpenSsl } from "@effect-openssl/core/OpenSsl"
import { assert, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { corpus } from "./corpus.js"
import * as Fuzz from "./fuzz.js"
import { ObservedOpenSsl } from "./peers.js"

const runs: Readonly<Record<Fuzz.Kind, number>> = { Replay: 60, InFlight: 30, Session: 60, Pem: 60, Der: 60 }

const titles: Readonly<Record<Fuzz.Kind, string>> = {
  Replay: "a peer's captured bytes, mutated, into a lone client or server engine",
  InFlight: "one chunk mutated between a real client and server, then an exchange and a close",
  Session: "session bytes into SslSession.fromBytes, and a resumption with what it accepts",
  Pem: "certificate chains, keys and roots (PEM text or the DER inside) into SslContext.make, then a handshake",
  Der: "certificates into parseCertificate and a trust store"
}

layer(ObservedOpenSsl, { excludeTestServices: true })("fuzz", (it) => {
  for (const kind of Fuzz.kinds) {
    it.effect.prop(
      `${titles[kind]}: typed outcomes, bounded, nothing leaked`,
      [Fuzz.cases[kind]],
      ([c]) =>
        Effect.map(Fuzz.run(c), (outcome) => {
          if (outcome.problems.length > 0) {
            assert.fail(`${outcome.problems.join("\n")}\ncase: ${Fuzz.describeCase(c)}`)
          }
        }),
      { timeout: 120_000, fastCheck: { numRuns: runs[kind], seed: 7_000_001, endOnFailure: true } }
    )
  }
})

/** Cases `pnpm fuzz` found, kept as plain tests. */
layer(ObservedOpenSsl, { excludeTestServices: true })("fuzz regressions", (it) => {
  it.effect("a certificate whose subjectAltName extension does not decode parses, with no names", () =>
    Effect.gen(function*() {
      const openssl = yield* OpenSsl
      const der = (yield* Effect.orDie(corpus)).certificates[0]!.slice()
      // The extension: OID 2.5.29.17, [critical], OCTET STRING { SEQUENCE GeneralNames }: make the
      // SEQUENCE a SET (found as a one-bit flip).
      const oid = Buffer.from(der).indexOf(Buffer.from([0x06, 0x03, 0x55, 0x1d, 0x11]))
      assert.isAbove(oid, 0)
      const octets = der[oid + 5] === 0x01 ? oid + 8 : oid + 5
      assert.strictEqual(der[octets + 2], 0x30)
      der[octets + 2] = 0x31
      const info = openssl.pki!.parseCertificate(der)
      assert.deepStrictEqual(info.subjectAltNames, [])
      assert.strictEqual(info.subject, "CN=localhost")
    }))
})
