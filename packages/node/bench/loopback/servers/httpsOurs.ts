/** HTTPS, ours: `node:http` over this library's TLS, served by `NodeTlsDuplex.listen`. */
import * as SslContext from "@effect-openssl/core/SslContext"
import * as Effect from "effect/Effect"
import * as http from "node:http"
import * as NodeTlsDuplex from "../../../src/NodeTlsDuplex.js"
import { hello, ourContext, serveEffect } from "../serve.js"

serveEffect(Effect.gen(function*() {
  const context = yield* SslContext.make(ourContext)
  return yield* NodeTlsDuplex.listen(http.createServer(hello), context, { host: "127.0.0.1" })
}))
