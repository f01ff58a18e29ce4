/**
 * TLS echo, ours: `TlsSocket.makeServer` over `@effect/platform-node`'s `NodeSocket` (from each
 * socket of a `net.Server`), running its writer as the handler.
 */
import type { OpenSsl } from "@effect-openssl/core/OpenSsl"
import * as SslContext from "@effect-openssl/core/SslContext"
import * as TlsSocket from "@effect-openssl/core/TlsSocket"
import * as NodeSocket from "@effect/platform-node/NodeSocket"
import * as Effect from "effect/Effect"
import * as FiberSet from "effect/FiberSet"
import * as net from "node:net"
import { listen, ourContext, serveEffect } from "../serve.js"

serveEffect(Effect.gen(function*() {
  const context = yield* SslContext.make(ourContext)
  const runFork = yield* FiberSet.makeRuntime<OpenSsl>()
  const echo = (socket: net.Socket) => {
    // As NodeSocketServer does: an error before the socket's run listens must not go unhandled.
    socket.on("error", () => {})
    return Effect.gen(function*() {
      const tlsSocket = yield* TlsSocket.makeServer(yield* NodeSocket.fromDuplex(Effect.succeed(socket)), context)
      yield* tlsSocket.run(yield* tlsSocket.writer)
    }).pipe(Effect.scoped, Effect.ensuring(Effect.sync(() => socket.destroy())), Effect.ignore)
  }
  return yield* Effect.promise(() => listen(net.createServer((socket) => runFork(echo(socket)))))
}))
