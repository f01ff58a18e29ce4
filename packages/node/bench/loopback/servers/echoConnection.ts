/**
 * TLS echo, ours: `TlsConnection.accept` over `NodeTransport.fromDuplex` for each socket of a
 * `net.Server`, writing back every chunk it reads.
 */
import type { OpenSsl } from "@effect-openssl/core/OpenSsl"
import * as SslContext from "@effect-openssl/core/SslContext"
import * as TlsConnection from "@effect-openssl/core/TlsConnection"
import * as Effect from "effect/Effect"
import * as FiberSet from "effect/FiberSet"
import * as Option from "effect/Option"
import * as net from "node:net"
import * as NodeTransport from "../../../src/NodeTransport.js"
import { listen, ourContext, serveEffect } from "../serve.js"

serveEffect(Effect.gen(function*() {
  const context = yield* SslContext.make(ourContext)
  const runFork = yield* FiberSet.makeRuntime<OpenSsl>()
  const echo = (socket: net.Socket) =>
    Effect.gen(function*() {
      const connection = yield* TlsConnection.accept(yield* NodeTransport.fromDuplex(socket), context)
      for (;;) {
        const chunk = yield* connection.read
        if (Option.isNone(chunk)) return
        yield* connection.write(chunk.value)
      }
    }).pipe(Effect.scoped, Effect.ignore)
  return yield* Effect.promise(() => listen(net.createServer((socket) => runFork(echo(socket)))))
}))
