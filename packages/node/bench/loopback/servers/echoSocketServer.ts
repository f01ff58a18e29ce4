/**
 * TLS echo, ours: `NodeTlsSocketServer` (the platform `SocketServer` with this library's limits,
 * metrics and accept spans), its handler running the socket's writer on what it reads.
 */
import * as ServerContext from "@effect-openssl/core/ServerContext"
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as NodeTlsSocketServer from "../../../src/NodeTlsSocketServer.js"
import { ourServerContext, servePlatform } from "../serve.js"

servePlatform(Effect.gen(function*() {
  const context = yield* Layer.build(ServerContext.layer(ourServerContext).pipe(Layer.provide(NodeContext.layer)))
  const server = yield* Effect.provide(NodeTlsSocketServer.make({ host: "127.0.0.1" }), context)
  yield* Effect.forkScoped(server.run((socket) =>
    Effect.gen(function*() {
      const write = yield* socket.writer
      yield* socket.run(write)
    }).pipe(Effect.scoped)
  ))
  return server
}))
