import { OpenSsl } from "@effect-openssl/core/OpenSsl"
import * as Ssl from "@effect-openssl/core/Ssl"
import * as SslContext from "@effect-openssl/core/SslContext"
import { assert, describe, it } from "@effect/vitest"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { existsSync } from "node:fs"
import * as NodeOpenSsl from "../src/NodeOpenSsl.js"
import { clientOptions, handshakePair, serverOptions } from "./util.js"

/** The system's OpenSSL 3 (Debian's libssl3), a second copy beside Node's own. */
const systemLibssl = ["/usr/lib/x86_64-linux-gnu/libssl.so.3", "/usr/lib/aarch64-linux-gnu/libssl.so.3"].find(
  existsSync
) ?? "libssl.so.3"

/** A full handshake through the service in scope; returns the flights it took. */
const realHandshake = Effect.gen(function*() {
  const server = yield* SslContext.make(serverOptions)
  const client = yield* SslContext.make(clientOptions)
  const s = yield* Ssl.make(server)
  const c = yield* Ssl.make(client, { hostName: "localhost" })
  return yield* handshakePair(c, s)
})

describe("NodeOpenSsl.layer", () => {
  it.scoped("binds exactly the OpenSSL Node was built with", () =>
    Effect.gen(function*() {
      const openssl = yield* OpenSsl
      assert.strictEqual(openssl.implementation, "node")
      assert.include(openssl.version.text, process.versions.openssl.replace(/\+.*$/, ""))
      assert.strictEqual(
        `${openssl.version.major}.${openssl.version.minor}.${openssl.version.patch}`,
        process.versions.openssl.replace(/\+.*$/, "")
      )
      assert.strictEqual(openssl.features.postQuantumGroups, openssl.version.number >= 0x30500000)
      assert.isTrue(openssl.features.optionFlags.includes("NO_TICKET"))
    }).pipe(Effect.provide(NodeOpenSsl.layer)))

  it.scoped("does a real handshake", () =>
    Effect.gen(function*() {
      const flights = yield* realHandshake
      assert.isAtLeast(flights, 2)
    }).pipe(Effect.provide(NodeOpenSsl.layer)))
})

describe("NodeOpenSsl.layerLibrary", () => {
  const system = NodeOpenSsl.layerLibrary({ libssl: systemLibssl, observeFrees: true })

  it.scoped("loads the system libssl with RTLD_DEEPBIND and does a real handshake", () =>
    Effect.gen(function*() {
      const openssl = yield* OpenSsl
      assert.strictEqual(openssl.implementation, "library")
      assert.isAtLeast(openssl.version.major, 3)
      const flights = yield* realHandshake
      assert.isAtLeast(flights, 2)
    }).pipe(Effect.provide(system)))

  it.scoped("reports errors from the library's own error queue", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(SslContext.make({ role: "client", ciphers: "NO-SUCH-CIPHER" }))
      assert.strictEqual(error._tag, "InvalidOptionError")
      if (error._tag !== "InvalidOptionError") return
      assert.isAbove(error.cause?.entries.length ?? 0, 0)
      assert.strictEqual(error.cause?.entries[0]?.reasonText, "no cipher match")
    }).pipe(Effect.provide(system)))

  it.effect("fails with a typed error naming a missing library", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(
        Effect.scoped(Layer.build(NodeOpenSsl.layerLibrary({ libssl: "/nonexistent/libssl.so.42" })))
      )
      assert.strictEqual(error._tag, "OpenSslLoadError")
      if (error._tag !== "OpenSslLoadError") return
      assert.strictEqual(error.reason, "LibraryNotFound")
      assert.deepStrictEqual(error.tried, ["/nonexistent/libssl.so.42"])
    }))

  it.effect("fails with a typed error naming a missing symbol", () =>
    Effect.gen(function*() {
      // libc loads fine but has no OpenSSL symbols.
      const error = yield* Effect.flip(Effect.scoped(Layer.build(NodeOpenSsl.layerLibrary({ libssl: "libc.so.6" }))))
      assert.strictEqual(error._tag, "OpenSslLoadError")
      if (error._tag !== "OpenSslLoadError") return
      assert.strictEqual(error.reason, "SymbolMissing")
      assert.include(error.detail, "OpenSSL_version_num")
    }))
})

describe("NodeOpenSsl.layerConfig", () => {
  const withEnv = (env: Record<string, string>) =>
    Layer.setConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env))))

  it.scoped("uses Node's OpenSSL when EFFECT_OPENSSL_LIBSSL is unset", () =>
    Effect.gen(function*() {
      const openssl = yield* OpenSsl
      assert.strictEqual(openssl.implementation, "node")
    }).pipe(Effect.provide(NodeOpenSsl.layerConfig().pipe(Layer.provide(withEnv({}))))))

  it.scoped("loads the library EFFECT_OPENSSL_LIBSSL names", () =>
    Effect.gen(function*() {
      const openssl = yield* OpenSsl
      assert.strictEqual(openssl.implementation, "library")
      yield* realHandshake
    }).pipe(
      Effect.provide(NodeOpenSsl.layerConfig().pipe(Layer.provide(withEnv({ EFFECT_OPENSSL_LIBSSL: systemLibssl }))))
    ))
})
