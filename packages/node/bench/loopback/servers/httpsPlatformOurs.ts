/**
 * HTTPS through `@effect/platform`, ours: the `HttpServer` of `NodeTlsHttpServer` (with its
 * default limits, metrics and spans) serving the platform app.
 */
import * as ServerContext from "@effect-openssl/core/ServerContext"
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as NodeTlsHttpServer from "../../../src/NodeTlsHttpServer.js"
import { helloApp, ourServerContext, servePlatform } from "../serve.js"

servePlatform(Effect.gen(function*() {
  const context = yield* Layer.build(ServerContext.layer(ourServerContext).pipe(Layer.provide(NodeContext.layer)))
  const server = yield* Effect.provide(NodeTlsHttpServer.make({ host: "127.0.0.1" }), context)
  yield* server.serve(helloApp)
  return server
}))
