import * as SslContext from "@effect-openssl/core/SslContext"
import * as TlsSocket from "@effect-openssl/core/TlsSocket"
import * as NodeSocket from "@effect/platform-node/NodeSocket"
import * as NodeSocketServer from "@effect/platform-node/NodeSocketServer"
import * as Socket from "@effect/platform/Socket"
import type * as SocketServer from "@effect/platform/SocketServer"
import { assert, layer } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { createHash } from "node:crypto"
import * as http from "node:http"
import type * as net from "node:net"
import * as tls from "node:tls"
import * as NodeOpenSsl from "../src/NodeOpenSsl.js"
import * as NodeTlsDuplex from "../src/NodeTlsDuplex.js"
import { clientOptions, fixture, serverOptions } from "./util.js"

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes)
const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex")

/** `n` bytes that differ from chunk to chunk, so reordering or loss shows. */
const payload = (n: number) => new Uint8Array(n).map((_, i) => (i * 7 + (i >> 12)) % 256)

/** A node:tls server on loopback, closed with the scope. */
const nodeTlsServer = (onConnection: (socket: tls.TLSSocket) => void) =>
  Effect.acquireRelease(
    Effect.async<tls.Server & { port: number }>((resume) => {
      const server = tls.createServer({ cert: fixture("server.pem"), key: fixture("server.key") }, onConnection)
      server.listen(
        0,
        "127.0.0.1",
        () => resume(Effect.succeed(Object.assign(server, { port: (server.address() as net.AddressInfo).port })))
      )
    }),
    (server) => Effect.async<void>((resume) => void server.close(() => resume(Effect.void)))
  )

/** A TlsSocket client over `NodeSocket.makeNet` to the given loopback port. */
const connect = (port: number, hostName = "localhost") =>
  Effect.gen(function*() {
    const context = yield* SslContext.make(clientOptions)
    const socket = yield* NodeSocket.makeNet({ host: "127.0.0.1", port })
    return yield* TlsSocket.makeClient(socket, context, { hostName })
  })

