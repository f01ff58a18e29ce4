/**
 * The TLS `SocketServer` layer against node:tls clients: connections handed over as plaintext
 * sockets with their TLS details, the limits (slowloris peers cut at the handshake timeout, a
 * connection limit refusing promptly, a peer that stops reading holding the server's memory
 * bounded), graceful shutdown, metrics and spans.
 */
import * as ServerContext from "@effect-openssl/core/ServerContext"
import * as SslContext from "@effect-openssl/core/SslContext"
import * as TlsMetrics from "@effect-openssl/core/TlsMetrics"
import * as TlsSocket from "@effect-openssl/core/TlsSocket"
import type * as Socket from "@effect/platform/Socket"
import { assert, layer } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as MetricLabel from "effect/MetricLabel"
import * as Scope from "effect/Scope"
import * as Tracer from "effect/Tracer"
import * as net from "node:net"
import * as TestPki from "../../test/src/TestPki.js"
import * as NodeTlsSocketServer from "../src/NodeTlsSocketServer.js"
import { nodeTlsConnect, socketEnd } from "./peers.js"
import { certificateFiles, overwrite, sniPki } from "./serverCertificates.js"
import { LiveOpenSsl } from "./util.js"

/** Echo every chunk back. */
const echo = (socket: Socket.Socket) =>
  Effect.gen(function*() {
    const write = yield* socket.writer
    yield* socket.run(write)
  }).pipe(Effect.scoped)

/**
 * Our TLS socket server in a scope of its own, running `handler`: the PKI, the port, and the
 * scope that shuts it down.
 */
const serve = <E>(
  handler: (socket: Socket.Socket) => Effect.Effect<void, E>,
  options: NodeTlsSocketServer.Options = {},
  context: Partial<ServerContext.Options> = {}
) =>
  Effect.gen(function*() {
    const pki = yield* TestPki.make()
    const scope = yield* Scope.make()
    const services = yield* Layer.build(
      ServerContext.layer({ certificate: pki.server, ...context })
    ).pipe(Scope.extend(scope))
    const server = yield* NodeTlsSocketServer.make({ host: "127.0.0.1", ...options }).pipe(
      Effect.provide(services),
      Scope.extend(scope)
    )
    yield* Effect.forkIn(server.run(handler), scope)
    assert.strictEqual(server.address._tag, "TcpAddress")
    const port = server.address._tag === "TcpAddress" ? server.address.port : 0
    const certificates = {
      current: Effect.provide(ServerContext.current, services),
      reload: Effect.provide(ServerContext.reload, services)
    }
    return { pki, port, scope, certificates }
  })

const client = (port: number, ca: string) => nodeTlsConnect(port, { servername: "localhost", ca })

/** A raw TCP connection that sends `bytes` (maybe nothing) and then waits. */
const rawConnect = (port: number, bytes: Uint8Array) =>
  Effect.acquireRelease(
    Effect.async<net.Socket>((resume) => {
      const socket = net.connect({ host: "127.0.0.1", port }, () => {
        socket.write(bytes)
        resume(Effect.succeed(socket))
      })
      socket.on("error", () => {})
    }),
    (socket) => Effect.sync(() => socket.destroy())
  )

const counter = (metric: typeof TlsMetrics.handshakes, tags: Record<string, string>) =>
  Effect.map(
    Metric.value(Object.entries(tags).reduce((m, [k, v]) => Metric.tagged(m, k, v), metric)),
    (state) => state.count
  )

