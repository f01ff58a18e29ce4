/**
 * Host names on their way to OpenSSL. Names are parsed once, in the core (`HostName`): a name
 * with a NUL would otherwise reach `SSL_set1_host` as a C string cut at the NUL, and a client
 * would accept a certificate for the part before it. The binding defends again where a C string
 * is passed, and the core, the binding and the model agree on every name.
 */
import * as HostName from "@effect-openssl/core/HostName"
import { OpenSsl } from "@effect-openssl/core/OpenSsl"
import * as Ssl from "@effect-openssl/core/Ssl"
import * as SslContext from "@effect-openssl/core/SslContext"
import { assert, describe, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as FastCheck from "effect/FastCheck"
import * as Redacted from "effect/Redacted"
import * as OpenSslModel from "../../test/src/OpenSslModel.js"
import * as TestPki from "../../test/src/TestPki.js"
import { connectTo, nodeTlsServer } from "./peers.js"
import { LiveOpenSsl } from "./util.js"

/** Host-like strings: names, addresses, and the ways they go wrong (ports, brackets, NULs, dots). */
const hostLike = FastCheck.oneof(
  FastCheck.domain(),
  FastCheck.ipV4(),
  FastCheck.ipV6(),
  FastCheck.ipV4Extended(),
  FastCheck.tuple(
    FastCheck.oneof(FastCheck.domain(), FastCheck.ipV4(), FastCheck.ipV6()),
    FastCheck.constantFrom("", ":443", "\0", "\0.evil.example", ".", "]", "%eth0", " ", "\n", "é")
  ).map(([host, suffix]) => host + suffix),
  FastCheck.string({ unit: FastCheck.constantFrom(..."0123456789abcdef:.[]%\0-_") })
)

/** What `Ssl.make` with `verifyHost` leaves on the handle: the settings, or the refusal. */
const applied = (context: SslContext.SslContext, input: string) =>
  Effect.scoped(Effect.flatMap(Ssl.make(context, { verifyHost: input }), Ssl.settings)).pipe(
    Effect.map((settings) => settings.verifyHost),
    Effect.either
  )

layer(LiveOpenSsl, { excludeTestServices: true })("host names", (it) => {
  describe("a NUL cannot shorten the name a certificate is checked against", () => {
    const localhostOnly = Effect.gen(function*() {
      const pki = yield* TestPki.make({ server: { hostNames: ["localhost"] } })
      const server = yield* nodeTlsServer({ cert: pki.server.chain, key: Redacted.value(pki.server.key) })
      const client = yield* SslContext.make({ role: "client", trust: { certificates: pki.trust } })
      return { server, client }
    })

    for (
      const [name, options, option] of [
        ["hostName taken for an address", { hostName: "localhost\0:attacker" }, "hostName"],
        ["hostName as a name", { hostName: "localhost\0.attacker.example" }, "hostName"],
        ["verifyHost", { hostName: "attacker.example", verifyHost: "localhost\0.attacker.example" }, "verifyHost"],
        ["verifyHost as an address", { hostName: "attacker.example", verifyHost: "127.0.0.1\0:1" }, "verifyHost"]
      ] as const
    ) {
      it.scoped(`${name}: InvalidOptionError before any handshake`, () =>
        Effect.gen(function*() {
          const { client, server } = yield* localhostOnly
          const error = yield* Effect.flip(connectTo(server.port, client, options))
          assert.strictEqual(error._tag, "InvalidOptionError")
          assert.strictEqual(error._tag === "InvalidOptionError" && error.option, option)
          assert.match(error.message, /NUL/)
        }))
    }

    it.scoped("the binding refuses a NUL itself, should a name reach it unparsed", () =>
      Effect.gen(function*() {
        const openssl = yield* OpenSsl
        const context = yield* SslContext.make({ role: "client", verify: { mode: "none" } })
        const ref = Ssl.unsafeNativeRef(yield* Ssl.make(context))
        const refused = (f: () => void) => assert.throws(f, /rejected|NUL/)
        refused(() => openssl.handles.sslSetVerifyHost(ref, { _tag: "DnsName", name: "localhost\0.attacker.example" }))
        refused(() => openssl.handles.sslSetVerifyHost(ref, { _tag: "IpAddress", address: "127.0.0.1\0:1", family: 4 }))
        refused(() => openssl.handles.sslSetHostName(ref, { _tag: "DnsName", name: "localhost\0.attacker.example" }))
        assert.isUndefined((yield* Ssl.settings(yield* Ssl.make(context))).verifyHost)
      }))
  })

  it.scoped("an IP address is verified as an address, and sent as no SNI", () =>
    Effect.gen(function*() {
      const context = yield* SslContext.make({ role: "client", verify: { mode: "none" } })
      const settings = yield* Ssl.settings(yield* Ssl.make(context, { verifyHost: "::1" }))
      assert.strictEqual(settings.verifyHost, "0:0:0:0:0:0:0:1")
      const sni = yield* Effect.flip(Ssl.make(context, { hostName: "127.0.0.1" }))
      assert.strictEqual(sni._tag === "InvalidOptionError" && sni.option, "hostName")
    }))

  it.effect.prop(
    "core, binding and model agree on every host string: refused by all, or read back the same",
    [hostLike],
    ([input]) =>
      Effect.gen(function*() {
        const parse = HostName.parse(input, "verifyHost")
        const real = yield* Effect.scoped(
          Effect.flatMap(SslContext.make({ role: "client", verify: { mode: "none" } }), (ctx) => applied(ctx, input))
        )
        const model = yield* Effect.scoped(
          Effect.flatMap(SslContext.make({ role: "client", verify: { mode: "none" } }), (ctx) => applied(ctx, input))
        ).pipe(Effect.provide(OpenSslModel.layer))
        if (Either.isLeft(parse)) {
          assert.deepStrictEqual(Either.getLeft(real), Either.getLeft(parse), input)
          assert.deepStrictEqual(Either.getLeft(model), Either.getLeft(parse), input)
          return
        }
        assert.isTrue(Either.isRight(real), `the binding refused ${JSON.stringify(input)}`)
        assert.deepStrictEqual(model, real, input)
        if (parse.right._tag === "DnsName") assert.deepStrictEqual(Either.getOrUndefined(real), parse.right.name)
      }),
    { fastCheck: { numRuns: 300 } }
  )
})
