/**
 * PEM certificate lists (a chain, a trust list): every block is read, or the context is refused
 * naming the block. OpenSSL's reader skips what it cannot parse, so a damaged block in the middle
 * of a chain used to drop it and the intermediate after it without a word; clients then failed
 * with "unable to get local issuer certificate".
 */
import * as Diagnostics from "@effect-openssl/core/Diagnostics"
import * as SslContext from "@effect-openssl/core/SslContext"
import { assert, describe, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as TestPki from "../../test/src/TestPki.js"
import { connectedPair, LiveOpenSsl } from "./util.js"

/** Ways to damage one PEM certificate block. */
const damages: ReadonlyArray<readonly [string, (pem: string) => string]> = [
  ["a body line that is not base64", (pem) => pem.replace(/\n(.{10})/, "\n!!!$1")],
  [
    "a body that is base64 but not a certificate",
    () => "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
  ],
  ["a BEGIN line with four dashes", (pem) => pem.replace("-----BEGIN", "----BEGIN")],
  ["an END line with four dashes", (pem) => pem.replace("-----END CERTIFICATE-----", "-----END CERTIFICATE----")],
  ["no END line", (pem) => pem.replace("-----END CERTIFICATE-----\n", "")],
  ["an indented BEGIN line", (pem) => ` ${pem}`],
  ["a private key instead", () => "-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n"]
]

const refusedAt = (options: SslContext.Options) =>
  Effect.gen(function*() {
    const error = yield* Effect.flip(Effect.scoped(SslContext.make(options)))
    assert.strictEqual(error._tag, "InvalidOptionError", error.message)
    assert.deepStrictEqual(yield* Diagnostics.live, [], "nothing left allocated")
    return error._tag === "InvalidOptionError" ? `${error.option}: ${error.reason}` : ""
  })

layer(LiveOpenSsl)("PEM certificate lists", (it) => {
  describe("a damaged block in the middle is refused, named by its index", () => {
    for (const [name, damage] of damages) {
      it.effect(`certificate.chain: ${name}`, () =>
        Effect.gen(function*() {
          const pki = yield* TestPki.make()
          const other = yield* TestPki.make()
          const chain = pki.server.certificate + damage(other.intermediate.certificate) +
            pki.intermediate.certificate
          const refused = yield* refusedAt({ role: "server", certificate: { chain, key: pki.server.key } })
          assert.match(refused, /^certificate\.chain\[1\]: /)
        }))

      it.effect(`trust.certificates: ${name}`, () =>
        Effect.gen(function*() {
          const pki = yield* TestPki.make()
          const other = yield* TestPki.make()
          const damaged = damage(other.trust)
          const client = (certificates: string | ReadonlyArray<string>) =>
            refusedAt({ role: "client", trust: { certificates } })
          assert.match(yield* client([pki.trust, damaged, other.trust]), /^trust\.certificates\[1\]: /)
          assert.match(yield* client(pki.trust + damaged + other.trust), /^trust\.certificates\[1\]: /)
        }))
    }
  })

  it.scoped("text between blocks and CRLF line ends are fine: every certificate is used", () =>
    Effect.gen(function*() {
      const pki = yield* TestPki.make()
      const other = yield* TestPki.make()
      const crlf = (pem: string) => pem.replace(/\n/g, "\r\n")
      // As `openssl x509` and `openssl s_client -showcerts` print them.
      const chain = `subject=CN = localhost\n${pki.server.certificate}\nissuer=CN = intermediate\n` +
        crlf(pki.intermediate.certificate)
      const server = yield* SslContext.make({ role: "server", certificate: { chain, key: pki.server.key } })
      const trust = `# one root\n${crlf(other.trust)}\n# and another\n${pki.trust}`
      const client = yield* SslContext.make({ role: "client", trust: { certificates: trust } })
      // The client trusts the root only: the handshake needs the intermediate from the chain.
      const [c] = yield* connectedPair(client, server)
      assert.deepStrictEqual((yield* c.info).peerChain.map((cert) => cert.subject), [
        "CN=localhost",
        "CN=effect-openssl test intermediate CA"
      ])
    }))
})
