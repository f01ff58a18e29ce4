/**
 * HTTPS through `@effect/platform`, Node's: `NodeHttpServer` over `https.createServer` serving the
 * same platform app, as an app runs before it moves to `NodeTlsHttpServer`.
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as Effect from "effect/Effect"
import * as https from "node:https"
import { helloApp, nodeOptions, servePlatform } from "../serve.js"

servePlatform(Effect.gen(function*() {
  const server = yield* NodeHttpServer.make(() => https.createServer(nodeOptions), { host: "127.0.0.1", port: 0 })
  yield* server.serve(helloApp)
  return server
}))
