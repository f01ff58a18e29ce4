import * as Diagnostics from "@effect-openssl/core/Diagnostics"
import * as SslContext from "@effect-openssl/core/SslContext"
import * as TlsConnection from "@effect-openssl/core/TlsConnection"
import * as Transport from "@effect-openssl/core/Transport"
import { assert, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"

import * as http from "node:http"
import * as https from "node:https"
import * as net from "node:net"
import { type Duplex, Readable } from "node:stream"
import * as tls from "node:tls"
import { fileURLToPath } from "node:url"
import * as NodeOpenSsl from "../src/NodeOpenSsl.js"
import * as NodeTlsDuplex from "../src/NodeTlsDuplex.js"
import * as NodeTransport from "../src/NodeTransport.js"
import { curlRequest } from "./peers.js"
import { answerDigest, clientOptions, fixture, recordFrees, serverOptions, sha256, TestOpenSsl } from "./util.js"

const caFile = fileURLToPath(new URL("./fixtures/ca.pem", import.meta.url))
const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes)
const bytes = (s: string) => new TextEncoder().encode(s)

/** `n` bytes that differ from chunk to chunk, so reordering or loss shows. */
const payload = (n: number) => new Uint8Array(n).map((_, i) => (i * 7 + (i >> 12)) % 256)
const MiB = 1024 * 1024

/**
 * The test application:
 * - `GET /`: a greeting;
 * - `GET /big?size=n`: `n` bytes of `payload`, streamed (the response waits for the socket);
 * - `POST /echo`: the body back, as it arrives;
 * - `POST /digest`: after 200 ms of not reading (the socket is paused meanwhile), the body's length and SHA-256.
 */
const app: http.RequestListener = (req, res) => {
  const url = new URL(req.url ?? "/", "https://localhost")
  if (url.pathname === "/big") {
    const body = payload(Number(url.searchParams.get("size")))
    res.writeHead(200, { "content-length": body.length })
    Readable.from(
      (function*() {
        for (let i = 0; i < body.length; i += 64 * 1024) yield body.subarray(i, i + 64 * 1024)
      })()
    ).pipe(res)
  } else if (url.pathname === "/echo") {
    req.pipe(res)
  } else if (url.pathname === "/digest") {
    setTimeout(() => answerDigest(req, res), 200)
  } else {
    res.end("hello over effect-openssl\n")
  }
}

/** An HTTP server on TLS connections accepted here (`NodeTlsDuplex.listen`): its loopback port. */
const httpServerOverOurTls = (configure: (server: http.Server) => void = () => {}) =>
  Effect.gen(function*() {
    const context = yield* SslContext.make(serverOptions)
    const httpServer = http.createServer(app)
    configure(httpServer)
    return (yield* NodeTlsDuplex.listen(httpServer, context, { host: "127.0.0.1" })).port
  })

/** Run curl against `https://localhost:<port><path>` (resolved to 127.0.0.1), with our CA. */
const curl = (port: number, path: string, input?: Uint8Array) =>
  Effect.map(curlRequest(port, path, { cacert: caFile, input }), (result) => result.body)

interface Response {
  readonly status: number
  readonly body: Buffer
}

/** One request through `send`, with `body`; the whole response. */
const request = (send: (onResponse: (res: http.IncomingMessage) => void) => http.ClientRequest, body?: Uint8Array) =>
  Effect.async<Response, Error>((resume) => {
    const req = send((res) => {
      const chunks: Array<Buffer> = []
      res.on("data", (chunk: Buffer) => chunks.push(chunk))
      res.on("error", (error) => resume(Effect.fail(error)))
      res.on("end", () => resume(Effect.succeed({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) })))
    })
    req.on("error", (error) => resume(Effect.fail(error)))
    req.end(body)
    return Effect.sync(() => req.destroy())
  }).pipe(Effect.timeout("15 seconds"))

/** A client and a server connected over memory, both handshakes run concurrently. */
const memoryPair = Effect.gen(function*() {
  const [a, b] = yield* Transport.memoryPair
  const server = yield* SslContext.make(serverOptions)
  const client = yield* SslContext.make(clientOptions)
  const [c, s] = yield* Effect.all([
    TlsConnection.connect(a, client, { hostName: "localhost" }),
    TlsConnection.accept(b, server)
  ], { concurrency: 2 })
  return { client: c, server: s, serverTransport: b }
})

/** Everything the peer reads until its close_notify. */
const readAll = (conn: TlsConnection.TlsConnection) =>
  Effect.gen(function*() {
    const chunks: Array<Uint8Array> = []
    for (;;) {
      const chunk = yield* conn.read
      if (Option.isNone(chunk)) return Buffer.concat(chunks)
      chunks.push(chunk.value)
    }
  }).pipe(Effect.timeout("5 seconds"))

