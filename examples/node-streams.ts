import { Pki, SslContext, TlsSocket } from "@effect-openssl/core"
import { NodeOpenSsl, NodeTlsDuplex } from "@effect-openssl/node"
import { NodeSocket } from "@effect/platform-node"
import { Console, Effect } from "effect"
import * as http from "node:http"

const program = Effect.gen(function*() {
  const ca = yield* Pki.rootCa()
  const serverCtx = yield* SslContext.make({ role: "server", certificate: yield* Pki.server(ca) })
  const clientCtx = yield* SslContext.make({ role: "client", trust: { certificates: ca.certificate } })

  // node:http over our TLS: each accepted connection goes to the http.Server as a Duplex.
  // (One connection by hand: NodeTlsDuplex.make(yield* TlsConnection.accept(transport, serverCtx)).)
  const app = http.createServer((req, res) => {
    const conn = NodeTlsDuplex.connectionOf(req.socket) // the TlsConnection under the request
    res.end(`hello over ${conn._tag === "Some" ? Effect.runSync(conn.value.info).protocol : "?"}\n`)
  })
  const { port } = yield* NodeTlsDuplex.listen(app, serverCtx, { host: "127.0.0.1" })

  // A platform Socket in, a Socket of plaintext out (handshake done, chain and host verified).
  const tcp = yield* NodeSocket.makeNet({ host: "127.0.0.1", port })
  const tls = yield* TlsSocket.makeClient(tcp, clientCtx, { hostName: "localhost" })
  const write = yield* tls.writer
  yield* write(new TextEncoder().encode("GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"))
  let response = ""
  yield* tls.run((chunk) => {
    response += new TextDecoder().decode(chunk)
  }) // until the server's close_notify
  const [status] = response.split("\r\n")
  yield* Console.log(`${status}: ${response.slice(response.indexOf("\r\n\r\n") + 4).trim()}`)
})

Effect.runPromise(program.pipe(Effect.scoped, Effect.provide(NodeOpenSsl.layer)))
