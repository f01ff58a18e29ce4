import * as ClientContext from "@effect-openssl/core/ClientContext"
import type * as Credentials from "@effect-openssl/core/Credentials"
import * as Diagnostics from "@effect-openssl/core/Diagnostics"
import type { OpenSsl } from "@effect-openssl/core/OpenSsl"
import * as SslContext from "@effect-openssl/core/SslContext"
import * as TlsConnection from "@effect-openssl/core/TlsConnection"
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { assert, layer } from "@effect/vitest"
import * as Config from "effect/Config"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as http from "node:http"
import * as http2 from "node:http2"
import * as https from "node:https"
import * as net from "node:net"
import type * as tls from "node:tls"
import * as LeakCheck from "../../test/src/LeakCheck.js"
import * as TestPki from "../../test/src/TestPki.js"
import { withAlpn } from "../src/internal/alpnContext.js"
import * as NodeOpenSsl from "../src/NodeOpenSsl.js"
import * as NodeTlsDuplex from "../src/NodeTlsDuplex.js"
import * as NodeTlsHttpClient from "../src/NodeTlsHttpClient.js"
import * as NodeTransport from "../src/NodeTransport.js"
import { answerDigest, fixture, sha256 } from "./util.js"

/** What a test server saw: one entry per TLS connection, in order, and how many closed. */
interface Seen {
  readonly connections: Array<{ readonly sessionReused: boolean; readonly protocol: string; readonly alpn: string }>
  closed: number
}

/** `n` bytes that differ from chunk to chunk, so reordering or loss shows. */
const payload = (n: number) => new Uint8Array(n).map((_, i) => (i * 7 + (i >> 12)) % 256)

/**
 * The test application:
 * - `GET /`: a greeting; `POST /echo`: the body back; `POST /digest`: the body's length and SHA-256;
 * - `GET /slow`: a greeting after 100 ms;
 * - `GET /hang`: never answers;
 * - `GET /cut`: promises 1000 bytes, sends 10, then destroys the connection.
 */
const app: http.RequestListener = (req, res) => {
  if (req.url === "/echo") {
    req.pipe(res)
  } else if (req.url === "/digest") {
    answerDigest(req, res)
  } else if (req.url === "/slow") {
    setTimeout(() => res.end("slow hello\n"), 100)
  } else if (req.url === "/hang") {
    req.resume()
  } else if (req.url === "/cut") {
    res.writeHead(200, { "content-length": 1000 })
    res.write("0123456789", () => setTimeout(() => req.socket.destroy(), 50))
  } else {
    res.end("hello over effect-openssl\n")
  }
}

const closing = (server: { close(cb: () => void): unknown; closeAllConnections?(): void }) =>
  Effect.async<void>((resume) => {
    server.closeAllConnections?.()
    server.close(() => resume(Effect.void))
  })

const listening = (server: net.Server) =>
  Effect.acquireRelease(
    Effect.async<number>((resume) =>
      void server.listen(0, "127.0.0.1", () => resume(Effect.succeed((server.address() as net.AddressInfo).port)))
    ),
    () => closing(server as http.Server)
  )

/** A node:https server on loopback (the fixture certificate unless told): its port and what it saw. */
const nodeHttpsServer = (options: https.ServerOptions = {}) =>
  Effect.gen(function*() {
    const seen: Seen = { connections: [], closed: 0 }
    const server = https.createServer({ cert: fixture("server.pem"), key: fixture("server.key"), ...options }, app)
    server.on("secureConnection", (socket: tls.TLSSocket) => {
      seen.connections.push({
        sessionReused: socket.isSessionReused(),
        protocol: socket.getProtocol() ?? "",
        alpn: socket.alpnProtocol || ""
      })
      socket.on("close", () => seen.closed++)
    })
    return { port: yield* listening(server), seen }
  })

