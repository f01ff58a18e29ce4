import * as Diagnostics from "@effect-openssl/core/Diagnostics"
import { capability, OpenSsl } from "@effect-openssl/core/OpenSsl"
import * as Ssl from "@effect-openssl/core/Ssl"
import * as SslContext from "@effect-openssl/core/SslContext"
import * as SslSession from "@effect-openssl/core/SslSession"
import * as TlsConnection from "@effect-openssl/core/TlsConnection"
import * as Transport from "@effect-openssl/core/Transport"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import * as http from "node:http"
import * as https from "node:https"
import type * as tls from "node:tls"
import * as NodeTlsDuplex from "../NodeTlsDuplex.js"

const section = (title: string) => Console.log(`\n── ${title}`)

/**
 * What the tour reports as let go since it last asked: the native frees when the binding observes
 * them, otherwise the objects whose last lease was released (the library's own account; `mark`
 * notes the objects made since, so that one made and released between two asks is seen).
 */
const releases = Effect.gen(function*() {
  const openssl = yield* OpenSsl
  if (openssl.frees !== undefined) {
    const freed: Array<string> = []
    const stop = openssl.frees.observe((e) => freed.push(`${e.kind}#${e.id}`))
    yield* Effect.addFinalizer(() => Effect.sync(stop))
    return { verb: "freed", take: Effect.sync(() => freed.splice(0).join(", ") || "nothing"), mark: Effect.void }
  }
  const names = Effect.map(Diagnostics.live, (objects) => new Set(objects.map((o) => `${o.kind}#${o.id}`)))
  let held = yield* names
  const take = Effect.map(names, (now) => {
    const gone = [...held].filter((name) => !now.has(name))
    held = now
    return gone.join(", ") || "nothing"
  })
  const mark = Effect.map(names, (now) => void (held = new Set([...held, ...now])))
  return { verb: "released", take, mark }
})

