/**
 * The default TLS 1.2 cipher suites, checked with `openssl s_client -cipher` against a default
 * server (an RSA and an ECDSA certificate) and with `openssl s_server` against a default client:
 * ECDHE with AEAD suites only, in the server's order of preference.
 */
import * as SslContext from "@effect-openssl/core/SslContext"
import { assert, describe, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import * as TestPki from "../../test/src/TestPki.js"
import { acceptOn, connectTo, listen, LiveOpenSsl, readLine, sClient, serverIdentity, sServer } from "./peers.js"

/** Run `effect` in a scope of its own, closed before going on. */
const inOwnScope = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const exit = yield* Effect.exit(Scope.extend(effect, scope))
    yield* Scope.close(scope, Exit.void)
    return yield* exit
  })

const accepted = {
  "RSA-2048": ["ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-RSA-CHACHA20-POLY1305"],
  "P-256": ["ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-ECDSA-CHACHA20-POLY1305"]
} as const

const refused = {
  // CBC (LUCKY13 and friends), static RSA key exchange, finite-field DHE.
  "RSA-2048": [
    "ECDHE-RSA-AES128-SHA256",
    "ECDHE-RSA-AES256-SHA384",
    "ECDHE-RSA-AES128-SHA",
    "ECDHE-RSA-AES256-SHA",
    "AES128-GCM-SHA256",
    "AES256-GCM-SHA384",
    "AES128-SHA",
    "DHE-RSA-AES128-GCM-SHA256",
    "DHE-RSA-CHACHA20-POLY1305"
  ],
  "P-256": [
    "ECDHE-ECDSA-AES128-SHA256",
    "ECDHE-ECDSA-AES256-SHA384",
    "ECDHE-ECDSA-AES128-SHA",
    "ECDHE-ECDSA-AES256-SHA"
  ]
} as const

layer(LiveOpenSsl, { excludeTestServices: true })("TLS 1.2 cipher defaults", (it) => {
  for (const keyType of ["RSA-2048", "P-256"] as const) {
    describe(`a default server with a ${keyType} certificate ↔ openssl s_client -cipher`, () => {
      const server = Effect.gen(function*() {
        // Self-signed: s_client is not asked to verify it, and one RSA key is quicker than four.
        const certificate = yield* TestPki.selfSigned({ keyType })
        const listener = yield* listen
        const context = yield* SslContext.make({ role: "server", certificate })
        /** One connection offering `ciphers` (in that order): the suite we chose, or why we refused. */
        const offer = (ciphers: string) =>
          inOwnScope(Effect.gen(function*() {
            const client = yield* sClient(listener.port, ["-tls1_2", "-cipher", ciphers])
            const conn = yield* acceptOn(listener, context)
            yield* client.write("hello\n")
            assert.strictEqual(yield* readLine(conn), "hello")
            return (yield* conn.info).cipher
          })).pipe(
            Effect.catchTag("TlsError", (error) => Effect.succeed(`refused: ${error.message}`))
          )
        return { offer }
      })

      it.scoped("accepts ECDHE with AES-GCM and ChaCha20-Poly1305", () =>
        Effect.gen(function*() {
          const { offer } = yield* server
          for (const cipher of accepted[keyType]) assert.strictEqual(yield* offer(cipher), cipher)
        }))

      it.scoped("refuses CBC, static RSA and finite-field DHE suites: no shared cipher", () =>
        Effect.gen(function*() {
          const { offer } = yield* server
          for (const cipher of refused[keyType]) {
            assert.match(yield* offer(cipher), /^refused: .*no shared cipher/, cipher)
          }
        }))

      it.scoped("picks by its own preference: AES-128-GCM over the client's favourites", () =>
        Effect.gen(function*() {
          const { offer } = yield* server
          const [aes128, aes256, chacha] = accepted[keyType]
          assert.strictEqual(yield* offer(`${chacha}:${aes256}:${aes128}`), aes128)
          assert.strictEqual(yield* offer(`${chacha}:${aes256}`), aes256)
        }))
    })
  }

  it.scoped("a default client offers exactly those suites for TLS 1.2 (as openssl s_server sees them)", () =>
    Effect.gen(function*() {
      const pki = yield* TestPki.make()
      const files = yield* TestPki.writeFiles({
        server: pki.server.certificate,
        intermediate: pki.intermediate.certificate,
        serverKey: pki.server.key
      })
      const server = yield* sServer([
        "-tls1_2",
        ...serverIdentity(files.paths)
      ])
      const context = yield* SslContext.make({ role: "client", trust: { certificates: pki.trust } })
      const conn = yield* connectTo(server.port, context)
      yield* server.write("hello\n")
      assert.strictEqual(yield* readLine(conn), "hello")
      const shared = (yield* server.waitFor(/Shared ciphers:(\S+)/))[1]!.split(":")
      assert.deepStrictEqual(shared.filter((name) => !name.startsWith("TLS_")), [
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "ECDHE-RSA-CHACHA20-POLY1305"
      ])
    }))
})