// Without free observation: its callback would also run for node:tls's own contexts, which are
// freed during garbage collection, where no JS may run. Real sockets need the live clock.
layer(NodeOpenSsl.layer, { excludeTestServices: true })("TlsSocket", (it) => {
  it.scoped("Socket.toChannel over a client TlsSocket: 1 MiB through a node:tls echo server, half-close", () =>
    Effect.gen(function*() {
      const server = yield* nodeTlsServer((socket) => socket.pipe(socket))
      const tlsSocket = yield* connect(server.port)
      assert.isTrue(Socket.isSocket(tlsSocket))
      const sent = payload(1024 * 1024)
      const chunks = Array.from({ length: 64 }, (_, i) => sent.subarray(i * 16384, (i + 1) * 16384))
      // The channel writes every chunk, then releases its writer (close_notify); the echo server
      // ends in turn, which completes the run and the stream.
      const echoed = yield* Stream.fromIterable(chunks).pipe(
        Stream.pipeThroughChannelOrFail(Socket.toChannel(tlsSocket)),
        Stream.runCollect,
        Effect.timeout("10 seconds")
      )
      assert.strictEqual(Buffer.concat(Chunk.toArray(echoed)).length, sent.length)
      assert.strictEqual(sha256(Buffer.concat(Chunk.toArray(echoed))), sha256(sent))
      assert.strictEqual((yield* tlsSocket.connection.info).protocol, "TLSv1.3")
    }))

  it.scoped("data both ways; the node:tls server closes and the run completes", () =>
    Effect.gen(function*() {
      const server = yield* nodeTlsServer((socket) => {
        socket.write("hello from node:tls\n")
        socket.on("data", (data: Buffer) => {
          if (data.toString() === "bye") socket.end("goodbye\n")
        })
      })
      const tlsSocket = yield* connect(server.port)
      const write = yield* tlsSocket.writer
      const received: Array<string> = []
      yield* tlsSocket.run((chunk) => {
        received.push(text(chunk))
        return received.join("") === "hello from node:tls\n" ? write("bye") : undefined
      }).pipe(Effect.timeout("5 seconds"))
      assert.strictEqual(received.join(""), "hello from node:tls\ngoodbye\n")
      // After the peer's close_notify, nothing more is read.
      const after = yield* tlsSocket.run(() => assert.fail("no data after close_notify"))
      assert.isUndefined(after)
    }))

  it.scoped("a CloseEvent sends close_notify: the node:tls server sees the end, the run ends", () =>
    Effect.gen(function*() {
      const ended = yield* Deferred.make<string>()
      const server = yield* nodeTlsServer((socket) => {
        let seen = ""
        socket.on("data", (data: Buffer) => {
          seen += data.toString()
        })
        socket.on("end", () => Deferred.unsafeDone(ended, Exit.succeed(seen)))
        socket.write("ready")
      })
      const tlsSocket = yield* connect(server.port)
      const write = yield* tlsSocket.writer
      yield* tlsSocket.run(() => Effect.zipRight(write("last words"), write(new Socket.CloseEvent(1000, "done")))).pipe(
        Effect.timeout("5 seconds")
      )
      assert.strictEqual(yield* Deferred.await(ended).pipe(Effect.timeout("5 seconds")), "last words")
      // Writing after close_notify is a typed write error that keeps the TLS cause.
      const error = yield* Effect.flip(write("too late"))
      assert.strictEqual(error.reason, "Write")
      assert.strictEqual(error.reason === "Write" && (error.cause as { _tag?: string })._tag, "TlsError")
    }))

  it.scoped("a CloseEvent with an error code fails the run with SocketCloseError", () =>
    Effect.gen(function*() {
      const server = yield* nodeTlsServer((socket) => socket.write("ready"))
      const tlsSocket = yield* connect(server.port)
      const write = yield* tlsSocket.writer
      const error = yield* Effect.flip(tlsSocket.run(() => write(new Socket.CloseEvent(4000, "going away"))))
      assert.isTrue(Socket.SocketCloseError.is(error))
      assert.strictEqual(Socket.SocketCloseError.is(error) && error.code, 4000)
    }))

  it.scoped("a NodeSocketServer's sockets wrapped with makeServer serve a node:tls client, both ways", () =>
    Effect.gen(function*() {
      const context = yield* SslContext.make(serverOptions)
      const server = yield* NodeSocketServer.make({ host: "127.0.0.1", port: 0 })
      const handled = yield* Deferred.make<Exit.Exit<void, unknown>>()
      // An echo server written against Socket: it does not know about TLS.
      const echo = (socket: Socket.Socket) =>
        Effect.gen(function*() {
          const write = yield* socket.writer
          yield* socket.run(write)
        })
      yield* server.run((socket) =>
        TlsSocket.makeServer(socket, context).pipe(
          Effect.flatMap(echo),
          Effect.scoped,
          Effect.exit,
          Effect.flatMap((exit) => Deferred.succeed(handled, exit))
        )
      ).pipe(Effect.forkScoped)
      const port = (server.address as SocketServer.TcpAddress).port

      const sent = payload(1024 * 1024 + 17)
      const client = tls.connect({ host: "127.0.0.1", port, servername: "localhost", ca: fixture("ca.pem") })
      yield* Effect.addFinalizer(() => Effect.sync(() => client.destroy()))
      const echoed = yield* Effect.async<Buffer>((resume) => {
        const chunks: Array<Buffer> = []
        let length = 0
        client.on("data", (chunk: Buffer) => {
          chunks.push(chunk)
          length += chunk.length
          // Everything came back: close from the client side.
          if (length === sent.length) client.end()
        })
        client.on("end", () => resume(Effect.succeed(Buffer.concat(chunks))))
        client.on("error", (error) => resume(Effect.die(error)))
        client.once("secureConnect", () => client.write(sent))
      }).pipe(Effect.timeout("10 seconds"))
      assert.strictEqual(sha256(echoed), sha256(sent))
      // The client's close_notify completed the server's run normally.
      const exit = yield* Deferred.await(handled).pipe(Effect.timeout("5 seconds"))
      assert.isTrue(Exit.isSuccess(exit))
    }))

  it.scoped("the server closes: a CloseEvent reaches the node:tls client as the end of the stream", () =>
    Effect.gen(function*() {
      const context = yield* SslContext.make(serverOptions)
      const server = yield* NodeSocketServer.make({ host: "127.0.0.1", port: 0 })
      yield* server.run((socket) =>
        Effect.gen(function*() {
          const tlsSocket = yield* TlsSocket.makeServer(socket, context)
          const write = yield* tlsSocket.writer
          yield* tlsSocket.run((chunk) =>
            text(chunk) === "hello" ? Effect.zipRight(write("bye"), write(new Socket.CloseEvent())) : undefined
          )
        }).pipe(Effect.scoped, Effect.ignore)
      ).pipe(Effect.forkScoped)
      const port = (server.address as SocketServer.TcpAddress).port
      const client = tls.connect({ host: "127.0.0.1", port, servername: "localhost", ca: fixture("ca.pem") })
      yield* Effect.addFinalizer(() => Effect.sync(() => client.destroy()))
      client.once("secureConnect", () => client.write("hello"))
      const received = yield* Effect.async<string>((resume) => {
        let data = ""
        client.on("data", (chunk: Buffer) => {
          data += chunk.toString()
        })
        client.on("end", () => resume(Effect.succeed(data)))
      }).pipe(Effect.timeout("5 seconds"))
      assert.strictEqual(received, "bye")
    }))

  it.scoped("a certificate for another host fails makeClient with a typed VerifyError", () =>
    Effect.gen(function*() {
      const server = yield* nodeTlsServer(() => {})
      const error = yield* Effect.flip(connect(server.port, "wrong.example"))
      assert.strictEqual(error._tag, "VerifyError")
      assert.strictEqual(error._tag === "VerifyError" && error.code, 62) // X509_V_ERR_HOSTNAME_MISMATCH
    }))

  it.scoped("a peer that drops the connection without close_notify fails the run with the TLS cause", () =>
    Effect.gen(function*() {
      const server = yield* nodeTlsServer((socket) => {
        socket.write("partial", () => socket.destroy())
      })
      const tlsSocket = yield* connect(server.port)
      const received: Array<string> = []
      const error = yield* Effect.flip(tlsSocket.run((chunk) => void received.push(text(chunk))))
      assert.strictEqual(received.join(""), "partial")
      assert.strictEqual(error.reason, "Read")
      const cause = error.reason === "Read" ? error.cause as { _tag?: string; reason?: string } : {}
      assert.strictEqual(cause._tag, "TlsError")
      assert.strictEqual(cause.reason, "UnexpectedEof")
    }))

  it.scoped("a peer that goes away while 8 MiB are being written: writes end with a typed outcome, the scope closes at once", () =>
    Effect.gen(function*() {
      // The server reads the first bytes, then resets the connection: the rest of the writes
      // have nowhere to go, and the writer's queue is still full.
      const server = yield* nodeTlsServer((socket) => {
        socket.once("data", () => socket.destroy())
      })
      const scope = yield* Scope.make()
      const outcome = yield* Effect.gen(function*() {
        const tlsSocket = yield* connect(server.port)
        const run = yield* Effect.fork(Effect.exit(tlsSocket.run(() => {})))
        const write = yield* tlsSocket.writer
        const writes = yield* Effect.exit(Effect.forEach(Array.from({ length: 128 }, () => payload(64 * 1024)), write))
        return { writes, run: yield* Fiber.join(run) }
      }).pipe(Scope.extend(scope), Effect.timeout("10 seconds"))
      // The run ends with the peer's reset (a Read error), never hangs.
      assert.isTrue(Exit.isFailure(outcome.run))
      if (Exit.isFailure(outcome.writes)) {
        const error = Cause.squash(outcome.writes.cause) as { _tag?: string }
        assert.strictEqual(error._tag, "SocketError")
      }
      const started = Date.now()
      yield* Scope.close(scope, Exit.void)
      assert.isBelow(Date.now() - started, 2000)
    }))
})