/** A short tour of the handle lifecycle on the real library, with native frees observed when the binding can. */
export const demo = Effect.gen(function*() {
  const openssl = yield* OpenSsl
  const { mark, take: takeFreed, verb } = yield* releases

  yield* Console.log(`effect-openssl on ${openssl.version.text} (${openssl.implementation} binding)`)
  yield* Console.log(
    openssl.frees !== undefined
      ? "native frees observed through ex_data free callbacks (an OpenSSL of the binding's own)"
      : "native frees are observed only on an OpenSSL of the binding's own (none loaded here): " +
        "the tour shows the objects whose last lease was released"
  )

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
  yield* Console.log(`closed the original's scope → ${verb}: ${yield* takeFreed} (the fork still holds it)`)
  yield* Console.log(`the fork still works: started=${yield* Ssl.handshakeStarted(ref)}`)

  yield* section("Ssl.dup before the handshake: Duplicated, a new object")
  const dupScope = yield* Scope.make()
  const fresh = yield* Scope.extend(Ssl.dup(ref), dupScope)
  yield* mark
  yield* Console.log(
    `${fresh._tag}: ${fresh.ssl}, SNI copied? ${(yield* Ssl.settings(fresh.ssl)).hostName !== undefined}`
  )
  yield* Scope.close(dupScope, Exit.void)
  yield* Console.log(`released the copy → ${verb}: ${yield* takeFreed}`)

  yield* section("Start the handshake (memory BIOs): the ClientHello is written")
  const native = Ssl.unsafeNativeRef(ref)
  openssl.handshake.attachMemory(native)
  openssl.handles.sslSetRole(native, "client")
  const step = openssl.handshake.step(native)
  const pending = capability(openssl, "io", "demo").pendingOutput(native)
  yield* Console.log(`SSL_do_handshake → ${step}, ${pending} bytes of ClientHello waiting`)

  yield* section("Ssl.dup after the handshake started: Shared, the same object")
  const shared = yield* Scope.extend(Ssl.dup(ref), scopeB)
  yield* Console.log(`${shared._tag}: same object? ${Ssl.sameObject(shared.ssl, ref)}`)
  yield* Console.log(`held now: ${(yield* Diagnostics.live).map((o) => `${o.kind}#${o.id}×${o.leases}`).join(", ")}`)

  yield* Scope.close(scopeB, Exit.void)
  yield* Console.log(`closed the last holder's scope → ${verb}: ${yield* takeFreed}`)

  yield* section("Use after release: a typed error, native memory untouched")
  const error = yield* Effect.flip(Ssl.settings(ref))
  yield* Console.log(`${error._tag}: ${error.message}`)

  yield* tlsTour
})

/** A CA and a server certificate for "localhost", issued in-process through libcrypto. */
const demoPki = Effect.gen(function*() {
  const pki = capability(yield* OpenSsl, "pki", "demo")
  const now = Date.now()
  const validity = { notBefore: new Date(now - 60_000), notAfter: new Date(now + 86_400_000) }
  const caKey = pki.generateKey("P-256")
  const ca = pki.issueCertificate({ subject: { commonName: "demo CA" }, key: caKey, isCa: true, ...validity })
  const serverKey = pki.generateKey("P-256")
  const server = pki.issueCertificate({
    subject: { commonName: "localhost" },
    key: serverKey,
    subjectAltNames: ["DNS:localhost"],
    isCa: false,
    extendedKeyUsage: ["serverAuth"],
    issuer: { certificate: ca, key: caKey },
    ...validity
  })
  return { ca, server, serverKey }
})

const tlsTour = Effect.gen(function*() {
  yield* section("TlsConnection: a TLS 1.3 client and server over an in-memory transport")
  const pki = yield* demoPki
  const server = yield* SslContext.make({
    role: "server",
    certificate: { chain: pki.server, key: pki.serverKey },
    alpnProtocols: ["h2", "http/1.1"]
  })
  const client = yield* SslContext.make({ role: "client", trust: { certificates: pki.ca }, alpnProtocols: ["h2"] })
  const [a, b] = yield* Transport.memoryPair
  const [c, s] = yield* Effect.all([
    TlsConnection.connect(a, client, { hostName: "localhost" }),
    TlsConnection.accept(b, server)
  ], { concurrency: 2 })
  yield* c.write(new TextEncoder().encode("ping"))
  const got = Option.getOrThrow(yield* s.read)
  const info = yield* c.info
  yield* Console.log(
    `${info.protocol} ${info.cipher}, ALPN ${info.alpnProtocol}, the server read "${new TextDecoder().decode(got)}"`
  )
  yield* Console.log(`peer: ${info.peerChain[0]?.subject} (sha256 ${info.peerChain[0]?.fingerprint256.slice(0, 23)}…)`)

  yield* section("Sessions: the ticket arrives after the handshake; resume on a fresh handle")
  const session = Option.getOrThrow(yield* c.awaitSession("2 seconds"))
  const bytes = yield* SslSession.toBytes(session)
  yield* Console.log(`session ticket captured (${bytes.length} bytes serialized)`)
  const [a2, b2] = yield* Transport.memoryPair
  const [c2] = yield* Effect.all([
    TlsConnection.connect(a2, client, { hostName: "localhost", session }),
    TlsConnection.accept(b2, server)
  ], { concurrency: 2 })
  yield* Console.log(`second connection resumed: ${(yield* c2.info).sessionReused}`)

  yield* section("Verification is on by default: a wrong host name is a typed error")
  const [a3, b3] = yield* Transport.memoryPair
  const failed = yield* Effect.flip(
    Effect.all([
      TlsConnection.connect(a3, client, { hostName: "evil.example" }),
      TlsConnection.accept(b3, server)
    ], { concurrency: 2 })
  )
  yield* Console.log(`${failed._tag}: ${failed.message}`)

  yield* section("node:http over our TLS: an HTTPS server that node:https talks to")
  // TCP from a net.Server, TLS from this library, HTTP from a non-listening http.Server.
  const app = http.createServer((_req, res) => res.end("hello from node:http\n"))
  const { port } = yield* NodeTlsDuplex.listen(app, server, { host: "127.0.0.1" })
  const reply = yield* httpsGet(port, pki.ca)
  yield* Console.log(`node:https GET / → ${reply.status} "${reply.body.trim()}" (${reply.protocol})`)
})

/** One GET with node:https (Node's own TLS as the client), trusting `ca`. */
const httpsGet = (port: number, ca: string) =>
  Effect.async<{ status: number; body: string; protocol: string }, Error>((resume) => {
    const req = https.get({ host: "127.0.0.1", servername: "localhost", port, path: "/", ca, agent: false }, (res) => {
      let body = ""
      res.setEncoding("utf8")
      res.on("data", (chunk: string) => (body += chunk))
      res.on("end", () =>
        resume(Effect.succeed({
          status: res.statusCode ?? 0,
          body,
          protocol: (res.socket as tls.TLSSocket).getProtocol() ?? "?"
        })))
    })
    req.on("error", (error) => resume(Effect.fail(error)))
    return Effect.sync(() => req.destroy())
  }).pipe(Effect.timeout("10 seconds"))