/** Resolves with the stream's event (bounded). */
const once = <A>(stream: NodeJS.EventEmitter, event: string) =>
  Effect.async<A>((resume) => void stream.once(event, (value: A) => resume(Effect.succeed(value)))).pipe(
    Effect.timeout("5 seconds")
  )

// Without free observation: its callback would also run for node:tls's own contexts, which are
// freed during garbage collection, where no JS may run. Real sockets need the live clock.
layer(NodeOpenSsl.layer, { excludeTestServices: true })("NodeTlsDuplex", (it) => {
  it.scoped("node:http over our TLS answers curl, with 4 MiB each way", () =>
    Effect.gen(function*() {
      const port = yield* httpServerOverOurTls()
      assert.strictEqual(text(yield* curl(port, "/")), "hello over effect-openssl\n")
      const download = yield* curl(port, `/big?size=${4 * MiB}`)
      assert.strictEqual(download.length, 4 * MiB)
      assert.strictEqual(sha256(download), sha256(payload(4 * MiB)))
      const upload = payload(3 * MiB + 5)
      assert.strictEqual(text(yield* curl(port, "/digest", upload)), `${upload.length} ${sha256(upload)}`)
    }))

  it.scoped("node:http over our TLS answers a node:https client: 4 MiB echoed, slow reader, download", () =>
    Effect.gen(function*() {
      const port = yield* httpServerOverOurTls()
      const options = { host: "127.0.0.1", port, servername: "localhost", ca: fixture("ca.pem"), agent: false }
      const body = payload(4 * MiB)
      const echoed = yield* request(
        (onResponse) => https.request({ ...options, method: "POST", path: "/echo" }, onResponse),
        body
      )
      assert.strictEqual(echoed.status, 200)
      assert.strictEqual(sha256(echoed.body), sha256(body))
      const digest = yield* request(
        (onResponse) => https.request({ ...options, method: "POST", path: "/digest" }, onResponse),
        body
      )
      assert.strictEqual(text(digest.body), `${body.length} ${sha256(body)}`)
      const download = yield* request((onResponse) =>
        https.get({ ...options, path: `/big?size=${4 * MiB}` }, onResponse)
      )
      assert.strictEqual(sha256(download.body), sha256(payload(4 * MiB)))
    }))

  it.scoped("listen: a connection that fails its handshake is reported; the others are served", () =>
    Effect.gen(function*() {
      const context = yield* SslContext.make(serverOptions)
      const failures: Array<TlsConnection.TlsConnectionError> = []
      const { port } = yield* NodeTlsDuplex.listen(http.createServer(app), context, {
        host: "127.0.0.1",
        onConnectionError: (error) => Effect.sync(() => failures.push(error))
      })
      // Not TLS at all.
      const garbage = net.connect({ host: "127.0.0.1", port })
      garbage.end("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
      yield* Effect.async<void>((resume) => void garbage.on("close", () => resume(Effect.void)))
      assert.strictEqual(text(yield* curl(port, "/")), "hello over effect-openssl\n")
      assert.strictEqual(failures.length, 1)
      assert.strictEqual(failures[0]!._tag, "TlsError")
    }))

  it.scoped("listen: a port already in use is a TransportError", () =>
    Effect.gen(function*() {
      const context = yield* SslContext.make(serverOptions)
      const first = yield* NodeTlsDuplex.listen(http.createServer(app), context, { host: "127.0.0.1" })
      const error = yield* Effect.flip(
        NodeTlsDuplex.listen(http.createServer(app), context, { host: "127.0.0.1", port: first.port })
      )
      assert.strictEqual(error._tag, "TransportError")
      assert.strictEqual((error.cause as NodeJS.ErrnoException).code, "EADDRINUSE")
    }))

  it.scoped("the server's keep-alive timeout closes an idle connection (setTimeout on the Duplex)", () =>
    Effect.gen(function*() {
      const port = yield* httpServerOverOurTls((server) => {
        server.keepAliveTimeout = 100
      })
      // A raw client: an agent would close the socket itself on the server's `Keep-Alive: timeout=0` hint.
      const client = tls.connect({ host: "127.0.0.1", port, servername: "localhost", ca: fixture("ca.pem") })
      yield* Effect.addFinalizer(() => Effect.sync(() => client.destroy()))
      client.write("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
      const received = yield* Effect.async<string>((resume) => {
        let data = ""
        client.on("data", (chunk: Buffer) => (data += chunk.toString()))
        // The server ends the kept-alive connection after its idle timeout (plus Node's 1 s margin).
        client.on("end", () => resume(Effect.succeed(data)))
      }).pipe(Effect.timeout("5 seconds"))
      assert.match(received, /^HTTP\/1\.1 200 OK\r\n/)
      assert.match(received, /\r\nConnection: keep-alive\r\n/i)
      assert.isTrue(received.endsWith("hello over effect-openssl\n"))
    }))

  it.scoped("node:http as a client over our TLS to a node:https server: 4 MiB echoed", () =>
    Effect.gen(function*() {
      const server = https.createServer({ cert: fixture("server.pem"), key: fixture("server.key") }, app)
      yield* Effect.acquireRelease(
        Effect.async<void>((resume) => void server.listen(0, "127.0.0.1", () => resume(Effect.void))),
        () =>
          Effect.async<void>((resume) => {
            server.closeAllConnections()
            server.close(() => resume(Effect.void))
          })
      )
      const port = (server.address() as net.AddressInfo).port
      const context = yield* SslContext.make(clientOptions)
      const conn = yield* TlsConnection.connect(
        yield* NodeTransport.connectTcp({ host: "127.0.0.1", port }),
        context,
        { hostName: "localhost" }
      )
      const duplex = yield* NodeTlsDuplex.make(conn)
      const body = payload(4 * MiB + 3)
      const echoed = yield* request(
        (onResponse) =>
          http.request(
            { createConnection: () => duplex, method: "POST", path: "/echo", host: "localhost" },
            onResponse
          ),
        body
      )
      assert.strictEqual(echoed.status, 200)
      assert.strictEqual(echoed.body.length, body.length)
      assert.strictEqual(sha256(echoed.body), sha256(body))
      // No agent: the request said `Connection: close`, the server closed, and so did the Duplex.
      yield* NodeTlsDuplex.awaitClose(duplex).pipe(Effect.timeout("5 seconds"))
    }))

  it.scoped("push() returning false pauses reading from the connection", () =>
    Effect.gen(function*() {
      const { client, server } = yield* memoryPair
      const duplex = yield* NodeTlsDuplex.make(client, { readableHighWaterMark: 64 * 1024 })
      const sent = payload(2 * MiB)
      yield* server.write(sent)
      duplex.read(0)
      yield* Effect.sleep("100 millis")
      // Nobody consumes: the buffer holds at most the high-water mark plus the record that crossed it.
      assert.isAtMost(duplex.readableLength, 64 * 1024 + 16 * 1024)
      assert.isAtLeast(duplex.readableLength, 64 * 1024)
      yield* server.closeWrite
      const received = yield* Effect.promise(async () => {
        const chunks: Array<Buffer> = []
        for await (const chunk of duplex) chunks.push(chunk as Buffer)
        return Buffer.concat(chunks)
      }).pipe(Effect.timeout("5 seconds"))
      assert.strictEqual(sha256(received), sha256(sent))
    }))

  it.scoped("end() sends close_notify after the data; the peer's close_notify ends the readable side", () =>
    Effect.gen(function*() {
      const { client, server } = yield* memoryPair
      const duplex = yield* NodeTlsDuplex.make(client)
      duplex.write("first ")
      duplex.end("last")
      assert.strictEqual(text(yield* readAll(server)), "first last")
      duplex.resume()
      yield* server.write(bytes("reply"))
      const ended = once<void>(duplex, "end")
      yield* server.closeWrite
      yield* ended
      yield* NodeTlsDuplex.awaitClose(duplex).pipe(Effect.timeout("5 seconds"))
    }))

  it.scoped("without allowHalfOpen, the peer's close_notify is answered with ours", () =>
    Effect.gen(function*() {
      const { client, server } = yield* memoryPair
      const duplex = yield* NodeTlsDuplex.make(client)
      duplex.resume()
      // `close` waits for our close_notify, which the Duplex sends when its readable side ends.
      yield* server.close.pipe(Effect.timeout("5 seconds"))
      yield* NodeTlsDuplex.awaitClose(duplex).pipe(Effect.timeout("5 seconds"))
    }))

  it.scoped("a transport that ends without close_notify destroys the Duplex with the typed error", () =>
    Effect.gen(function*() {
      const { client, serverTransport } = yield* memoryPair
      const duplex = yield* NodeTlsDuplex.make(client)
      const error = once<Error & { _tag?: string; reason?: string }>(duplex, "error")
      duplex.resume()
      yield* serverTransport.end
      const failure = yield* error
      assert.strictEqual(failure._tag, "TlsError")
      assert.strictEqual(failure.reason, "UnexpectedEof")
      assert.isTrue(duplex.destroyed)
    }))

  it.scoped("destroy() interrupts a pending read and leaves the connection usable", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const { client, server } = yield* memoryPair
      const duplex = yield* Scope.extend(NodeTlsDuplex.make(client), scope)
      let errored = false
      duplex.on("error", () => (errored = true))
      duplex.resume()
      yield* Effect.sleep("20 millis")
      duplex.destroy()
      yield* NodeTlsDuplex.awaitClose(duplex).pipe(Effect.timeout("1 second"))
      assert.isFalse(errored)
      yield* Scope.close(scope, Exit.void)
      // The read was interrupted, not left running: what the peer sends now is still there to read.
      yield* server.write(bytes("after"))
      const chunk = yield* client.read.pipe(Effect.timeout("2 seconds"))
      assert.strictEqual(text(Option.getOrThrow(chunk)), "after")
    }))
})