/** node:http served over our TLS (`TlsConnection.accept`, then `NodeTlsDuplex`): its port and what it saw. */
const ourHttpsServer = Effect.gen(function*() {
  const seen: Seen = { connections: [], closed: 0 }
  const context = yield* SslContext.make({
    role: "server",
    certificate: { chain: fixture("server.pem"), key: Redacted.make(fixture("server.key")) },
    alpnProtocols: ["http/1.1"]
  })
  const server = http.createServer(app)
  yield* Effect.addFinalizer(() => closing(server))
  const listener = yield* NodeTransport.listen({ host: "127.0.0.1" })
  yield* Effect.forkScoped(listener.run((transport) =>
    Effect.gen(function*() {
      const connection = yield* TlsConnection.accept(transport, context)
      const info = yield* connection.info
      seen.connections.push({
        sessionReused: info.sessionReused,
        protocol: info.protocol,
        alpn: info.alpnProtocol ?? ""
      })
      const duplex = yield* NodeTlsDuplex.make(connection)
      server.emit("connection", duplex)
      yield* NodeTlsDuplex.awaitClose(duplex)
      seen.closed++
    })
  ))
  return { port: listener.address.port, seen }
})

const caTrust: Credentials.Trust = { certificates: fixture("ca.pem") }

/** The app's client: `NodeTlsHttpClient.layer` on a `ClientContext`. */
const clientLayer = (options: NodeTlsHttpClient.Options = {}, context: ClientContext.Options = { trust: caTrust }) =>
  NodeTlsHttpClient.layer(options).pipe(
    Layer.provide(ClientContext.layer(context)),
    Layer.provide(NodeContext.layer)
  )

/** Run `f` with a client built for it, released after. */
const withClient = <A, E>(
  f: (client: HttpClient.HttpClient) => Effect.Effect<A, E, Scope.Scope | OpenSsl>,
  options?: NodeTlsHttpClient.Options,
  context?: ClientContext.Options
) =>
  Effect.flatMap(HttpClient.HttpClient, (client) => Effect.scoped(f(client))).pipe(
    Effect.provide(clientLayer(options, context))
  )

const getText = (client: HttpClient.HttpClient, url: string) =>
  Effect.flatMap(client.get(url), (response) => response.text)

const post = (client: HttpClient.HttpClient, url: string, body: Uint8Array) =>
  client.execute(HttpClientRequest.post(url).pipe(HttpClientRequest.bodyUint8Array(body))).pipe(
    Effect.flatMap((response) => response.arrayBuffer),
    Effect.map((buffer) => new Uint8Array(buffer))
  )

/** A request that makes its connection close after the response, so the next one opens another. */
const getAndClose = (client: HttpClient.HttpClient, url: string) =>
  client.execute(HttpClientRequest.get(url).pipe(HttpClientRequest.setHeader("connection", "close"))).pipe(
    Effect.flatMap((response) => response.text)
  )

/** The failure of `effect`, which must be a `RequestError` whose cause has the `_tag`. */
const requestFailure = <E>(effect: Effect.Effect<unknown, E>, causeTag: string) =>
  Effect.map(Effect.flip(effect), (error) => {
    const e = error as HttpClientError.HttpClientError
    assert.strictEqual(e._tag, "RequestError", String(error))
    assert.strictEqual(e.reason, "Transport")
    const cause = e.cause as { readonly _tag?: string }
    assert.strictEqual(cause._tag, causeTag, String(cause))
    return cause
  })

/** Wait (polling, at most 5 seconds) until `condition` holds. */
const until = (condition: () => boolean, what: string) =>
  Effect.gen(function*() {
    while (!condition()) yield* Effect.sleep("10 millis")
  }).pipe(Effect.timeoutFail({ duration: "5 seconds", onTimeout: () => new Error(`timed out waiting for ${what}`) }))

/** Wait (polling, at most 5 seconds) until the library holds no `SSL` (every connection released). */
const noConnectionHeld = Effect.gen(function*() {
  while ((yield* Diagnostics.counts).SSL > 0) yield* Effect.sleep("10 millis")
}).pipe(Effect.timeoutFail({ duration: "5 seconds", onTimeout: () => new Error("an SSL is still held") }))

