import * as Diagnostics from "@effect-openssl/core/Diagnostics"
import type { FreeEvent, NativeRef } from "@effect-openssl/core/OpenSsl"
import { OpenSsl } from "@effect-openssl/core/OpenSsl"
import * as Ssl from "@effect-openssl/core/Ssl"
import * as SslContext from "@effect-openssl/core/SslContext"
import { assert, describe, it, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import * as OpenSslModel from "../src/OpenSslModel.js"

const recordFrees = Effect.flatMap(OpenSsl, (openssl) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const events: Array<FreeEvent> = []
      return { events, stop: openssl.frees!.observe((e) => events.push(e)) }
    }),
    ({ stop }) => Effect.sync(stop)
  ).pipe(Effect.map(({ events }) => events)))

/** Run one raw service call and return what it threw. */
const thrown = (f: () => unknown): unknown => {
  try {
    f()
  } catch (e) {
    return e
  }
  return assert.fail("expected the call to throw")
}

const ref = (ssl: Ssl.Ssl): NativeRef => Ssl.unsafeNativeRef(ssl)

layer(OpenSslModel.layer)("OpenSslModel", (it) => {
  it.effect("is the OpenSsl service, implemented by the model, observing its frees", () =>
    Effect.gen(function*() {
      const openssl = yield* OpenSsl
      assert.strictEqual(openssl.implementation, "model")
      assert.isDefined(openssl.frees)
      assert.include(openssl.features.optionFlags, "NO_TICKET")
    }))

  it.scoped("computes settings from the context configuration; an SSL inherits them", () =>
    Effect.gen(function*() {
      const ctx = yield* SslContext.make({
        role: "client",
        maxProtocol: "TLSv1.3",
        options: ["NO_TICKET", "PRIORITIZE_CHACHA"],
        verify: { mode: "require", depth: 3 },
        sessionTimeout: "123 seconds",
        sessionCacheMode: "both"
      })
      const settings = yield* SslContext.settings(ctx)
      assert.deepStrictEqual(settings, {
        role: "client",
        minProtocol: "TLSv1.2",
        maxProtocol: "TLSv1.3",
        // OpenSSL's defaults stay set, and ours: renegotiation refused.
        options: ["NO_TICKET", "NO_COMPRESSION", "ENABLE_MIDDLEBOX_COMPAT", "PRIORITIZE_CHACHA", "NO_RENEGOTIATION"],
        optionBits: (1n << 14n) | (1n << 17n) | (1n << 20n) | (1n << 21n) | (1n << 30n),
        mode: 4,
        verifyMode: "require",
        verifyModeBits: 3,
        verifyDepth: 3,
        ciphers: [],
        sessionTimeoutSeconds: 123,
        sessionCacheMode: "both"
      })
      const ssl = yield* Ssl.settings(yield* Ssl.make(ctx))
      assert.deepStrictEqual(ssl, {
        ...settings,
        isServer: false,
        hostName: undefined,
        inBefore: true,
        verifyHost: undefined
      })
      const defaults = yield* SslContext.settings(yield* SslContext.make({ role: "server" }))
      assert.strictEqual(defaults.verifyDepth, -1)
      assert.strictEqual(defaults.sessionTimeoutSeconds, 7200)
      assert.strictEqual(defaults.sessionCacheMode, "server")
    }))

  it.scoped("stamps ids from one counter for every kind", () =>
    Effect.gen(function*() {
      const ctx = yield* SslContext.make({ role: "any", trust: { systemDefaults: true } })
      const a = yield* Ssl.make(ctx)
      const b = yield* Ssl.make(ctx)
      const live = yield* Diagnostics.live
      const ids = live.map((o) => o.id)
      assert.deepStrictEqual(live.map((o) => o.kind), ["SSL_CTX", "SSL", "SSL"])
      assert.deepStrictEqual([ids[1]! - ids[0]!, ids[2]! - ids[1]!], [1, 1])
      assert.strictEqual(ref(a).id, ids[1])
      assert.notStrictEqual(ref(a).address, ref(b).address)
    }))

  describe("references", () => {
    it.scoped("an SSL is freed once, after its last reference, in any order", () =>
      Effect.gen(function*() {
        const frees = yield* recordFrees
        const ctx = yield* SslContext.make({ role: "client" })
        const first = yield* Scope.make()
        const ssl = yield* Scope.extend(Ssl.make(ctx), first)
        const id = ref(ssl).id
        const forked = yield* Ssl.upRef(ssl)
        yield* Scope.close(first, Exit.void)
        assert.deepStrictEqual(frees, [])
        assert.isFalse(yield* Ssl.handshakeStarted(forked))
        yield* Ssl.release(forked)
        assert.deepStrictEqual(frees, [{ kind: "SSL", id }])
      }))

    it.scoped("a context is freed after its last SSL, its free event after the SSL's", () =>
      Effect.gen(function*() {
        const frees = yield* recordFrees
        const ctx = yield* SslContext.make({ role: "server" })
        const ssl = yield* Ssl.make(ctx)
        const copy = yield* Ssl.dup(ssl)
        const ids = [ref(ssl).id, ref(copy.ssl).id]
        yield* SslContext.release(ctx)
        assert.deepStrictEqual(frees, [], "each SSL holds its context")
        yield* Ssl.release(ssl)
        yield* Ssl.release(copy.ssl)
        assert.deepStrictEqual(frees.map((e) => e.kind), ["SSL", "SSL", "SSL_CTX"])
        assert.deepStrictEqual(frees.slice(0, 2).map((e) => e.id), ids)
      }))

    it.effect("a use after free or a double free throws instead of crashing", () =>
      Effect.gen(function*() {
        const openssl = yield* OpenSsl
        const ctx = openssl.handles.contextNew(yield* contextConfig)
        const ssl = openssl.handles.sslNew(ctx)
        openssl.handles.sslFree(ssl)
        openssl.handles.contextFree(ctx)
        for (
          const call of [() => openssl.handles.sslUpRef(ssl), () =>
            openssl.handles.sslFree(ssl), () =>
            openssl.handles.sslNew(ctx)]
        ) {
          const error = thrown(call)
          assert.strictEqual((error as { _tag: string })._tag, "ReleasedHandleError")
        }
        const forged = thrown(() =>
          openssl.handles.sslInBefore({ ...ssl, address: 1n })
        )
        assert.include(String((forged as Error).message), "no live SSL")
        const foreign = thrown(() => openssl.handles.sslInBefore({ ...ssl, owner: {} }))
        assert.include(String((foreign as Error).message), "belongs to another OpenSsl")
      }))
  })

  describe("dup", () => {
    it.scoped("before the handshake: a new object with a fresh id, the role copied, the host name not", () =>
      Effect.gen(function*() {
        const ctx = yield* SslContext.make({ role: "any", trust: { systemDefaults: true } })
        const ssl = yield* Ssl.make(ctx, { role: "client", hostName: "sni.example", verifyHost: "sni.example" })
        const result = yield* Ssl.dup(ssl)
        assert.strictEqual(result._tag, "Duplicated")
        assert.isTrue(ref(result.ssl).id > ref(ssl).id)
        const copied = yield* Ssl.settings(result.ssl)
        assert.isFalse(copied.isServer)
        assert.isUndefined(copied.hostName)
        assert.isTrue(copied.inBefore)
        assert.strictEqual((yield* Ssl.settings(ssl)).hostName, "sni.example")
      }))

    it.scoped("once the handshake started: the same object with one more reference", () =>
      Effect.gen(function*() {
        const frees = yield* recordFrees
        const ctx = yield* SslContext.make({ role: "client" })
        const ssl = yield* Ssl.make(ctx, { role: "client" })
        yield* SslContext.release(ctx)
        const openssl = Ssl.openSslOf(ssl)
        openssl.handshake.attachMemory(ref(ssl))
        assert.strictEqual(openssl.handshake.step(ref(ssl)), "want-read")
        const result = yield* Ssl.dup(ssl)
        assert.strictEqual(result._tag, "Shared")
        assert.isTrue(Ssl.sameObject(result.ssl, ssl))
        yield* Ssl.release(ssl)
        assert.deepStrictEqual(frees, [])
        yield* Ssl.release(result.ssl)
        assert.deepStrictEqual(frees.map((e) => e.kind), ["SSL", "SSL_CTX"])
      }))

    it.scoped("attaching BIOs sets the engine's modes; a copy keeps them but has no BIOs", () =>
      Effect.gen(function*() {
        const ctx = yield* SslContext.make({ role: "server" })
        const ssl = yield* Ssl.make(ctx)
        const openssl = Ssl.openSslOf(ssl)
        openssl.handshake.attachMemory(ref(ssl))
        assert.strictEqual((yield* Ssl.settings(ssl)).mode, 7)
        const copy = yield* Ssl.dup(ssl)
        assert.strictEqual(copy._tag, "Duplicated")
        assert.strictEqual((yield* Ssl.settings(copy.ssl)).mode, 7)
        openssl.handshake.attachMemory(ref(copy.ssl))
      }))
  })

  describe("handshake", () => {
    it.scoped("with BIOs and a role, client and server both start and want to read", () =>
      Effect.gen(function*() {
        const ctx = yield* SslContext.make({ role: "any", trust: { systemDefaults: true } })
        for (const role of ["client", "server"] as const) {
          const ssl = yield* Ssl.make(ctx, { role })
          const openssl = Ssl.openSslOf(ssl)
          openssl.handshake.attachMemory(ref(ssl))
          assert.isTrue(openssl.handles.sslInBefore(ref(ssl)))
          assert.strictEqual(openssl.handshake.step(ref(ssl)), "want-read")
          assert.strictEqual(openssl.handshake.step(ref(ssl)), "want-read")
          assert.isFalse(openssl.handles.sslInBefore(ref(ssl)))
          // Setting the role again clears the state machine, as SSL_set_accept_state does.
          openssl.handles.sslSetRole(ref(ssl), role)
          assert.isTrue(openssl.handles.sslInBefore(ref(ssl)))
        }
      }))

    it.scoped("fails as OpenSSL does without a role, with the wrong method, or without BIOs", () =>
      Effect.gen(function*() {
        const detail = (e: unknown) => {
          const error = e as { _tag: string; reason: string; entries: ReadonlyArray<{ reasonText: string }> }
          return [error._tag, error.reason, error.entries[0]?.reasonText]
        }
        const server = yield* SslContext.make({ role: "server" })
        const client = yield* SslContext.make({ role: "client" })
        const openssl = yield* OpenSsl

        const noRole = ref(yield* Ssl.make(client))
        openssl.handshake.attachMemory(noRole)
        assert.deepStrictEqual(detail(thrown(() => openssl.handshake.step(noRole))), [
          "TlsError",
          "Protocol",
          "connection type not set"
        ])
        assert.isTrue(openssl.handles.sslInBefore(noRole))

        const wrongMethod = ref(yield* Ssl.make(client, { role: "server" }))
        assert.deepStrictEqual(
          detail(thrown(() => openssl.handshake.step(wrongMethod)))[2],
          "called a function you should not call"
        )

        // A client without BIOs could not write its ClientHello: started, and it can retry.
        const bareClient = ref(yield* Ssl.make(client, { role: "client" }))
        assert.deepStrictEqual(detail(thrown(() => openssl.handshake.step(bareClient))), [
          "TlsError",
          "UnexpectedEof",
          undefined
        ])
        assert.isFalse(openssl.handles.sslInBefore(bareClient))
        openssl.handshake.attachMemory(bareClient)
        assert.strictEqual(openssl.handshake.step(bareClient), "want-read")

        // A server without BIOs fails fatally; OpenSSL would crash on the next step without BIOs.
        const bareServer = ref(yield* Ssl.make(server, { role: "server" }))
        assert.deepStrictEqual(detail(thrown(() => openssl.handshake.step(bareServer))), [
          "TlsError",
          "Protocol",
          "read bio not set"
        ])
        const crash = thrown(() => openssl.handshake.step(bareServer)) as { _tag: string; cause: unknown }
        assert.strictEqual(crash._tag, "OpenSslError")
        assert.instanceOf(crash.cause, OpenSslModel.WouldCrash)
        openssl.handshake.attachMemory(bareServer)
        assert.deepStrictEqual(detail(thrown(() => openssl.handshake.step(bareServer)))[1], "UnexpectedEof")
      }))

    it.scoped("a second attach is a driver conflict", () =>
      Effect.gen(function*() {
        const ssl = yield* Ssl.make(yield* SslContext.make({ role: "client" }))
        const openssl = Ssl.openSslOf(ssl)
        openssl.handshake.attachMemory(ref(ssl))
        const error = thrown(() => openssl.handshake.attachMemory(ref(ssl))) as { _tag: string; reason: string }
        assert.deepStrictEqual([error._tag, error.reason], ["TlsError", "DriverConflict"])
      }))
  })

  describe("host names", () => {
    it.scoped("a DNS name of up to 253 characters; a rejected name allocates nothing", () =>
      Effect.gen(function*() {
        const frees = yield* recordFrees
        const ctx = yield* SslContext.make({ role: "client" })
        const longest = ["a", "b", "c"].map((c) => c.repeat(63)).join(".") + "." + "d".repeat(61)
        const ok = yield* Ssl.make(ctx, { hostName: longest })
        assert.strictEqual((yield* Ssl.settings(ok)).hostName, longest)
        for (const bad of ["", longest + "d", "é".repeat(128), "a\0b"]) {
          const error = yield* Effect.flip(Ssl.make(ctx, { hostName: bad }))
          assert.deepStrictEqual([error._tag, error._tag === "InvalidOptionError" && error.option], [
            "InvalidOptionError",
            "hostName"
          ])
        }
        assert.strictEqual(frees.filter((e) => e.kind === "SSL").length, 0)
        assert.strictEqual((yield* Diagnostics.counts).SSL, 1)
      }))
  })
})

const contextConfig = Effect.map(
  Effect.scoped(SslContext.make({ role: "client" })),
  (ctx) => ctx.config
)

describe("OpenSslModel.make", () => {
  it.effect("gives independent models: own objects, own ids", () =>
    Effect.gen(function*() {
      const one = yield* OpenSslModel.make
      const two = yield* OpenSslModel.make
      const config = yield* contextConfig.pipe(Effect.provide(OpenSslModel.layer))
      const a = one.handles.contextNew(config)
      const b = two.handles.contextNew(config)
      assert.strictEqual(a.id, b.id)
      one.handles.contextFree(a)
      assert.isTrue(two.handles.sslInBefore(two.handles.sslNew(b)), "freeing in one model leaves the other alone")
      assert.throws(() => two.handles.sslNew(a), /belongs to another OpenSsl/)
    }))
})
