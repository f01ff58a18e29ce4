import type { FreeEvent } from "@effect-openssl/core/OpenSsl"
import { OpenSsl } from "@effect-openssl/core/OpenSsl"
import * as Ssl from "@effect-openssl/core/Ssl"
import type * as SslContext from "@effect-openssl/core/SslContext"
import type { SslError } from "@effect-openssl/core/SslError"
import * as TlsConnection from "@effect-openssl/core/TlsConnection"
import * as Transport from "@effect-openssl/core/Transport"
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import { createHash } from "node:crypto"
import { readFileSync } from "node:fs"
import type * as http from "node:http"
import * as NodeOpenSsl from "../src/NodeOpenSsl.js"

/**
 * The system's OpenSSL 3 (Debian's libssl3, which scripts/system-deps.sh installs): a copy of its
 * own beside Node's, the only kind that can observe frees.
 */
export const systemLibssl = "libssl.so.3"

/** The binding as tests that check frees use it: the system's OpenSSL, frees observed for real; the file system for PEM files. */
export const TestOpenSsl = Layer.merge(
  NodeOpenSsl.layerLibrary({ libssl: systemLibssl, observeFrees: true }),
  NodeContext.layer
)

/** Node's own OpenSSL, what users get by default (no free observation there); the file system for PEM files. */
export const LiveOpenSsl = Layer.merge(NodeOpenSsl.layer, NodeContext.layer)

/** SHA-256 of `bytes`, in hex. */
export const sha256 = (bytes: Uint8Array): string => createHash("sha256").update(bytes).digest("hex")

/** Answer a request with its body's length and SHA-256 (hex): "<length> <digest>". */
export const answerDigest = (req: http.IncomingMessage, res: http.ServerResponse): void => {
  const hash = createHash("sha256")
  let length = 0
  req.on("data", (chunk: Buffer) => {
    hash.update(chunk)
    length += chunk.length
  })
  req.on("end", () => res.end(`${length} ${hash.digest("hex")}`))
}

export const fixture = (name: string): string => readFileSync(new URL(`./fixtures/${name}`, import.meta.url), "utf8")

export const serverOptions: SslContext.Options = {
  role: "server",
  certificate: { chain: fixture("server.pem"), key: Redacted.make(fixture("server.key")) }
}

export const clientOptions: SslContext.Options = {
  role: "client",
  trust: { certificates: fixture("ca.pem") }
}

/** Records native free events for the rest of the scope. */
export const recordFrees: Effect.Effect<Array<FreeEvent>, never, OpenSsl | Scope.Scope> = Effect.flatMap(
  OpenSsl,
  (openssl) =>
    Effect.acquireRelease(
      Effect.sync(() => {
        const events: Array<FreeEvent> = []
        const stop = openssl.frees!.observe((event) => events.push(event))
        return { events, stop }
      }),
      ({ stop }) => Effect.sync(stop)
    ).pipe(Effect.map(({ events }) => events))
)

/** Frees of one object id among the recorded events. */
export const freesOf = (events: ReadonlyArray<FreeEvent>, id: number): number =>
  events.filter((e) => e.id === id).length

/**
 * Start the handshake the way an engine does: memory BIOs, connect state, one
 * `SSL_do_handshake` (which writes the ClientHello and wants to read).
 */
export const startHandshake = (ssl: Ssl.Ssl): Effect.Effect<void, SslError> =>
  Effect.try({
    try: () => {
      const openssl = Ssl.openSslOf(ssl)
      const ref = Ssl.unsafeNativeRef(ssl)
      openssl.handshake.attachMemory(ref)
      openssl.handles.sslSetRole(ref, "client")
      openssl.handshake.step(ref)
    },
    catch: (e) => e as SslError
  })

/**
 * Run a full handshake between two handles over memory BIOs, moving ciphertext both ways
 * until both sides are done. Returns the number of flights moved.
 */
export const handshakePair = (client: Ssl.Ssl, server: Ssl.Ssl): Effect.Effect<number, SslError> =>
  Effect.try({
    try: () => {
      const openssl = Ssl.openSslOf(client)
      const c = Ssl.unsafeNativeRef(client)
      const s = Ssl.unsafeNativeRef(server)
      for (const [ref, role] of [[c, "client"], [s, "server"]] as const) {
        openssl.handshake.attachMemory(ref)
        openssl.handles.sslSetRole(ref, role)
      }
      const buffer = new Uint8Array(64 * 1024)
      const move = (from: typeof c, to: typeof c) => {
        for (let n = openssl.io!.drain(from, buffer); n > 0; n = openssl.io!.drain(from, buffer)) {
          openssl.io!.feed(to, buffer.subarray(0, n))
        }
      }
      let clientDone = false
      let serverDone = false
      let flights = 0
      while (!(clientDone && serverDone)) {
        if (++flights > 20) throw new Error("handshake did not converge")
        clientDone = openssl.handshake.step(c) === "done"
        move(c, s)
        serverDone = openssl.handshake.step(s) === "done"
        move(s, c)
      }
      return flights
    },
    catch: (e) => e as SslError
  })

/**
 * A node:tls alert error code in OpenSSL 3.0's spelling: OpenSSL 3.2 renamed the alert reasons
 * ("sslv3 alert bad certificate" → "ssl/tls alert bad certificate"), and Node's codes follow them.
 */
export const alertCode = (code: string | undefined): string | undefined =>
  code?.replace("ERR_SSL_SSL/TLS_ALERT_", "ERR_SSL_SSLV3_ALERT_")

/** The alert numbers an error's queue reports hearing from the peer (reason = 1000 + alert). */
export const alertsHeard = (entries: ReadonlyArray<{ readonly reason: number }> | undefined): Array<number> =>
  (entries ?? []).map((e) => e.reason - 1000).filter((alert) => alert >= 0 && alert < 256)

/** TLS alert numbers (RFC 8446 §6) the tests expect. */
export const TlsAlert = { handshakeFailure: 40, certificateRequired: 116 } as const

/** A client and a server connected over memory, both handshakes run concurrently. */
export const connectedPair = (
  client: SslContext.SslContext,
  server: SslContext.SslContext,
  connectOptions: TlsConnection.ConnectOptions = { hostName: "localhost" },
  acceptOptions: TlsConnection.AcceptOptions = {}
) =>
  Effect.gen(function*() {
    const [a, b] = yield* Transport.memoryPair
    return yield* Effect.all([
      TlsConnection.connect(a, client, connectOptions),
      TlsConnection.accept(b, server, acceptOptions)
    ], { concurrency: 2 })
  })
