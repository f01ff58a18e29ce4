import { Pki, SslContext, type SslSession, TlsConnection } from "@effect-openssl/core"
import { NodeOpenSsl, NodeTransport } from "@effect-openssl/node"
import { Console, Effect, Option } from "effect"

const encoder = new TextEncoder()
const decoder = new TextDecoder()

const program = Effect.gen(function*() {
  // A local CA and a certificate for localhost, issued in-process: no internet needed.
  const ca = yield* Pki.rootCa()
  const certificate = yield* Pki.server(ca, { hostNames: ["localhost"] })

  // A server: TCP from NodeTransport.listen, TLS from TlsConnection.accept, one answer per connection.
  const serverCtx = yield* SslContext.make({ role: "server", certificate, alpnProtocols: ["http/1.1"] })
  const listener = yield* NodeTransport.listen({ host: "127.0.0.1" })
  yield* Effect.forkScoped(listener.run((transport) =>
    Effect.gen(function*() {
      const conn = yield* TlsConnection.accept(transport, serverCtx)
      yield* conn.read // the request
      yield* conn.write(encoder.encode("HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\nhi\n"))
    }) // the connection's scope closes here: close_notify
  ))

  // A client trusting the CA. The chain and the host name are verified; a failure is a
  // VerifyError with the X509 code.
  const ctx = yield* SslContext.make({
    role: "client",
    trust: { certificates: ca.certificate },
    alpnProtocols: ["h2", "http/1.1"]
  })
  const get = (session: SslSession.SslSession | undefined) =>
    Effect.gen(function*() {
      const transport = yield* NodeTransport.connectTcp({ host: "127.0.0.1", port: listener.address.port })
      const conn = yield* TlsConnection.connect(transport, ctx, { hostName: "localhost", session })
      yield* conn.write(encoder.encode("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"))
      const reply = yield* conn.read // Option<Uint8Array>; None after close_notify
      const info = yield* conn.info // protocol, cipher, ALPN, peer chain (subject, SAN, SHA-256)
      const status = Option.match(reply, {
        onNone: () => "(closed)",
        onSome: (b) => decoder.decode(b).split("\r\n")[0]
      })
      yield* Console.log(
        `${status} over ${info.protocol} ${info.cipher}, ALPN ${info.alpnProtocol}, from ${
          info.peerChain[0]?.subject
        }` +
          `, resumed: ${info.sessionReused}`
      )
      // TLS 1.3 tickets arrive after the handshake: keep one to resume on a fresh connection.
      return yield* conn.awaitSession("1 second")
    })

  const session = yield* get(undefined)
  yield* get(Option.getOrUndefined(session))
})

Effect.runPromise(program.pipe(Effect.scoped, Effect.provide(NodeOpenSsl.layer)))
