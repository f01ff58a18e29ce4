/**
 * Valid inputs captured from real runs, for the fuzzer to mutate: the bytes each side of a
 * complete connection sent (handshake, an exchange, a TLS 1.3 ticket, close_notify), a session
 * in its DER form, the PEM of a certificate chain and key, and the DER of the certificates.
 */
import type { OpenSsl } from "@effect-openssl/core/OpenSsl"
import type { SslError } from "@effect-openssl/core/SslError"
import * as SslSession from "@effect-openssl/core/SslSession"
import * as TlsConnection from "@effect-openssl/core/TlsConnection"
import * as Transport from "@effect-openssl/core/Transport"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { contexts, pki, type Version, versions } from "./peers.js"

/** One captured connection. */
export interface Transcript {
  readonly version: Version
  /** Everything the client sent, as sent (chunk by chunk). */
  readonly toServer: ReadonlyArray<Uint8Array>
  /** Everything the server sent. */
  readonly toClient: ReadonlyArray<Uint8Array>
  /** The session the client received, DER. */
  readonly session: Uint8Array
}

export interface Corpus {
  readonly transcripts: Readonly<Record<Version, Transcript>>
  /** The server's chain (leaf, intermediate) and key, PEM. */
  readonly chainPem: string
  readonly keyPem: string
  /** The trusted root, PEM. */
  readonly rootPem: string
  /** The server's certificates as the client received them, DER. */
  readonly certificates: ReadonlyArray<Uint8Array>
}

export const request = new TextEncoder().encode("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
export const response = new TextEncoder().encode("HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello")

/** A pair of memory transports with a recorder between them. */
const recorded = Effect.gen(function*() {
  const [client, relayClient] = yield* Transport.memoryPair
  const [relayServer, server] = yield* Transport.memoryPair
  const toServer: Array<Uint8Array> = []
  const toClient: Array<Uint8Array> = []
  const pump = (from: Transport.Transport, to: Transport.Transport, log: Array<Uint8Array>) =>
    Effect.gen(function*() {
      for (;;) {
        const chunk = yield* from.receive
        if (Option.isNone(chunk)) return yield* to.end
        log.push(chunk.value.slice())
        yield* to.send(chunk.value)
      }
    }).pipe(Effect.ignore)
  const pumps = yield* Effect.all([
    Effect.fork(pump(relayClient, relayServer, toServer)),
    Effect.fork(pump(relayServer, relayClient, toClient))
  ])
  return { client, server, toServer, toClient, pumps }
})

const capture = (version: Version): Effect.Effect<
  { transcript: Transcript; certificates: ReadonlyArray<Uint8Array> },
  TlsConnection.TlsConnectionError,
  OpenSsl
> =>
  Effect.scoped(Effect.gen(function*() {
    const { client, server } = yield* contexts(version)
    const wire = yield* recorded
    const result = yield* Effect.scoped(Effect.gen(function*() {
      const [c, s] = yield* Effect.all([
        TlsConnection.connect(wire.client, client, { hostName: "localhost" }),
        TlsConnection.accept(wire.server, server)
      ], { concurrency: 2 })
      yield* c.write(request)
      yield* s.read
      yield* s.write(response)
      const session = yield* c.awaitSession("2 seconds")
      const der = yield* SslSession.toBytes(Option.getOrThrow(session))
      const info = yield* c.info
      yield* Effect.all([c.close, s.close], { concurrency: 2 })
      return { der, certificates: info.peerCertificates }
    }))
    yield* Effect.all([wire.client.end, wire.server.end])
    for (const pump of wire.pumps) yield* pump.await
    return {
      transcript: { version, toServer: wire.toServer, toClient: wire.toClient, session: result.der },
      certificates: result.certificates
    }
  }))

let cached: Corpus | undefined

/** The corpus, captured once per process. */
export const corpus: Effect.Effect<Corpus, SslError | Transport.TransportError, OpenSsl> = Effect.suspend(() => {
  if (cached !== undefined) return Effect.succeed(cached)
  return Effect.gen(function*() {
    const captured = yield* Effect.forEach(versions, capture)
    const issued = yield* pki
    const made: Corpus = {
      transcripts: { "TLSv1.2": captured[0]!.transcript, "TLSv1.3": captured[1]!.transcript },
      chainPem: issued.server.chain,
      keyPem: Redacted.value(issued.server.key),
      rootPem: issued.trust,
      certificates: captured[1]!.certificates
    }
    cached = made
    return made
  })
})

/** All the chunks of one direction as one stream. */
export const concat = (chunks: ReadonlyArray<Uint8Array>): Uint8Array => {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0))
  let at = 0
  for (const chunk of chunks) {
    out.set(chunk, at)
    at += chunk.length
  }
  return out
}
