import * as SslContext from "@effect-openssl/core/SslContext"
import { assert, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as http from "node:http"
import * as https from "node:https"
import * as net from "node:net"
import type * as tls from "node:tls"
import * as TestPki from "../../test/src/TestPki.js"
import * as NodeOpenSsl from "../src/NodeOpenSsl.js"
import * as NodeTlsDuplex from "../src/NodeTlsDuplex.js"

/** What a `node:http` handler reads from the connection under `req.socket`. */
const describeConnection: http.RequestListener = (req, res) => {
  const seen = Option.match(NodeTlsDuplex.connectionOf(req.socket), {
    onNone: () => ({ over: "something else" }),
    onSome: (conn) => {
      const info = Effect.runSync(conn.info)
      return {
        protocol: info.protocol,
        alpn: info.alpnProtocol ?? null,
        serverName: info.serverName ?? null,
        client: info.peerChain[0]?.subject ?? null
      }
    }
  })
  res.setHeader("content-type", "application/json")
  res.end(JSON.stringify(seen))
}

/** One GET with node:https, presenting `client`'s certificate. */
const get = (port: number, pki: TestPki.Pki) =>
  Effect.async<unknown, Error>((resume) => {
    // https.get hands its options to tls.connect, ALPN included.
    const options: https.RequestOptions & tls.ConnectionOptions = {
      host: "127.0.0.1",
      port,
      servername: "localhost",
      ca: pki.trust,
      cert: pki.client.chain,
      key: Redacted.value(pki.client.key),
      ALPNProtocols: ["http/1.1"],
      agent: false
    }
    const req = https.get(options, (res) => {
      let body = ""
      res.setEncoding("utf8")
      res.on("data", (chunk: string) => (body += chunk))
      res.on("end", () => resume(Effect.try(() => JSON.parse(body) as unknown)))
    })
    req.on("error", (error) => resume(Effect.fail(error)))
    return Effect.sync(() => req.destroy())
  })

layer(NodeOpenSsl.layer)("NodeTlsDuplex.connectionOf", (it) => {
  it.scoped("a node:http handler reads the connection under req.socket: protocol, ALPN, SNI, client certificate", () =>
    Effect.gen(function*() {
      const pki = yield* TestPki.make()
      const context = yield* SslContext.make({
        role: "server",
        certificate: pki.server,
        trust: { certificates: pki.trust },
        verify: { mode: "require" },
        alpnProtocols: ["http/1.1"]
      })
      const { port } = yield* NodeTlsDuplex.listen(http.createServer(describeConnection), context, {
        host: "127.0.0.1"
      })
      assert.deepStrictEqual(yield* get(port, pki), {
        protocol: "TLSv1.3",
        alpn: "http/1.1",
        serverName: "localhost",
        client: "CN=client"
      })
    }))

  it("None for streams this library did not make", () => {
    assert.isTrue(Option.isNone(NodeTlsDuplex.connectionOf(new net.Socket())))
    assert.isTrue(Option.isNone(NodeTlsDuplex.connectionOf(undefined)))
  })
})