// The server closes first (HTTP `Connection: close`); the run ends; then the client's scope
// closes. Closing is bounded by closeTimeout at most, and here needs nothing to wait for.
layer(NodeOpenSsl.layer, { excludeTestServices: true })("TlsSocket closing after the server closed", (it) => {
  it.scoped("the client's scope closes at once when the server already closed the connection", () =>
    Effect.gen(function*() {
      const serverContext = yield* SslContext.make(serverOptions)
      const address = yield* NodeTlsDuplex.listen(
        http.createServer((_request, response) => response.end("hi\n")),
        serverContext,
        { host: "127.0.0.1" }
      )
      for (let round = 0; round < 4; round++) {
        const scope = yield* Scope.make()
        const received = yield* Effect.gen(function*() {
          const tls = yield* connect(address.port)
          const chunks: Array<string> = []
          const run = yield* Effect.fork(tls.run((chunk) => {
            chunks.push(text(chunk))
          }))
          const write = yield* tls.writer
          yield* write("GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
          yield* Fiber.join(run)
          yield* Effect.sleep("300 millis")
          return chunks.join("")
        }).pipe(Scope.extend(scope))
        assert.match(received, /hi\n$/)
        const started = Date.now()
        yield* Scope.close(scope, Exit.void)
        assert.isBelow(Date.now() - started, 1000, `round ${round}`)
      }
    }))
})
