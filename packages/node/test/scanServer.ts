/**
 * An HTTPS server on our TLS with a default server context, for external scanners
 * (docs/defaults.md has the testssl.sh command). Usage: tsx packages/node/test/scanServer.ts PORT
 * [RSA-2048|P-256]. Serves until killed; prints "listening" once ready.
 */
import * as SslContext from "@effect-openssl/core/SslContext"
import * as NodeOpenSsl from "@effect-openssl/node/NodeOpenSsl"
import * as NodeTlsDuplex from "@effect-openssl/node/NodeTlsDuplex"
import * as Effect from "effect/Effect"
import * as http from "node:http"
import * as TestPki from "../../test/src/TestPki.js"

const port = Number(process.argv[2] ?? 8443)
const keyType = (process.argv[3] ?? "RSA-2048") as TestPki.KeyType

const program = Effect.gen(function*() {
  const certificate = yield* TestPki.selfSigned({ keyType })
  const context = yield* SslContext.make({ role: "server", certificate })
  const server = http.createServer((_, response) => response.end("ok\n"))
  const address = yield* NodeTlsDuplex.listen(server, context, { host: "127.0.0.1", port })
  console.log(`listening on ${address.address}:${address.port} (${keyType} certificate, default options)`)
  return yield* Effect.never
})

Effect.runPromise(program.pipe(Effect.scoped, Effect.provide(NodeOpenSsl.layer))).catch((error) => {
  console.error(error)
  process.exitCode = 1
})
