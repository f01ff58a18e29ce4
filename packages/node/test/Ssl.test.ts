import * as Diagnostics from "@effect-openssl/core/Diagnostics"
import * as Ssl from "@effect-openssl/core/Ssl"
import * as SslContext from "@effect-openssl/core/SslContext"
import { assert, describe, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import {
  clientOptions,
  connectedPair,
  freesOf,
  recordFrees,
  serverOptions,
  startHandshake,
  TestOpenSsl
} from "./util.js"

const idOf = (ssl: Ssl.Ssl) => Ssl.unsafeNativeRef(ssl).id

const configured: SslContext.Options = {
  ...clientOptions,
  minProtocol: "TLSv1.2",
  maxProtocol: "TLSv1.3",
  options: ["NO_TICKET", "PRIORITIZE_CHACHA"],
  verify: { mode: "require", depth: 3 },
  sessionTimeout: "123 seconds",
  sessionCacheMode: "both",
  ciphers: "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES128-GCM-SHA256"
}

layer(TestOpenSsl)("Ssl", (it) => {
  it.scoped("inherits the context's method, options, verification and timeout settings", () =>
    Effect.gen(function*() {
      const ctx = yield* SslContext.make(configured)
      const fromCtx = yield* SslContext.settings(ctx)
      const ssl = yield* Ssl.make(ctx)
      const fromSsl = yield* Ssl.settings(ssl)
      assert.strictEqual(fromSsl.role, "client")
      assert.strictEqual(fromSsl.minProtocol, "TLSv1.2")
      assert.strictEqual(fromSsl.maxProtocol, "TLSv1.3")
      assert.strictEqual(fromSsl.optionBits, fromCtx.optionBits)
      assert.include(fromSsl.options, "NO_TICKET")
      assert.include(fromSsl.options, "PRIORITIZE_CHACHA")
      assert.strictEqual(fromSsl.verifyMode, "require")
      assert.strictEqual(fromSsl.verifyDepth, 3)
      assert.strictEqual(fromSsl.sessionTimeoutSeconds, 123)
      assert.strictEqual(fromSsl.sessionCacheMode, "both")
      assert.deepStrictEqual(fromSsl.ciphers, fromCtx.ciphers)
      assert.strictEqual(fromSsl.mode, fromCtx.mode)
      assert.isTrue(fromSsl.inBefore)
    }))

  it.scoped("applies per-handle role and SNI host name", () =>
    Effect.gen(function*() {
      const ctx = yield* SslContext.make({ role: "any", trust: { systemDefaults: true } })
      const server = yield* Ssl.settings(yield* Ssl.make(ctx, { role: "server" }))
      assert.isTrue(server.isServer)
      const client = yield* Ssl.settings(yield* Ssl.make(ctx, { role: "client", hostName: "example.test" }))
      assert.isFalse(client.isServer)
      assert.strictEqual(client.hostName, "example.test")
    }))

  it.scoped("a bad host name fails the acquire before anything is allocated", () =>
    Effect.gen(function*() {
      const frees = yield* recordFrees
      const ctx = yield* SslContext.make(clientOptions)
      const error = yield* Effect.flip(Ssl.make(ctx, { hostName: "x".repeat(300) }))
      assert.strictEqual(error._tag, "InvalidOptionError")
      assert.strictEqual(frees.filter((e) => e.kind === "SSL").length, 0)
      assert.strictEqual((yield* Diagnostics.counts).SSL, 0)
    }))

  it.scoped("a setting refused after SSL_new fails the acquire and frees the half-made handle", () =>
    Effect.gen(function*() {
      const frees = yield* recordFrees
      const ctx = yield* SslContext.make(clientOptions)
      const other = yield* SslContext.make(clientOptions)
      const [client] = yield* connectedPair(other, yield* SslContext.make(serverOptions))
      const session = Option.getOrThrow(yield* client.awaitSession("2 seconds"))
      const before = frees.filter((e) => e.kind === "SSL").length
      const error = yield* Effect.flip(Ssl.make(ctx, { session }))
      assert.strictEqual(error._tag === "InvalidOptionError" && error.option, "session")
      assert.strictEqual(frees.filter((e) => e.kind === "SSL").length, before + 1)
    }))

  describe("upRef", () => {
    it.scoped("the object is freed once, after the last holder, when the original closes first", () =>
      Effect.gen(function*() {
        const frees = yield* recordFrees
        const ctx = yield* SslContext.make(clientOptions)
        const a = yield* Scope.make()
        const b = yield* Scope.make()
        const ssl = yield* Scope.extend(Ssl.make(ctx), a)
        const id = idOf(ssl)
        const ref = yield* Scope.extend(Ssl.upRef(ssl), b)
        assert.isTrue(Ssl.sameObject(ssl, ref))
        yield* Scope.close(a, Exit.void)
        assert.strictEqual(freesOf(frees, id), 0)
        assert.isTrue(Ssl.isReleased(ssl))
        assert.isFalse(yield* Ssl.handshakeStarted(ref), "the forked reference still works")
        yield* Scope.close(b, Exit.void)
        assert.strictEqual(freesOf(frees, id), 1)
      }))

    it.scoped("the forked reference can be released early, before its parent scope closes", () =>
      Effect.gen(function*() {
        const frees = yield* recordFrees
        const ctx = yield* SslContext.make(clientOptions)
        const outer = yield* Scope.make()
        const ssl = yield* Scope.extend(Ssl.make(ctx), outer)
        const id = idOf(ssl)
        const ref = yield* Scope.extend(Ssl.upRef(ssl), outer)
        yield* Ssl.release(ref)
        assert.isTrue(Ssl.isReleased(ref))
        assert.strictEqual(freesOf(frees, id), 0)
        assert.strictEqual((yield* Diagnostics.live).find((o) => o.id === id)?.leases, 1)
        yield* Scope.close(outer, Exit.void)
        assert.strictEqual(freesOf(frees, id), 1)
      }))

    it.scoped("closing the caller's scope closes the forked child too", () =>
      Effect.gen(function*() {
        const frees = yield* recordFrees
        const ctx = yield* SslContext.make(clientOptions)
        const outer = yield* Scope.make()
        const ssl = yield* Scope.extend(Ssl.make(ctx), outer)
        const refs = yield* Scope.extend(Effect.all([Ssl.upRef(ssl), Ssl.upRef(ssl)]), outer)
        assert.strictEqual((yield* Diagnostics.live).find((o) => o.id === idOf(ssl))?.leases, 3)
        const id = idOf(ssl)
        yield* Scope.close(outer, Exit.void)
        assert.strictEqual(freesOf(frees, id), 1)
        assert.isTrue(refs.every(Ssl.isReleased))
      }))
  })

  describe("dup", () => {
    it.scoped("before the handshake: Duplicated, a new independent object", () =>
      Effect.gen(function*() {
        const frees = yield* recordFrees
        const ctx = yield* SslContext.make(configured)
        const ssl = yield* Ssl.make(ctx, { role: "server", hostName: "sni.example" })
        const result = yield* Ssl.dup(ssl)
        assert.strictEqual(result._tag, "Duplicated")
        const copy = result.ssl
        assert.notStrictEqual(Ssl.unsafePointer(copy), Ssl.unsafePointer(ssl))
        assert.notStrictEqual(idOf(copy), idOf(ssl), "library-owned ex_data is reset on the copy")
        assert.isFalse(Ssl.sameObject(copy, ssl))

        const original = yield* Ssl.settings(ssl)
        const copied = yield* Ssl.settings(copy)
        // What SSL_dup(3) copies:
        assert.strictEqual(copied.optionBits, original.optionBits)
        assert.strictEqual(copied.mode, original.mode)
        assert.strictEqual(copied.minProtocol, original.minProtocol)
        assert.strictEqual(copied.maxProtocol, original.maxProtocol)
        assert.strictEqual(copied.verifyMode, original.verifyMode)
        assert.strictEqual(copied.verifyDepth, original.verifyDepth)
        assert.deepStrictEqual(copied.ciphers, original.ciphers)
        assert.strictEqual(copied.isServer, original.isServer, "accept state is copied")
        assert.strictEqual(copied.role, original.role)
        assert.isTrue(copied.inBefore)
        // What it does not:
        assert.strictEqual(original.hostName, "sni.example")
        assert.isUndefined(copied.hostName, "the SNI host name is not copied")

        // Independent lifetimes: freeing the copy frees only the copy.
        const copyId = idOf(copy)
        yield* Ssl.release(copy)
        assert.deepStrictEqual(frees.filter((e) => e.kind === "SSL"), [{ kind: "SSL", id: copyId }])
        assert.isFalse(yield* Ssl.handshakeStarted(ssl))
      }))

    it.scoped("after the handshake started: Shared, the same object with one more reference", () =>
      Effect.gen(function*() {
        const frees = yield* recordFrees
        const ctx = yield* SslContext.make(clientOptions)
        const scope = yield* Scope.make()
        const ssl = yield* Scope.extend(Ssl.make(ctx), scope)
        yield* startHandshake(ssl)
        const started = yield* Ssl.whenStarted(ssl)
        assert.isTrue(Option.isSome(started))
        const result = yield* Ssl.dup(ssl)
        assert.strictEqual(result._tag, "Shared")
        assert.strictEqual(Ssl.unsafePointer(result.ssl), Ssl.unsafePointer(ssl))
        assert.isTrue(Ssl.sameObject(result.ssl, ssl))
        const id = idOf(ssl)
        yield* Scope.close(scope, Exit.void)
        assert.strictEqual(freesOf(frees, id), 0, "the Shared reference keeps it alive")
        yield* Ssl.release(result.ssl)
        assert.strictEqual(freesOf(frees, id), 1)
      }))

    it.scoped("a Started handle dups to Shared again (the state only moves forward)", () =>
      Effect.gen(function*() {
        const ctx = yield* SslContext.make(clientOptions)
        const ssl = yield* Ssl.make(ctx)
        yield* startHandshake(ssl)
        const started = Option.getOrThrow(yield* Ssl.whenStarted(ssl))
        const first = yield* Ssl.dup(started)
        const second = yield* Ssl.dup(first.ssl)
        assert.strictEqual(second._tag, "Shared")
        assert.isTrue(yield* Ssl.handshakeStarted(second.ssl))
      }))

    it.scoped("a server handle that read nothing yet has started once SSL_do_handshake ran", () =>
      Effect.gen(function*() {
        const ctx = yield* SslContext.make(serverOptions)
        const ssl = yield* Ssl.make(ctx)
        const openssl = Ssl.openSslOf(ssl)
        openssl.handshake.attachMemory(Ssl.unsafeNativeRef(ssl))
        openssl.handles.sslSetRole(Ssl.unsafeNativeRef(ssl), "server")
        assert.strictEqual(openssl.handshake.step(Ssl.unsafeNativeRef(ssl)), "want-read")
        assert.strictEqual((yield* Ssl.dup(ssl))._tag, "Shared")
      }))
  })

  describe("use after release", () => {
    it.scoped("a handle that escaped its scope fails every operation with a typed error", () =>
      Effect.gen(function*() {
        const ctx = yield* SslContext.make(clientOptions)
        const escaped = yield* Effect.scoped(Ssl.make(ctx))
        assert.isTrue(Ssl.isReleased(escaped))
        for (
          const attempt of [
            Ssl.settings(escaped),
            Ssl.handshakeStarted(escaped),
            Ssl.whenStarted(escaped),
            Ssl.upRef(escaped),
            Ssl.dup(escaped)
          ] as const
        ) {
          const error = yield* Effect.flip(attempt as Effect.Effect<unknown, { readonly _tag: string }>)
          assert.strictEqual(error._tag, "ReleasedHandleError")
        }
        assert.throws(() => Ssl.unsafePointer(escaped), /already released/)
        assert.throws(() => Ssl.unsafeNativeRef(escaped), /already released/)
        yield* Ssl.release(escaped) // no-op
      }))

    it.scoped("a forked reference outlives the original's release and stays usable", () =>
      Effect.gen(function*() {
        const ctx = yield* SslContext.make(clientOptions)
        const ssl = yield* Ssl.make(ctx)
        const ref = yield* Ssl.upRef(ssl)
        yield* Ssl.release(ssl)
        assert.strictEqual((yield* Effect.flip(Ssl.settings(ssl)))._tag, "ReleasedHandleError")
        assert.isTrue((yield* Ssl.settings(ref)).inBefore)
      }))
  })

  it.scoped("diagnostics list what is held, with acquiring stacks when enabled", () =>
    Effect.gen(function*() {
      yield* Diagnostics.captureStacks(true)
      yield* Effect.addFinalizer(() => Diagnostics.captureStacks(false))
      const ctx = yield* SslContext.make(clientOptions)
      const ssl = yield* Ssl.make(ctx)
      yield* Ssl.upRef(ssl)
      const live = yield* Diagnostics.live
      assert.deepStrictEqual(live.map((o) => [o.kind, o.leases]), [["SSL_CTX", 1], ["SSL", 2]])
      assert.include(live[1]!.acquiredAt, "Ssl.test.ts")
      assert.deepStrictEqual(yield* Diagnostics.counts, { SSL_CTX: 1, SSL: 1, SSL_SESSION: 0 })
    }))
})