// Without free observation: its callback would also run for node:tls's own contexts, which are
// freed during garbage collection, where no JS may run. Real sockets need the live clock.
layer(NodeOpenSsl.layer, { excludeTestServices: true })("NodeTlsHttpClient", (it) => {
  it.effect("node:https: GET and POST with bodies (1 MiB each way), all on one kept-alive connection", () =>
    LeakCheck.check(Effect.gen(function*() {
      const { port, seen } = yield* nodeHttpsServer()
      const body = payload(1024 * 1024 + 3)
      yield* withClient((client) =>
        Effect.gen(function*() {
          assert.strictEqual(yield* getText(client, `https://localhost:${port}/`), "hello over effect-openssl\n")
          const echoed = yield* post(client, `https://localhost:${port}/echo`, body)
          assert.strictEqual(sha256(echoed), sha256(body))
          const digest = new TextDecoder().decode(yield* post(client, `https://localhost:${port}/digest`, body))
          assert.strictEqual(digest, `${body.length} ${sha256(body)}`)
          assert.strictEqual(yield* getText(client, `https://localhost:${port}/`), "hello over effect-openssl\n")
        })
      )
      assert.deepStrictEqual(seen.connections, [{ sessionReused: false, protocol: "TLSv1.3", alpn: "http/1.1" }])
    })))

  it.effect("our own server: GET, POST and a streamed (chunked) POST on one kept-alive connection", () =>
    LeakCheck.check(Effect.gen(function*() {
      const { port, seen } = yield* ourHttpsServer
      const body = payload(256 * 1024)
      yield* withClient((client) =>
        Effect.gen(function*() {
          for (let i = 0; i < 3; i++) {
            assert.strictEqual(yield* getText(client, `https://localhost:${port}/`), "hello over effect-openssl\n")
            assert.strictEqual(sha256(yield* post(client, `https://localhost:${port}/echo`, body)), sha256(body))
          }
          const chunks = [payload(1000), payload(70_000), payload(3)]
          const digest = yield* client.execute(
            HttpClientRequest.post(`https://localhost:${port}/digest`).pipe(
              HttpClientRequest.bodyStream(Stream.fromIterable(chunks))
            )
          ).pipe(Effect.flatMap((response) => response.text))
          const whole = Buffer.concat(chunks)
          assert.strictEqual(digest, `${whole.length} ${sha256(whole)}`)
        })
      )
      assert.deepStrictEqual(seen.connections, [{ sessionReused: false, protocol: "TLSv1.3", alpn: "http/1.1" }])
    })))

  // A TLS 1.3 ticket is used once. node:tls servers send no new ticket on a resumed connection,
  // so there every other connection does a full handshake (and gets new tickets); OpenSSL's own
  // default (our server) sends one each time.
  for (
    const [name, server, expected] of [
      ["node:https", nodeHttpsServer(), [false, true, false, true]],
      ["our own server", ourHttpsServer, [false, true, true, true]]
    ] as const
  ) {
    it.effect(`${name}: new connections resume with the previous connection's ticket, each ticket once`, () =>
      LeakCheck.check(Effect.gen(function*() {
        const { port, seen } = yield* server
        yield* withClient((client) =>
          Effect.gen(function*() {
            for (let i = 0; i < 4; i++) {
              assert.strictEqual(
                yield* getAndClose(client, `https://localhost:${port}/`),
                "hello over effect-openssl\n"
              )
              yield* until(() => seen.closed === i + 1, "the connection to close")
            }
          })
        )
        assert.deepStrictEqual(seen.connections.map((c) => c.sessionReused), [...expected])
      })))
  }

  it.effect("TLS 1.2: a resumed session goes back to the cache and resumes again", () =>
    LeakCheck.check(Effect.gen(function*() {
      const { port, seen } = yield* nodeHttpsServer({ maxVersion: "TLSv1.2" })
      yield* withClient((client) =>
        Effect.gen(function*() {
          for (let i = 0; i < 3; i++) {
            yield* getAndClose(client, `https://localhost:${port}/`)
            yield* until(() => seen.closed === i + 1, "the connection to close")
          }
        })
      )
      assert.deepStrictEqual(seen.connections.map((c) => [c.protocol, c.sessionReused]), [
        ["TLSv1.2", false],
        ["TLSv1.2", true],
        ["TLSv1.2", true]
      ])
    })))

  it.effect("sessionCache: false: every connection does a full handshake", () =>
    LeakCheck.check(Effect.gen(function*() {
      const { port, seen } = yield* nodeHttpsServer()
      yield* withClient((client) =>
        Effect.gen(function*() {
          for (let i = 0; i < 2; i++) {
            yield* getAndClose(client, `https://localhost:${port}/`)
            yield* until(() => seen.closed === i + 1, "the connection to close")
          }
        }), { sessionCache: false })
      assert.deepStrictEqual(seen.connections.map((c) => c.sessionReused), [false, false])
    })))

  it.effect("the session cache is bounded: hosts and sessions per host beyond the bounds are released", () =>
    LeakCheck.check(Effect.gen(function*() {
      const a = yield* ourHttpsServer
      const b = yield* ourHttpsServer
      yield* withClient((client) =>
        Effect.gen(function*() {
          const visit = (server: { readonly port: number; readonly seen: Seen }) =>
            Effect.zipRight(
              getAndClose(client, `https://localhost:${server.port}/`),
              until(() => server.seen.closed === server.seen.connections.length, "the connection to close")
            )
          yield* visit(a)
          yield* visit(b) // a's session falls out: one host at a time
          yield* noConnectionHeld
          assert.strictEqual((yield* Diagnostics.counts).SSL_SESSION, 1)
          yield* visit(a)
          yield* visit(a)
        }), { sessionCache: { hosts: 1, perHost: 1 } })
      assert.deepStrictEqual(a.seen.connections.map((c) => c.sessionReused), [false, false, true])
    })))

  it.effect("concurrent requests share at most maxConnectionsPerHost connections; maxIdlePerHost stay open after", () =>
    LeakCheck.check(Effect.gen(function*() {
      const { port, seen } = yield* nodeHttpsServer()
      yield* withClient(
        (client) =>
          Effect.gen(function*() {
            const replies = yield* Effect.all(
              Array.from({ length: 12 }, () => getText(client, `https://localhost:${port}/slow`)),
              { concurrency: "unbounded" }
            )
            assert.deepStrictEqual(replies, Array.from({ length: 12 }, () => "slow hello\n"))
            assert.strictEqual(seen.connections.length, 3)
            // One idle connection is kept; the other two are closed as they become idle.
            yield* until(() => seen.closed === 2, "two connections to close")
            assert.strictEqual(yield* getText(client, `https://localhost:${port}/`), "hello over effect-openssl\n")
            assert.strictEqual(seen.connections.length, 3)
          }),
        { maxConnectionsPerHost: 3, maxIdlePerHost: 1 }
      )
    })))

  it.effect("the certificate must match the URL's host: a mismatch is a VerifyError (X509 code 62)", () =>
    LeakCheck.check(Effect.gen(function*() {
      const pki = yield* TestPki.make()
      const wrong = yield* TestPki.server(pki.intermediate, { hostNames: [TestPki.wrongHostName] })
      const { port, seen } = yield* nodeHttpsServer({ cert: wrong.chain, key: Redacted.value(wrong.key) })
      const error = yield* withClient(
        (client) =>
          Effect.gen(function*() {
            const error = yield* requestFailure(getText(client, `https://localhost:${port}/`), "VerifyError")
            // Released with the failed attempt, not with the layer.
            yield* noConnectionHeld
            return error
          }),
        {},
        { trust: { certificates: pki.trust } }
      )
      assert.strictEqual((error as { readonly code?: number }).code, 62)
      // The handshake was refused: no request reached the application.
      assert.strictEqual(seen.connections.length, 0)
    })))

  it.effect("IP hosts are checked as addresses: 127.0.0.1 against a certificate for localhost only (X509 code 64)", () =>
    LeakCheck.check(Effect.gen(function*() {
      const pki = yield* TestPki.make()
      const named = yield* TestPki.server(pki.intermediate, { hostNames: ["localhost"] })
      const { port } = yield* nodeHttpsServer({ cert: named.chain, key: Redacted.value(named.key) })
      const trust = { trust: { certificates: pki.trust } }
      yield* withClient(
        (client) =>
          Effect.gen(function*() {
            assert.strictEqual(yield* getText(client, `https://localhost:${port}/`), "hello over effect-openssl\n")
            const error = yield* requestFailure(getText(client, `https://127.0.0.1:${port}/`), "VerifyError")
            assert.strictEqual((error as { readonly code?: number }).code, 64)
          }),
        {},
        trust
      )
      // The fixture certificate names IP:127.0.0.1.
      const fixtureServer = yield* nodeHttpsServer()
      yield* withClient((client) =>
        Effect.map(
          getText(client, `https://127.0.0.1:${fixtureServer.port}/`),
          (text) => assert.strictEqual(text, "hello over effect-openssl\n")
        )
      )
    })))

  it.effect("hosts: names connect to the address given, one pool each, with their own SNI; others are looked up", () =>
    LeakCheck.check(Effect.gen(function*() {
      const pki = yield* TestPki.make()
      const named = yield* TestPki.server(pki.intermediate, { hostNames: ["api.example.test", "admin.example.test"] })
      const serverNames: Array<unknown> = []
      const server = https.createServer({ cert: named.chain, key: Redacted.value(named.key) }, app)
      server.on("secureConnection", (socket: tls.TLSSocket) => serverNames.push(socket.servername))
      const port = yield* listening(server)
      const fixtureServer = yield* nodeHttpsServer()
      yield* withClient(
        (client) =>
          Effect.gen(function*() {
            for (const url of ["https://api.example.test", "https://admin.example.test", "https://api.example.test"]) {
              assert.strictEqual(yield* getText(client, `${url}:${port}/`), "hello over effect-openssl\n")
            }
            // localhost is not listed: looked up as usual.
            assert.strictEqual(
              yield* getText(client, `https://localhost:${fixtureServer.port}/`),
              "hello over effect-openssl\n"
            )
          }),
        { hosts: { "api.example.test": "127.0.0.1", "ADMIN.Example.Test": "127.0.0.1" } },
        { trust: { certificates: [pki.trust, fixture("ca.pem")] } }
      )
      assert.deepStrictEqual(serverNames, ["api.example.test", "admin.example.test"])
      assert.strictEqual(fixtureServer.seen.connections.length, 1)
    })))

  it.effect("hosts: the certificate is checked against the name, not the address (X509 code 62)", () =>
    LeakCheck.check(Effect.gen(function*() {
      // The fixture certificate names localhost and IP:127.0.0.1, not api.example.test.
      const { port, seen } = yield* nodeHttpsServer()
      const error = yield* withClient(
        (client) => requestFailure(getText(client, `https://api.example.test:${port}/`), "VerifyError"),
        { hosts: { "api.example.test": "127.0.0.1" } }
      )
      assert.strictEqual((error as { readonly code?: number }).code, 62)
      assert.strictEqual(seen.connections.length, 0)
    })))

  it.effect("a chain from a CA the client does not trust is a VerifyError (X509 code 20)", () =>
    LeakCheck.check(Effect.gen(function*() {
      const other = yield* TestPki.rootCa()
      const { port } = yield* nodeHttpsServer()
      const error = yield* withClient(
        (client) => requestFailure(getText(client, `https://localhost:${port}/`), "VerifyError"),
        {},
        { trust: { certificates: other.certificate } }
      )
      assert.strictEqual((error as { readonly code?: number }).code, 20)
    })))

  it.effect("ALPN offers http/1.1 alone, even when the ClientContext offers h2 first", () =>
    LeakCheck.check(Effect.gen(function*() {
      const { port, seen } = yield* nodeHttpsServer({ ALPNProtocols: ["h2", "http/1.1"] })
      yield* withClient((client) => getText(client, `https://localhost:${port}/`), {}, {
        trust: caTrust,
        alpnProtocols: ["h2", "http/1.1"]
      })
      assert.strictEqual(seen.connections[0]?.alpn, "http/1.1")
    })))

  it.effect("a server that only speaks h2 refuses the handshake: a TlsError (no_application_protocol)", () =>
    LeakCheck.check(Effect.gen(function*() {
      const server = http2.createSecureServer({ cert: fixture("server.pem"), key: fixture("server.key") })
      const port = yield* listening(server as unknown as net.Server)
      const error = yield* withClient((client) =>
        requestFailure(getText(client, `https://localhost:${port}/`), "TlsError")
      )
      assert.strictEqual((error as { readonly reason?: string }).reason, "Protocol")
      assert.match(String(error), /no application protocol/)
    })))

  it.effect("a server that closes mid-response fails the body with a ResponseError; the next request gets a new connection", () =>
    LeakCheck.check(Effect.gen(function*() {
      const { port, seen } = yield* nodeHttpsServer()
      yield* withClient((client) =>
        Effect.gen(function*() {
          const response = yield* client.get(`https://localhost:${port}/cut`)
          assert.strictEqual(response.status, 200)
          const error = yield* Effect.flip(response.text)
          assert.strictEqual(error._tag, "ResponseError")
          assert.strictEqual(error.reason, "Decode")
          assert.strictEqual(yield* getText(client, `https://localhost:${port}/`), "hello over effect-openssl\n")
        })
      )
      assert.strictEqual(seen.connections.length, 2)
    })))

  it.effect("connectTimeout bounds a server that never answers the ClientHello: a TlsError Timeout", () =>
    LeakCheck.check(Effect.gen(function*() {
      const sockets: Array<net.Socket> = []
      const silent = net.createServer((socket) => void sockets.push(socket))
      const port = yield* listening(silent)
      yield* Effect.addFinalizer(() => Effect.sync(() => sockets.forEach((s) => s.destroy())))
      const started = Date.now()
      const error = yield* withClient(
        (client) => requestFailure(getText(client, `https://localhost:${port}/`), "TlsError"),
        { connectTimeout: "300 millis" }
      )
      const elapsed = Date.now() - started
      assert.strictEqual((error as { readonly reason?: string }).reason, "Timeout")
      assert.isAtLeast(elapsed, 290)
      assert.isBelow(elapsed, 5000)
    })))

  it.effect("a request aborted during the handshake cancels the attempt and releases it at once", () =>
    LeakCheck.check(Effect.gen(function*() {
      const sockets: Array<net.Socket> = []
      let closed = 0
      // Reads the ClientHello (and whatever follows), never answers.
      const silent = net.createServer((socket) => {
        sockets.push(socket)
        socket.resume()
        socket.on("close", () => closed++)
      })
      const port = yield* listening(silent)
      yield* Effect.addFinalizer(() => Effect.sync(() => sockets.forEach((s) => s.destroy())))
      yield* withClient((client) =>
        Effect.gen(function*() {
          const timedOut = yield* Effect.flip(
            getText(client, `https://localhost:${port}/`).pipe(
              Effect.timeout("200 millis")
            )
          )
          assert.strictEqual(timedOut._tag, "TimeoutException")
          // Long before connectTimeout: the attempt was interrupted with the request.
          yield* noConnectionHeld
          yield* until(() => closed === 1, "the server to see the connection close")
        }), { connectTimeout: "30 seconds" })
    })))

  it.effect("a request bounded by Effect.timeout is aborted and its connection closed; the next one works", () =>
    LeakCheck.check(Effect.gen(function*() {
      const { port, seen } = yield* nodeHttpsServer()
      yield* withClient((client) =>
        Effect.gen(function*() {
          const timedOut = yield* Effect.flip(
            getText(client, `https://localhost:${port}/hang`).pipe(
              Effect.timeout("300 millis")
            )
          )
          assert.strictEqual(timedOut._tag, "TimeoutException")
          yield* until(() => seen.closed === 1, "the aborted connection to close")
          assert.strictEqual(yield* getText(client, `https://localhost:${port}/`), "hello over effect-openssl\n")
        })
      )
      assert.strictEqual(seen.connections.length, 2)
      // The aborted connection had received its ticket: the next one resumed.
      assert.deepStrictEqual(seen.connections.map((c) => c.sessionReused), [false, true])
    })))

  it.effect("idleTimeout closes an idle connection; the next request opens another, resumed", () =>
    LeakCheck.check(Effect.gen(function*() {
      const { port, seen } = yield* nodeHttpsServer()
      yield* withClient((client) =>
        Effect.gen(function*() {
          yield* getText(client, `https://localhost:${port}/`)
          const idleSince = Date.now()
          yield* until(() => seen.closed === 1, "the idle connection to close")
          assert.isAtLeast(Date.now() - idleSince, 150)
          yield* noConnectionHeld
          yield* getText(client, `https://localhost:${port}/`)
        }), { idleTimeout: "200 millis" })
      assert.deepStrictEqual(seen.connections.map((c) => c.sessionReused), [false, true])
    })))

  it.effect("closing the layer closes every connection and releases everything, busy ones included", () =>
    LeakCheck.check(Effect.gen(function*() {
      const { port, seen } = yield* nodeHttpsServer()
      yield* withClient((client) =>
        Effect.gen(function*() {
          yield* Effect.forkScoped(getText(client, `https://localhost:${port}/hang`))
          yield* until(() => seen.connections.length === 1, "the first connection")
          // The first connection is busy: this one gets another, idle after its response.
          yield* getText(client, `https://localhost:${port}/`)
          assert.strictEqual(seen.connections.length, 2)
        })
      )
      yield* until(() => seen.closed === 2, "both connections to close")
    })))

  it.effect("http: URLs go over plain node:http, kept alive", () =>
    LeakCheck.check(Effect.gen(function*() {
      let connections = 0
      const server = http.createServer(app).on("connection", () => connections++)
      const port = yield* listening(server)
      yield* withClient((client) =>
        Effect.gen(function*() {
          assert.strictEqual(yield* getText(client, `http://127.0.0.1:${port}/`), "hello over effect-openssl\n")
          assert.strictEqual(yield* getText(client, `http://127.0.0.1:${port}/`), "hello over effect-openssl\n")
        })
      )
      assert.strictEqual(connections, 1)
    })))

  it.effect("bad options fail the layer with InvalidOptionError naming them", () =>
    Effect.gen(function*() {
      const cases: Array<[NodeTlsHttpClient.Options, string]> = [
        [{ maxConnectionsPerHost: 0 }, "maxConnectionsPerHost"],
        [{ maxIdlePerHost: 1.5 }, "maxIdlePerHost"],
        [{ idleTimeout: "forever" as Duration.DurationInput }, "idleTimeout"],
        [{ connectTimeout: Duration.infinity }, "connectTimeout"],
        [{ sessionCache: { perHost: -1 } }, "sessionCache.perHost"],
        [{ hosts: "127.0.0.1" as unknown as Record<string, string> }, "hosts"],
        [{ hosts: { "api.example.test": "localhost" } }, `hosts["api.example.test"]`],
        [{ hosts: { "api.example.test": "[::1]" } }, `hosts["api.example.test"]`],
        [{ hosts: { "127.0.0.1": "127.0.0.1" } }, `hosts["127.0.0.1"]`],
        [{ hosts: { "api.example.test:8443": "127.0.0.1" } }, `hosts["api.example.test:8443"]`]
      ]
      for (const [options, option] of cases) {
        const error = yield* Effect.flip(withClient(() => Effect.void, options))
        assert.strictEqual(error._tag, "InvalidOptionError")
        assert.strictEqual((error as { readonly option?: string }).option, option)
      }
    }))

  it.effect("layerConfig reads the options from Config", () =>
    LeakCheck.check(Effect.gen(function*() {
      const { port, seen } = yield* nodeHttpsServer()
      const configured = NodeTlsHttpClient.layerConfig({
        maxConnectionsPerHost: Config.integer("HTTP_MAX_CONNECTIONS"),
        idleTimeout: Config.duration("HTTP_IDLE_TIMEOUT")
      }).pipe(Layer.provide(ClientContext.layer({ trust: caTrust })), Layer.provide(NodeContext.layer))
      const replies = yield* Effect.flatMap(HttpClient.HttpClient, (client) =>
        Effect.all(
          Array.from({ length: 4 }, () => getText(client, `https://localhost:${port}/slow`)),
          {
            concurrency: "unbounded"
          }
        )).pipe(
          Effect.provide(configured),
          Effect.withConfigProvider(
            ConfigProvider.fromMap(new Map([["HTTP_MAX_CONNECTIONS", "1"], ["HTTP_IDLE_TIMEOUT", "1 second"]]))
          )
        )
      assert.strictEqual(replies.length, 4)
      assert.strictEqual(seen.connections.length, 1)
    })))

  it.effect("the http/1.1 context is the ClientContext's configuration with ALPN replaced (or the context itself)", () =>
    LeakCheck.check(Effect.gen(function*() {
      const configured: ReadonlyArray<SslContext.Options> = [
        {
          role: "client",
          minProtocol: "TLSv1.2",
          maxProtocol: "TLSv1.3",
          options: ["NO_COMPRESSION", "PRIORITIZE_CHACHA"],
          verify: { mode: "peer", depth: 4 },
          sessionTimeout: "90 seconds",
          trust: { certificates: [fixture("ca.pem"), fixture("server.pem")], systemDefaults: true },
          certificate: {
            chain: fixture("server.pem"),
            key: Redacted.make(fixture("server-encrypted.key")),
            passphrase: Redacted.make("hunter2")
          },
          ciphers: "ECDHE+AESGCM",
          ciphersuites: "TLS_AES_256_GCM_SHA384",
          groups: ["X25519", "P-256"],
          alpnProtocols: ["h2", "http/1.1"],
          keylog: true
        },
        { role: "client" },
        { role: "client", verify: { mode: "none" }, allowRenegotiation: true, sessionCacheMode: "off" }
      ]
      for (const options of configured) {
        const context = yield* SslContext.make(options)
        const derived = yield* withAlpn(context, ["http/1.1"])
        assert.notStrictEqual(derived, context)
        assert.deepStrictEqual(derived.config, { ...context.config, alpnProtocols: ["http/1.1"] })
        assert.strictEqual(yield* withAlpn(derived, ["http/1.1"]), derived)
      }
    })))
})
