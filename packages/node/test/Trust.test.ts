/**
 * What a context trusts, and that it is never more than asked for. The system's CA store is made
 * to hold a test root here (OpenSSL reads `SSL_CERT_FILE` when it loads the default paths), so
 * whether a context consults it shows in a handshake.
 */
import * as SslContext from "@effect-openssl/core/SslContext"
import type { SslError } from "@effect-openssl/core/SslError"
import type { TransportError } from "@effect-openssl/core/Transport"
import { assert, describe, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as TestPki from "../../test/src/TestPki.js"
import { connectedPair, LiveOpenSsl } from "./util.js"

/** Point the system store (`SSL_CERT_FILE`) at `pem` for the rest of the scope. */
const systemStoreHolds = (pem: string) =>
  Effect.gen(function*() {
    const files = yield* TestPki.writeFiles({ system: pem })
    yield* Effect.acquireRelease(
      Effect.sync(() => {
        const before = process.env.SSL_CERT_FILE
        process.env.SSL_CERT_FILE = files.paths.system
        return before
      }),
      (before) =>
        Effect.sync(() => {
          if (before === undefined) delete process.env.SSL_CERT_FILE
          else process.env.SSL_CERT_FILE = before
        })
    )
  })

/** Two PKIs: the "public" one is in the system store, the "private" one is not. */
const pkis = Effect.gen(function*() {
  const publicPki = yield* TestPki.make()
  const privatePki = yield* TestPki.make()
  yield* systemStoreHolds(publicPki.trust)
  return { publicPki, privatePki }
})

/** How a handshake between the two contexts ended: "ok", or the tag of the error. */
const handshake = (client: SslContext.Options, server: SslContext.Options) =>
  Effect.gen(function*() {
    const result = yield* Effect.either(Effect.scoped(Effect.gen(function*() {
      const c = yield* SslContext.make(client)
      const s = yield* SslContext.make(server)
      return yield* connectedPair(c, s)
    })))
    return Either.match(result, {
      onLeft: (error: SslError | TransportError) => error._tag,
      onRight: () => "ok"
    })
  })

const invalidOption = (options: SslContext.Options) =>
  Effect.gen(function*() {
    const error = yield* Effect.flip(Effect.scoped(SslContext.make(options)))
    assert.strictEqual(error._tag, "InvalidOptionError", error.message)
    return error._tag === "InvalidOptionError" ? error.option : ""
  })

layer(LiveOpenSsl)("trust", (it) => {
  describe("clients", () => {
    it.scoped("without a trust option: the system store (as node:tls)", () =>
      Effect.gen(function*() {
        const { privatePki, publicPki } = yield* pkis
        const client: SslContext.Options = { role: "client" }
        assert.strictEqual(yield* handshake(client, { role: "server", certificate: publicPki.server }), "ok")
        assert.strictEqual(yield* handshake(client, { role: "server", certificate: privatePki.server }), "VerifyError")
      }))

    it.scoped("with certificates: those alone, the system store only with systemDefaults: true", () =>
      Effect.gen(function*() {
        const { privatePki, publicPki } = yield* pkis
        const publicServer: SslContext.Options = { role: "server", certificate: publicPki.server }
        const privateServer: SslContext.Options = { role: "server", certificate: privatePki.server }
        const only: SslContext.Options = { role: "client", trust: { certificates: privatePki.trust } }
        assert.strictEqual(yield* handshake(only, privateServer), "ok")
        assert.strictEqual(yield* handshake(only, publicServer), "VerifyError")
        const both: SslContext.Options = {
          role: "client",
          trust: { certificates: privatePki.trust, systemDefaults: true }
        }
        assert.strictEqual(yield* handshake(both, privateServer), "ok")
        assert.strictEqual(yield* handshake(both, publicServer), "ok")
      }))

    it.effect("an empty certificate list is refused, not read as 'the system store'", () =>
      Effect.gen(function*() {
        assert.strictEqual(yield* invalidOption({ role: "client", trust: { certificates: [] } }), "trust.certificates")
        assert.strictEqual(
          yield* invalidOption({ role: "client", trust: { certificates: [], systemDefaults: true } }),
          "trust.certificates"
        )
      }))

    it.effect("a trust option with nothing to trust is refused while verifying", () =>
      Effect.gen(function*() {
        assert.strictEqual(yield* invalidOption({ role: "client", trust: {} }), "trust")
        assert.strictEqual(yield* invalidOption({ role: "client", trust: { systemDefaults: false } }), "trust")
        yield* Effect.scoped(SslContext.make({ role: "client", verify: { mode: "none" }, trust: {} }))
      }))
  })

  describe("servers", () => {
    for (const mode of ["peer", "require"] as const) {
      it.effect(`verify "${mode}" without trust is refused: the system store is never implied`, () =>
        Effect.gen(function*() {
          const pki = yield* TestPki.make()
          const server = { role: "server", certificate: pki.server, verify: { mode } } as const
          assert.strictEqual(yield* invalidOption(server), "trust")
          assert.strictEqual(yield* invalidOption({ ...server, trust: {} }), "trust")
          assert.strictEqual(yield* invalidOption({ ...server, trust: { certificates: [] } }), "trust.certificates")
          assert.strictEqual(yield* invalidOption({ role: "any", verify: { mode } }), "trust")
        }))
    }

    it.scoped("verify \"require\" with systemDefaults: true trusts the system store, and only that", () =>
      Effect.gen(function*() {
        const { privatePki, publicPki } = yield* pkis
        const server: SslContext.Options = {
          role: "server",
          certificate: privatePki.server,
          verify: { mode: "require" },
          trust: { systemDefaults: true }
        }
        const client = (certificate: TestPki.Issued): SslContext.Options => ({
          role: "client",
          certificate,
          trust: { certificates: privatePki.trust }
        })
        assert.strictEqual(yield* handshake(client(publicPki.client), server), "ok")
        assert.notStrictEqual(yield* handshake(client(privatePki.client), server), "ok")
      }))

    it.scoped("verify \"require\" with certificates: the system store is not added", () =>
      Effect.gen(function*() {
        const { privatePki, publicPki } = yield* pkis
        const server: SslContext.Options = {
          role: "server",
          certificate: privatePki.server,
          verify: { mode: "require" },
          trust: { certificates: privatePki.trust }
        }
        const client = (certificate: TestPki.Issued): SslContext.Options => ({
          role: "client",
          certificate,
          trust: { certificates: privatePki.trust }
        })
        assert.strictEqual(yield* handshake(client(privatePki.client), server), "ok")
        assert.notStrictEqual(yield* handshake(client(publicPki.client), server), "ok")
      }))
  })
})
