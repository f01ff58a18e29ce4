import * as Diagnostics from "@effect-openssl/core/Diagnostics"
import { OpenSsl } from "@effect-openssl/core/OpenSsl"
import * as Ssl from "@effect-openssl/core/Ssl"
import * as SslContext from "@effect-openssl/core/SslContext"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"

const section = (title: string) => Console.log(`\n── ${title}`)

/** A short tour of the handle lifecycle on the real library, with native frees observed. */
export const demo = Effect.gen(function*() {
  const openssl = yield* OpenSsl
  const freed: Array<string> = []
  const stop = openssl.observeFrees((e) => freed.push(`${e.kind}#${e.id}`))
  yield* Effect.addFinalizer(() => Effect.sync(stop))
  const takeFreed = () => freed.splice(0).join(", ") || "nothing"

  yield* Console.log(`effect-openssl on ${openssl.version.text} (${openssl.implementation} binding)`)

  yield* section("SslContext.make: an SSL_CTX, configured once, frozen")
  const ctx = yield* SslContext.make({ role: "client", options: ["NO_TICKET"], sessionTimeout: "5 minutes" })
  const ctxSettings = yield* SslContext.settings(ctx)
  yield* Console.log(
    `role=${ctxSettings.role} min=${ctxSettings.minProtocol} verify=${ctxSettings.verifyMode} ` +
      `timeout=${ctxSettings.sessionTimeoutSeconds}s options=${ctxSettings.options.join("|")}`
  )

  yield* section("Ssl.make: SSL_new inherits the context's settings")
  const scopeA = yield* Scope.make()
  const ssl = yield* Scope.extend(Ssl.make(ctx, { hostName: "example.org" }), scopeA)
  const sslSettings = yield* Ssl.settings(ssl)
  yield* Console.log(
    `handle ${ssl} verify=${sslSettings.verifyMode} timeout=${sslSettings.sessionTimeoutSeconds}s ` +
      `sni=${sslSettings.hostName} started=${yield* Ssl.handshakeStarted(ssl)}`
  )

  yield* section("Ssl.upRef: a second reference, held by a forked scope")
  const scopeB = yield* Scope.make()
  const ref = yield* Scope.extend(Ssl.upRef(ssl), scopeB)
  yield* Scope.close(scopeA, Exit.void)
  yield* Console.log(`closed the original's scope → freed: ${takeFreed()} (the fork still holds it)`)
  yield* Console.log(`the fork still works: started=${yield* Ssl.handshakeStarted(ref)}`)

  yield* section("Ssl.dup before the handshake: Duplicated, a new object")
  const dupScope = yield* Scope.make()
  const fresh = yield* Scope.extend(Ssl.dup(ref), dupScope)
  yield* Console.log(
    `${fresh._tag}: ${fresh.ssl}, SNI copied? ${(yield* Ssl.settings(fresh.ssl)).hostName !== undefined}`
  )
  yield* Scope.close(dupScope, Exit.void)
  yield* Console.log(`released the copy → freed: ${takeFreed()}`)

  yield* section("Start the handshake (memory BIOs): the ClientHello is written")
  const native = Ssl.unsafeNativeRef(ref)
  openssl.sslAttachMemory(native)
  openssl.sslSetRole(native, "client")
  const step = openssl.sslHandshake(native)
  yield* Console.log(`SSL_do_handshake → ${step}, ${openssl.sslPendingOutput(native)} bytes of ClientHello waiting`)

  yield* section("Ssl.dup after the handshake started: Shared, the same object")
  const shared = yield* Scope.extend(Ssl.dup(ref), scopeB)
  yield* Console.log(`${shared._tag}: same object? ${Ssl.sameObject(shared.ssl, ref)}`)
  yield* Console.log(`held now: ${(yield* Diagnostics.live).map((o) => `${o.kind}#${o.id}×${o.leases}`).join(", ")}`)

  yield* Scope.close(scopeB, Exit.void)
  yield* Console.log(`closed the last holder's scope → freed: ${takeFreed()}`)

  yield* section("Use after release: a typed error, native memory untouched")
  const error = yield* Effect.flip(Ssl.settings(ref))
  yield* Console.log(`${error._tag}: ${error.message}`)
})