layer(LiveOpenSsl, { excludeTestServices: true })("NodeTlsSocketServer", (it) => {
  it.scoped("each connection is a plaintext Socket after the handshake, with its TLS details", () =>
    Effect.gen(function*() {
      const details = yield* Deferred.make<
        { protocol: string; serverName: string | undefined; alpn: string | undefined }
      >()
      const { pki, port } = yield* serve(
        (socket) =>
          Effect.gen(function*() {
            assert.isTrue(TlsSocket.isTlsSocket(socket))
            if (!TlsSocket.isTlsSocket(socket)) return
            const info = yield* Effect.orDie(socket.connection.info)
            yield* Deferred.succeed(details, {
              protocol: info.protocol,
              serverName: info.serverName,
              alpn: info.alpnProtocol
            })
            yield* echo(socket)
          }),
        {},
        { alpnProtocols: ["echo/1"] }
      )
      const peer = yield* nodeTlsConnect(port, { servername: "localhost", ca: pki.trust, ALPNProtocols: ["echo/1"] })
      peer.socket.write("hello\n")
      yield* peer.waitFor(/hello\n/)
      assert.deepStrictEqual(yield* Deferred.await(details), {
        protocol: "TLSv1.3",
        serverName: "localhost",
        alpn: "echo/1"
      })
    }))

  it.scoped("a peer that connects and sends nothing, or half a ClientHello, is cut at the handshake timeout; others are served meanwhile", () =>
    Effect.gen(function*() {
      const { pki, port } = yield* serve(echo, { handshakeTimeout: "300 millis" })
      const silent = yield* rawConnect(port, new Uint8Array(0))
      const half = yield* rawConnect(port, new Uint8Array([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01]))
      const served = yield* client(port, pki.trust)
      served.socket.write("still here\n")
      yield* served.waitFor(/still here/)
      const started = Date.now()
      yield* socketEnd(silent)
      yield* socketEnd(half)
      assert.isBelow(Date.now() - started, 3000)
      const failures = yield* counter(TlsMetrics.handshakes, { outcome: "failure", reason: "Timeout" })
      assert.isAtLeast(failures, 2)
    }))

  it.scoped("beyond maxHandshakes a connection waits for a slot, its handshake timeout running from arrival; served once one frees", () =>
    Effect.gen(function*() {
      const { pki, port } = yield* serve(echo, { maxHandshakes: 1, handshakeTimeout: "600 millis" })
      const timeoutsBefore = yield* counter(TlsMetrics.handshakes, { outcome: "failure", reason: "Timeout" })
      // Holds the one slot until its timeout.
      const holder = yield* rawConnect(port, new Uint8Array(0))
      const arrived = Date.now()
      // Waits behind it, and its own timeout (from arrival) ends it without a slot ever freeing for it in time.
      const waiting = yield* rawConnect(port, new Uint8Array(0))
      let waitingEndedAt = Number.POSITIVE_INFINITY
      waiting.once("close", () => (waitingEndedAt = Date.now() - arrived))
      yield* Effect.sleep("300 millis")
      // Waits too; gets the slot the holder frees, with time left to finish its handshake.
      const served = yield* client(port, pki.trust)
      const servedAt = Date.now() - arrived
      served.socket.write("after the wait\n")
      yield* served.waitFor(/after the wait/)
      yield* socketEnd(holder)
      yield* socketEnd(waiting)
      // Both waited for the holder's timeout (600 ms), not for the other's after it (1200 ms).
      assert.isAtLeast(waitingEndedAt, 500)
      assert.isBelow(waitingEndedAt, 1000)
      assert.isAtLeast(servedAt, 500)
      assert.isBelow(servedAt, 1000)
      const timeouts = yield* counter(TlsMetrics.handshakes, { outcome: "failure", reason: "Timeout" })
      assert.strictEqual(timeouts - timeoutsBefore, 2)
    }))

  it.scoped("shutdown lets go of connections still handshaking or waiting for a slot at once, not at their timeout", () =>
    Effect.gen(function*() {
      const told: Array<string> = []
      const { port, scope } = yield* serve(echo, {
        maxHandshakes: 1,
        handshakeTimeout: "30 seconds",
        onHandshakeError: (error) =>
          Effect.sync(() => told.push(`${error._tag} ${"reason" in error ? error.reason : ""}`))
      })
      const handshaking = yield* rawConnect(port, new Uint8Array([0x16, 0x03, 0x01]))
      const waiting = yield* rawConnect(port, new Uint8Array(0))
      yield* Effect.sleep("100 millis")
      const started = Date.now()
      yield* Scope.close(scope, Exit.void)
      yield* socketEnd(handshaking)
      yield* socketEnd(waiting)
      assert.isBelow(Date.now() - started, 2000)
      assert.deepStrictEqual(told, ["TlsError Closed", "TlsError Closed"])
    }))

  it.scoped("onHandshakeError is told of each failed handshake with its typed error: garbage, a timeout", () =>
    Effect.gen(function*() {
      const told: Array<string> = []
      const { pki, port } = yield* serve(echo, {
        handshakeTimeout: "300 millis",
        onHandshakeError: (error) =>
          Effect.sync(() => told.push(`${error._tag} ${"reason" in error ? error.reason : ""}`))
      })
      const garbage = yield* rawConnect(port, new TextEncoder().encode("GET / HTTP/1.1\r\n\r\n"))
      const silent = yield* rawConnect(port, new Uint8Array(0))
      yield* socketEnd(garbage)
      yield* socketEnd(silent)
      const served = yield* client(port, pki.trust)
      served.socket.write("fine\n")
      yield* served.waitFor(/fine/)
      assert.sameMembers(told, ["TlsError Protocol", "TlsError Timeout"])
    }))

  it.scoped("a limit that is not a finite duration above zero or a whole number of at least 1 fails the layer, naming it, before the port is bound", () =>
    Effect.gen(function*() {
      const pki = yield* TestPki.make()
      const bad: ReadonlyArray<[keyof NodeTlsSocketServer.Options, unknown]> = [
        ["handshakeTimeout", 0],
        ["idleTimeout", "forever"],
        ["closeTimeout", -1],
        ["drainTimeout", Number.POSITIVE_INFINITY],
        ["maxConnections", 0],
        ["maxHandshakes", 1.5]
      ]
      for (const [option, value] of bad) {
        const exit = yield* Effect.exit(
          Effect.scoped(Layer.build(NodeTlsSocketServer.layer({ host: "127.0.0.1", port: 0, [option]: value }))).pipe(
            Effect.provide(ServerContext.layer({ certificate: pki.server }))
          )
        )
        assert.isTrue(Exit.isFailure(exit), option)
        const error = Exit.isFailure(exit) ? Cause.squash(exit.cause) : undefined
        // SocketServer's own error, its cause ours.
        assert.strictEqual((error as { cause?: { option?: string } })?.cause?.option, option, String(error))
      }
    }))

  it.scoped("beyond maxConnections a new connection is closed at once, and counted", () =>
    Effect.gen(function*() {
      const { pki, port } = yield* serve(echo, { maxConnections: 2 })
      const refusedBefore = yield* Effect.map(
        Metric.value(
          Metric.taggedWithLabels(TlsMetrics.refusedConnections, [MetricLabel.make("limit", "connections")])
        ),
        (state) => state.count
      )
      yield* client(port, pki.trust)
      yield* client(port, pki.trust)
      const third = yield* rawConnect(port, new Uint8Array(0))
      const started = Date.now()
      yield* socketEnd(third)
      assert.isBelow(Date.now() - started, 1000)
      const refused = yield* Effect.map(
        Metric.value(
          Metric.taggedWithLabels(TlsMetrics.refusedConnections, [MetricLabel.make("limit", "connections")])
        ),
        (state) => state.count
      )
      assert.strictEqual(refused - refusedBefore, 1)
    }))

  it.scoped("a peer that stops reading holds the server's writes back: bounded memory, others still served", () =>
    Effect.gen(function*() {
      const sent = yield* Deferred.make<() => number>()
      const chunk = new Uint8Array(64 * 1024).fill(7)
      const { pki, port } = yield* serve((socket) =>
        Effect.gen(function*() {
          if (!TlsSocket.isTlsSocket(socket)) return
          yield* Deferred.succeed(sent, () => socket.connection.unsafe.traffic().sent)
          const write = yield* socket.writer
          for (let i = 0; i < 1024; i++) yield* write(chunk) // 64 MiB, if the peer read it all
        }).pipe(Effect.scoped, Effect.ignore)
      )
      const stalled = yield* client(port, pki.trust)
      stalled.socket.pause()
      const sentSoFar = yield* Deferred.await(sent)
      yield* Effect.sleep("1 second")
      // What went out is what the kernel's buffers and one write's worth hold, not 64 MiB.
      assert.isBelow(sentSoFar(), 16 * 1024 * 1024)
      const other = yield* client(port, pki.trust)
      yield* other.waitFor(/\x07{1000}/)
    }))

  it.scoped("shutdown: close_notify to every connection, then the rest closed after drainTimeout", () =>
    Effect.gen(function*() {
      const { pki, port, scope } = yield* serve(echo, { drainTimeout: "300 millis" })
      const polite = yield* client(port, pki.trust)
      const ended = Effect.async<void>((resume) => {
        polite.socket.once("end", () => resume(Effect.void))
      })
      // The echo handler ends when its peer does: close_notify reaches the client, which ends.
      polite.socket.once("end", () => polite.socket.end())
      const started = Date.now()
      yield* Effect.all([Scope.close(scope, Exit.void), ended], { concurrency: 2 })
      assert.isBelow(Date.now() - started, 2000)
      const refused = yield* Effect.either(client(port, pki.trust))
      assert.strictEqual(refused._tag, "Left")
    }))

  it.scoped("each connection holds the certificate set it started with until it ends: after a rotation the old set is freed once they all did", () =>
    Effect.gen(function*() {
      const pki = yield* sniPki
      const files = yield* certificateFiles(pki.fallback)
      const { certificates, port } = yield* serve(echo, {}, {
        certificate: { chainFile: files.chain, keyFile: files.key }
      })
      const first = (yield* certificates.current).default.context
      const peer = yield* client(port, pki.trust)
      peer.socket.write("before\n")
      yield* peer.waitFor(/before/)
      // A handshake that fails takes the set and lets go of it too.
      yield* socketEnd(yield* rawConnect(port, new TextEncoder().encode("GET / HTTP/1.1\r\n\r\n")))
      yield* overwrite(files, yield* pki.issue(["localhost"]))
      assert.strictEqual((yield* certificates.reload).generation, 2)
      // Out of service, held by the open connection.
      assert.isFalse(SslContext.isReleased(first))
      peer.socket.write("still\n")
      yield* peer.waitFor(/still/)
      peer.socket.end()
      yield* socketEnd(peer.socket)
      // Freed once the server has released the connection (its handler ends at the peer's close).
      yield* Effect.sleep("20 millis").pipe(
        Effect.repeat({ until: () => SslContext.isReleased(first), times: 100 })
      )
      assert.isTrue(SslContext.isReleased(first))
    }))

  it.scoped("metrics: handshakes by outcome, open connections, bytes; an accept span per connection, ended with its outcome", () =>
    Effect.gen(function*() {
      const spans: Array<{ name: string; status: Exit.Exit<unknown, unknown> | undefined }> = []
      const base = yield* Effect.tracer
      const tracer = Tracer.make({
        span: (name, parent, context, links, startTime, kind, options) => {
          const span = base.span(name, parent, context, links, startTime, kind, options)
          const record = { name, status: undefined as Exit.Exit<unknown, unknown> | undefined }
          spans.push(record)
          const end = span.end.bind(span)
          span.end = (endTime, exit) => {
            record.status = exit
            end(endTime, exit)
          }
          return span
        },
        context: base.context
      })
      const before = yield* counter(TlsMetrics.handshakes, { outcome: "success" })
      const { pki, port } = yield* serve(echo).pipe(Effect.withTracer(tracer))
      const peer = yield* client(port, pki.trust)
      peer.socket.write("count me\n")
      yield* peer.waitFor(/count me/)
      assert.strictEqual((yield* counter(TlsMetrics.handshakes, { outcome: "success" })) - before, 1)
      assert.isAtLeast((yield* Metric.value(TlsMetrics.activeConnections)).value, 1)
      const accepted = spans.find((span) => span.name === "effect_openssl.accept")
      assert.isDefined(accepted)
      assert.isTrue(accepted?.status !== undefined && Exit.isSuccess(accepted.status))
      // A handshake that fails ends its span with the failure.
      yield* socketEnd(yield* rawConnect(port, new TextEncoder().encode("GET / HTTP/1.1\r\n\r\n")))
      const refused = spans.filter((span) => span.name === "effect_openssl.accept").at(-1)
      assert.isTrue(refused?.status !== undefined && Exit.isFailure(refused.status), String(refused?.status))
    }))
})
