import { OpenSsl } from "@effect-openssl/core/OpenSsl"
import * as SslContext from "@effect-openssl/core/SslContext"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as FastCheck from "effect/FastCheck"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"

/** A binding that must never be reached: option validation happens before any native call. */
const Unreachable = Layer.succeed(
  OpenSsl,
  new Proxy({} as OpenSsl, {
    get: (_, key) => {
      if (typeof key === "symbol") return undefined
      throw new Error(`the binding was called (${key}) for options that should have been rejected`)
    }
  })
)

const reject = (options: unknown) =>
  Effect.flip(Effect.scoped(SslContext.make(options as SslContext.Options))).pipe(Effect.provide(Unreachable))

describe("SslContext option validation (no native call)", () => {
  it.effect("rejects a missing options object", () =>
    Effect.gen(function*() {
      const error = yield* reject(null)
      assert.strictEqual(error._tag, "InvalidOptionError")
    }))

  it.effect("names the offending element of a list", () =>
    Effect.gen(function*() {
      const error = yield* reject({ role: "client", options: ["NO_TICKET", "BOGUS"] })
      assert.strictEqual(error._tag === "InvalidOptionError" && error.option, "options[1]")
    }))

  it.effect("rejects NUL characters in strings passed to C", () =>
    Effect.gen(function*() {
      const error = yield* reject({ role: "client", ciphers: "AES\0GCM" })
      assert.strictEqual(error._tag === "InvalidOptionError" && error.option, "ciphers")
    }))

  it.effect("rejects a passphrase that is not Redacted", () =>
    Effect.gen(function*() {
      const error = yield* reject({
        role: "server",
        certificate: {
          chain: "-----BEGIN CERTIFICATE-----\nAA\n-----END CERTIFICATE-----",
          key: Redacted.make("k"),
          passphrase: "plain"
        }
      })
      assert.strictEqual(error._tag === "InvalidOptionError" && error.option, "certificate.passphrase")
    }))

  it.effect.prop(
    "any non-integer or out-of-range verify depth is rejected before the binding",
    [FastCheck.oneof(
      FastCheck.double({ noInteger: true }),
      FastCheck.integer({ max: -1 }),
      FastCheck.integer({ min: 101 })
    )],
    ([depth]) =>
      Effect.gen(function*() {
        const error = yield* reject({ role: "client", verify: { depth } })
        assert.strictEqual(error._tag === "InvalidOptionError" && error.option, "verify.depth")
      })
  )

  it.effect.prop(
    "ALPN lists pass validation exactly when every name is 1..255 bytes",
    [FastCheck.array(FastCheck.string({ minLength: 0, maxLength: 300 }), { minLength: 1, maxLength: 4 })],
    ([names]) =>
      Effect.gen(function*() {
        const valid = names.every((n) => {
          const bytes = new TextEncoder().encode(n).length
          return bytes >= 1 && bytes <= 255
        })
        // Valid lists reach the binding, whose failure comes back typed as an OpenSslError.
        const error = yield* reject({ role: "client", alpnProtocols: names })
        assert.strictEqual(error._tag, valid ? "OpenSslError" : "InvalidOptionError")
      })
  )

  it.effect.prop(
    "any value in any option is refused with a typed error naming the option, or passed on; never a defect",
    [
      FastCheck.constantFrom(
        "role",
        "minProtocol",
        "maxProtocol",
        "options",
        "allowRenegotiation",
        "verify",
        "sessionTimeout",
        "sessionCacheMode",
        "trust",
        "certificate",
        "ciphers",
        "ciphersuites",
        "groups",
        "alpnProtocols",
        "keylog"
      ),
      FastCheck.anything({ withBigInt: true, withNullPrototype: true, withObjectString: true, withBoxedValues: true })
    ],
    ([option, value]) =>
      Effect.gen(function*() {
        const error = yield* reject({ role: "client", [option]: value })
        // Options that pass validation reach the binding, whose failure comes back typed.
        if (error._tag === "InvalidOptionError") assert.match(error.option, new RegExp(`^${option}`))
        else assert.strictEqual(error._tag, "OpenSslError")
      })
  )
})
