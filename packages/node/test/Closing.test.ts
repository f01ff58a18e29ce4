/**
 * What reaches the peer when a connection ends badly: a server refusing a bad ClientHello ends
 * with its alert and a FIN (as `openssl s_server` does), not a reset, even when the peer had
 * pipelined more data; and a client rejected by the server after its handshake (TLS 1.3, a
 * missing client certificate) reports the server's alert, not the broken pipe behind it.
 */
import * as SslContext from "@effect-openssl/core/SslContext"
import * as TlsConnection from "@effect-openssl/core/TlsConnection"
import { assert, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as net from "node:net"
import * as NodeTransport from "../src/NodeTransport.js"
import { bytes, connectTo, interopPki, serverIdentity, sServer } from "./peers.js"
import { alertsHeard, LiveOpenSsl, serverOptions, TlsAlert } from "./util.js"

/** A TLS record of `type` (0x16 handshake) whose body is `body`. */
const record = (type: number, body: Uint8Array) =>
  new Uint8Array([type, 0x03, 0x01, body.length >> 8, body.length & 0xff, ...body])

/** A ClientHello that is not one: a handshake message of type ClientHello full of zeros. */
const badHello = record(0x16, new Uint8Array([0x01, 0x00, 0x00, 0x40, ...new Uint8Array(0x40)]))

/** Connect, send `bytes`, and collect what comes back until the connection ends: how it ended. */
const rawExchange = (port: number, payload: Uint8Array) =>
  Effect.async<{ received: Buffer; ending: "end" | string }>((resume) => {
    const chunks: Array<Buffer> = []
    const socket = net.connect({ host: "127.0.0.1", port }, () => socket.write(payload))
    let ending: string | undefined
    socket.on("data", (chunk: Buffer) => chunks.push(chunk))
    socket.on("end", () => (ending ??= "end"))
    socket.on("error", (error: NodeJS.ErrnoException) => (ending ??= error.code ?? error.message))
    socket.on("close", () => resume(Effect.succeed({ received: Buffer.concat(chunks), ending: ending ?? "close" })))
    return Effect.sync(() => socket.destroy())
  }).pipe(Effect.timeout("10 seconds"))

layer(LiveOpenSsl, { excludeTestServices: true })("closing", (it) => {
  it.scoped("a refused ClientHello: the alert, then a FIN, even with 256 KiB pipelined behind it", () =>
    Effect.gen(function*() {
      const context = yield* SslContext.make(serverOptions)
      const listener = yield* NodeTransport.listen({ host: "127.0.0.1", linger: "1 second" })
      yield* Effect.forkScoped(listener.run((transport) => TlsConnection.accept(transport, context)))
      for (let round = 0; round < 5; round++) {
        const { ending, received } = yield* rawExchange(
          listener.address.port,
          new Uint8Array([...badHello, ...new Uint8Array(256 * 1024).fill(0x17)])
        )
        assert.strictEqual(received[0], 0x15, "an alert record first")
        assert.strictEqual(ending, "end", `round ${round}: the connection ended with ${ending}, not a FIN`)
      }
    }))

  it.scoped("TLS 1.3, a client certificate required and none sent: the server's alert 116, not EPIPE", () =>
    Effect.gen(function*() {
      const pki = yield* interopPki
      const server = yield* sServer([
        "-tls1_3",
        "-Verify",
        "1",
        "-CAfile",
        pki.paths.ca,
        ...serverIdentity(pki.paths)
      ])
      const context = yield* SslContext.make({ role: "client", trust: { certificates: pki.trust } })
      // TLS 1.3: the client's handshake is done before the server checked its (empty) certificate.
      const conn = yield* connectTo(server.port, context)
      yield* server.waitFor(/ERROR|certificate/i)
      yield* Effect.sleep("100 millis")
      const error = yield* Effect.flip(
        Effect.zipRight(conn.write(bytes("are you there?\n")), Effect.zipRight(conn.write(bytes("again\n")), conn.read))
      )
      assert.strictEqual(error._tag, "TlsError", String(error))
      if (error._tag !== "TlsError") return
      const heard = error.reason === "Closed"
        ? (error.cause as { entries?: ReadonlyArray<{ reason: number }> }).entries
        : error.entries
      assert.include(alertsHeard(heard), TlsAlert.certificateRequired, String(error))
    }))
})
