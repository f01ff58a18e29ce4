/**
 * A program written as a user of the published packages writes it: it imports each package's
 * entry point and one module path, issues certificates with TestPki, and makes a verified TLS
 * connection over memory with one request and one answer, and an HTTPS request to a node:https
 * server through the HttpClient layer. It prints what it saw as one JSON line; the
 * pack-and-install test type-checks it with strict settings, runs it with plain `node`, and reads
 * that line.
 */
import { ClientContext, SslContext, TlsConnection, Transport } from "@effect-openssl/core"
import { VerifyError } from "@effect-openssl/core/SslError"
import { NodeOpenSsl, NodeTlsHttpClient } from "@effect-openssl/node"
import { TestPki } from "@effect-openssl/test"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as HttpClient from "@effect/platform/HttpClient"
import { Effect, Layer, Option, Redacted } from "effect"
import * as https from "node:https"
import type { AddressInfo } from "node:net"

const text = (bytes: Option.Option<Uint8Array>): string =>
  Option.match(bytes, { onNone: () => "<closed>", onSome: (b) => new TextDecoder().decode(b) })

const roundTrip = Effect.gen(function*() {
  const pki = yield* TestPki.make()
  const server = yield* SslContext.make({ role: "server", certificate: pki.server })
  const client = yield* SslContext.make({ role: "client", trust: { certificates: pki.trust } })
  const [a, b] = yield* Transport.memoryPair
  const [conn, peer] = yield* Effect.all([
    TlsConnection.connect(a, client, { hostName: "localhost" }),
    TlsConnection.accept(b, server)
  ], { concurrency: 2 })
  yield* conn.write(new TextEncoder().encode("ping"))
  const request = text(yield* peer.read)
  yield* peer.write(new TextEncoder().encode(`pong to ${request}`))
  const reply = text(yield* conn.read)
  const info = yield* conn.info
  return { protocol: info.protocol, peer: info.peerChain[0]?.subject, request, reply }
})

/** A client that trusts another CA than the server's must be refused by verification. */
const untrusted = Effect.gen(function*() {
  const pki = yield* TestPki.make()
  const stranger = yield* TestPki.make()
  const server = yield* SslContext.make({ role: "server", certificate: pki.server })
  const client = yield* SslContext.make({ role: "client", trust: { certificates: stranger.trust } })
  const [a, b] = yield* Transport.memoryPair
  const [result] = yield* Effect.all([
    Effect.either(TlsConnection.connect(a, client, { hostName: "localhost" })),
    Effect.either(TlsConnection.accept(b, server))
  ], { concurrency: 2 })
  return result._tag === "Left" && result.left instanceof VerifyError ? result.left.message : "connected"
})

/** A GET through NodeTlsHttpClient (on the installed @effect/platform-node) to a node:https server. */
const httpsGet = Effect.gen(function*() {
  const pki = yield* TestPki.make()
  const server = https.createServer(
    { cert: pki.server.chain, key: Redacted.value(pki.server.key) },
    (_request, response) => response.end("hello over https")
  )
  yield* Effect.acquireRelease(
    Effect.async<void>((resume) => void server.listen(0, "127.0.0.1", () => resume(Effect.void))),
    () =>
      Effect.async<void>((resume) => {
        server.closeAllConnections()
        server.close(() => resume(Effect.void))
      })
  )
  const { port } = server.address() as AddressInfo
  const client = NodeTlsHttpClient.layer().pipe(
    Layer.provide(ClientContext.layer({ trust: { certificates: pki.trust } })),
    Layer.provide(NodeFileSystem.layer)
  )
  return yield* Effect.flatMap(
    HttpClient.HttpClient,
    (http) => Effect.flatMap(http.get(`https://localhost:${port}/`), (response) => response.text)
  ).pipe(Effect.provide(client))
})

/** Module paths under internal/ are not part of the packages. */
const internalBlocked = Effect.promise(() => {
  const specifier = "@effect-openssl/core/internal/engine"
  return import(specifier).then(
    () => "importable",
    (e: { readonly code?: unknown }) => String(e.code)
  )
})

const program = Effect.gen(function*() {
  const verified = yield* roundTrip
  const refused = yield* untrusted
  const internal = yield* internalBlocked
  const http = yield* httpsGet
  console.log(JSON.stringify({ ...verified, refused, internal, http }))
})

Effect.runPromise(program.pipe(Effect.scoped, Effect.provide(NodeOpenSsl.layer))).catch((error: unknown) => {
  console.error(String(error))
  process.exitCode = 1
})