/** A request over a new connection (no agent: the connection closes after the response). */
const requestOnce = (port: number, path = "/") =>
  request((onResponse) =>
    https.get(
      { host: "127.0.0.1", port, path, servername: "localhost", ca: fixture("ca.pem"), agent: false },
      onResponse
    )
  )

// `listen` serves connections from callbacks, with no scope per connection: every handle must
// still be freed (observed for real, on the system's OpenSSL) when its connection ends, and the
// listener's scope must close what is still open and wait for it.
layer(TestOpenSsl, { excludeTestServices: true })("NodeTlsDuplex.listen lifecycle", (it) => {
  it.scoped("each connection's SSL is freed when it ends; closing the scope closes the open ones and waits", () =>
    Effect.gen(function*() {
      const frees = yield* recordFrees
      const context = yield* SslContext.make(serverOptions)
      const listening = yield* Scope.make()
      const { port } = yield* Scope.extend(
        NodeTlsDuplex.listen(http.createServer(app), context, { host: "127.0.0.1" }),
        listening
      )
      for (let i = 0; i < 5; i++) {
        const response = yield* requestOnce(port)
        assert.strictEqual(response.body.toString(), "hello over effect-openssl\n")
      }
      // Each closed connection let go of its handle.
      yield* Effect.gen(function*() {
        while ((yield* Diagnostics.counts).SSL > 0) yield* Effect.sleep("10 millis")
      }).pipe(Effect.timeout("5 seconds"))
      assert.strictEqual(frees.filter((e) => e.kind === "SSL").length, 5)

      // Three connections kept open (established, idle), one still in its handshake.
      const idle = yield* Effect.forEach([1, 2, 3], () =>
        Effect.async<tls.TLSSocket>((resume) => {
          const socket = tls.connect({ host: "127.0.0.1", port, servername: "localhost", ca: fixture("ca.pem") })
          socket.once("secureConnect", () => resume(Effect.succeed(socket)))
        }))
      const stalled = net.connect({ host: "127.0.0.1", port })
      yield* Effect.async<void>((resume) => void stalled.once("connect", () => resume(Effect.void)))
      yield* Effect.gen(function*() {
        while ((yield* Diagnostics.counts).SSL < 4) yield* Effect.sleep("10 millis")
      }).pipe(Effect.timeout("5 seconds"))
      // Listening now: the sockets may close before the scope's close returns.
      const closed = [...idle, stalled].map((socket) => new Promise((resolve) => socket.once("close", resolve)))

      const started = Date.now()
      yield* Scope.close(listening, Exit.void)
      assert.isBelow(Date.now() - started, 3000)
      assert.strictEqual((yield* Diagnostics.counts).SSL, 0)
      assert.strictEqual(frees.filter((e) => e.kind === "SSL").length, 9)
      // Every client sees its connection end.
      yield* Effect.promise(() => Promise.all(closed)).pipe(Effect.timeout("5 seconds"))
    }))

  it.scoped("a 'connection' listener that throws closes that connection only; the server goes on", () =>
    Effect.gen(function*() {
      const context = yield* SslContext.make(serverOptions)
      const httpServer = http.createServer(app)
      let throwNext = true
      const server = {
        emit: (event: "connection", duplex: Duplex) => {
          if (throwNext) {
            throwNext = false
            throw new Error("listener bug")
          }
          return httpServer.emit(event, duplex)
        }
      }
      const { port } = yield* NodeTlsDuplex.listen(server, context, { host: "127.0.0.1" })
      const failed = yield* Effect.either(requestOnce(port))
      assert.isTrue(failed._tag === "Left")
      const response = yield* requestOnce(port)
      assert.strictEqual(response.body.toString(), "hello over effect-openssl\n")
      yield* Effect.gen(function*() {
        while ((yield* Diagnostics.counts).SSL > 0) yield* Effect.sleep("10 millis")
      }).pipe(Effect.timeout("5 seconds"))
    }))

  it.scoped("an invalid linger is an InvalidOptionError, before anything listens", () =>
    Effect.gen(function*() {
      const context = yield* SslContext.make(serverOptions)
      const error = yield* Effect.flip(
        NodeTlsDuplex.listen(http.createServer(app), context, { host: "127.0.0.1", linger: -1 })
      )
      assert.strictEqual(error._tag, "InvalidOptionError")
      assert.strictEqual(error._tag === "InvalidOptionError" && error.option, "linger")
    }))
})
