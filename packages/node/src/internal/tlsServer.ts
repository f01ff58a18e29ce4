/**
 * The TLS server under `NodeTlsSocketServer` and `NodeTlsHttpServer`: TCP, the limits, a
 * handshake per connection with its span and metrics, then the connection handed to whoever
 * serves it, and a graceful shutdown. Connections are accepted from the socket's callbacks
 * (`TlsConnection.unsafeAccept`), with no fiber or scope of their own until they are served.
 */
import * as OptionCheck from "@effect-openssl/core/OptionCheck"
import * as ServerContext from "@effect-openssl/core/ServerContext"
import { type InvalidOptionError, TlsError } from "@effect-openssl/core/SslError"
import * as TlsConnection from "@effect-openssl/core/TlsConnection"
import * as TlsMetrics from "@effect-openssl/core/TlsMetrics"
import { TransportError } from "@effect-openssl/core/Transport"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as FiberSet from "effect/FiberSet"
import * as MetricLabel from "effect/MetricLabel"
import type * as Scope from "effect/Scope"
import type * as net from "node:net"
import type * as NodeTransport from "../NodeTransport.js"
import { type CallbackSpan, spanStarter } from "./callbackSpan.js"
import { Slots } from "./slots.js"
import { checkLinger, closeGracefully, streamPushTransport } from "./streamTransport.js"
import { listenTcp } from "./tcpListener.js"

/**
 * Options of the TLS server layers: where to listen, the limits (each on by default), and how
 * long a graceful shutdown may take.
 *
 * @since 0.1.0
 * @category models
 */
export interface ServeOptions extends Omit<NodeTransport.ListenOptions, "onRefused"> {
  /** A handshake must be done within this, from the accepted connection. Default 10 seconds. */
  readonly handshakeTimeout?: Duration.DurationInput | undefined
  /** Close a connection with no data either way for this long. Default 2 minutes. */
  readonly idleTimeout?: Duration.DurationInput | undefined
  /** How long closing a connection may wait for the peer's close_notify. Default 5 seconds. */
  readonly closeTimeout?: Duration.DurationInput | undefined
  /**
   * Most connections open at once (handshaking or not). Beyond, a new connection is closed as
   * soon as it is accepted (and counted in `effect_openssl_connections_refused_total`). Default
   * 10,000.
   */
  readonly maxConnections?: number | undefined
  /**
   * Most handshakes in progress at once. Beyond, a new connection waits for a free slot, its
   * handshake timeout running. Default 256.
   */
  readonly maxHandshakes?: number | undefined
  /**
   * Graceful shutdown, when the layer's scope closes: no new connection is accepted, those still
   * in their handshake (or waiting for a slot) are closed at once, open ones are asked to end (close_notify; for HTTP, idle keep-alive connections close and requests in
   * flight finish), and whatever is still open after this is closed. Default 10 seconds.
   */
  readonly drainTimeout?: Duration.DurationInput | undefined
  /**
   * Told of each handshake that failed (the peer refused our certificate, sent garbage, timed
   * out or went away), with its typed error: for a log line, as node:tls's `tlsClientError`.
   * The metrics count these anyway. Default: nothing (the span records the error).
   */
  readonly onHandshakeError?: ((error: TlsConnection.TlsConnectionError) => Effect.Effect<void>) | undefined
  /** Callbacks of each connection (`TlsConnection.AcceptOptions`; SNI comes from the `ServerContext`). */
  readonly accept?:
    | Omit<TlsConnection.AcceptOptions, "sni" | "handshakeTimeout" | "closeTimeout" | "idleTimeout">
    | undefined
}

/** What a server does with each connection after its handshake, and how it winds them down. */
export interface Handling {
  /**
   * An established connection, from the event that completed its handshake: serve it, and
   * call `done` when finished with it, whichever way it ended (more calls are ignored). The
   * server then releases it: close_notify if due, its handle, its socket.
   */
  readonly serve: (connection: TlsConnection.TlsConnection, done: () => void) => void
  /** Shutdown began: ask the open connections to end (default: close_notify on each). */
  readonly drain?: ((open: Iterable<TlsConnection.TlsConnection>) => void) | undefined
  /** The drain timeout passed with connections still open, before the server releases them. */
  readonly force?: (() => void) | undefined
}

/** The server's limits and timeouts, checked, with the defaults applied; throws `InvalidOptionError`. */
const resolve = (options: ServeOptions) => ({
  handshakeTimeout: OptionCheck.duration("handshakeTimeout", options.handshakeTimeout, "10 seconds"),
  idleTimeout: OptionCheck.duration("idleTimeout", options.idleTimeout, "2 minutes"),
  closeTimeout: OptionCheck.duration("closeTimeout", options.closeTimeout, "5 seconds"),
  maxConnections: OptionCheck.count("maxConnections", options.maxConnections, 10_000),
  maxHandshakes: OptionCheck.count("maxHandshakes", options.maxHandshakes, 256),
  drainTimeout: OptionCheck.duration("drainTimeout", options.drainTimeout, "10 seconds")
})

const refusedForConnections = [MetricLabel.make("limit", "connections")]

/** A TLS listener: bound, serving once `run` is called (connections that come before wait). */
export interface TlsServer {
  readonly address: net.AddressInfo
  /**
   * Serve: for each connection a handshake (within the limits, with a span and metrics), then
   * `handling.serve`. Runs until interrupted, then shuts down gracefully (see `drainTimeout`).
   */
  readonly run: (handling: Handling) => Effect.Effect<never>
}

/** Bind a TLS listener with the `ServerContext`'s certificates. Closed with the scope. */
export const make = (
  options: ServeOptions
): Effect.Effect<TlsServer, TransportError | InvalidOptionError, ServerContext.ServerContext | Scope.Scope> =>
  Effect.gen(function*() {
    // Checked before the port is bound: a bad limit fails the layer, not each connection.
    const limits = yield* OptionCheck.check(() => resolve(options))
    const linger = yield* checkLinger(options.linger)
    const server = yield* ServerContext.ServerContext
    const tcp = yield* listenTcp({
      ...options,
      maxConnections: limits.maxConnections,
      onRefused: () => TlsMetrics.refusedConnections.unsafeUpdate(1, refusedForConnections)
    })
    const address = tcp.address
    const onHandshakeError = options.onHandshakeError
    const handshakeMillis = Duration.toMillis(limits.handshakeTimeout)
    const span = { kind: "server", attributes: { "server.port": address.port } } as const

    const run = (handling: Handling): Effect.Effect<never> =>
      Effect.scoped(Effect.gen(function*() {
        const runtime = yield* Effect.runtime<never>()
        // `onHandshakeError`'s effects: fibers of the run, stopped when it ends.
        const runFork = yield* FiberSet.makeRuntime<never>()
        const startSpan = yield* spanStarter("effect_openssl.accept", span)
        const slots = new Slots(limits.maxHandshakes)
        /** Connections before their handshake completed, each with how to abandon it. */
        const handshaking = new Set<() => void>()
        /** Established connections, each with how to release it. */
        const open = new Map<TlsConnection.TlsConnection, () => void>()
        const emptied = new Set<() => void>()
        let draining = false

        const serveSocket = (socket: net.Socket): void => {
          if (draining) return void socket.destroy()
          const started = performance.now()
          const endSpan = startSpan()
          let accepted: TlsConnection.UnsafeAccepted | undefined
          let held: ServerContext.HeldConnectionOptions | undefined
          let released = false
          /** Free what the connection holds, once: close_notify if due, handle, certificates, socket. */
          const release = () => {
            if (released) return
            released = true
            accepted?.release()
            held?.release()
            closeGracefully(socket, linger)
          }
          const failed = (error: TlsConnection.TlsConnectionError) => {
            handshaking.delete(abandon)
            record(started, error, endSpan)
            if (onHandshakeError !== undefined) runFork(onHandshakeError(error))
            release()
          }
          const established = (connection: TlsConnection.TlsConnection) => {
            handshaking.delete(abandon)
            record(started, undefined, endSpan)
            const done = () => {
              if (!open.delete(connection)) return
              TlsMetrics.activeConnections.unsafeModify(-1, [])
              const { received, sent } = connection.unsafe.traffic()
              TlsMetrics.bytesReceived.unsafeUpdate(received, [])
              TlsMetrics.bytesSent.unsafeUpdate(sent, [])
              release()
              if (open.size === 0) { for (const wake of emptied) wake() }
            }
            open.set(connection, done)
            TlsMetrics.activeConnections.unsafeModify(1, [])
            handling.serve(connection, done)
          }

          // Waiting for a handshake slot: the handshake timeout runs from arrival, and a peer
          // that goes away meanwhile is let go at once.
          const timer = setTimeout(
            () => stopWaiting(new TlsError({ reason: "Timeout", operation: "handshake" })),
            handshakeMillis
          )
          const onGone = () => stopWaiting(new TransportError({ reason: "Closed" }))
          // A reset before the transport listens has no other listener (it would be thrown).
          socket.on("error", () => {})
          socket.once("close", onGone)
          const begin = () => {
            // Shutdown began while this one waited: it is let go with the others.
            if (draining) return slots.give()
            clearTimeout(timer)
            socket.off("close", onGone)
            held = server.unsafeAcceptOptions()
            const remaining = Math.max(1, started + handshakeMillis - performance.now())
            accepted = TlsConnection.unsafeAccept(
              streamPushTransport(socket),
              held.context,
              {
                ...options.accept,
                sni: held.sni,
                handshakeTimeout: Duration.millis(remaining),
                idleTimeout: limits.idleTimeout,
                closeTimeout: limits.closeTimeout
              },
              runtime,
              (result) => {
                slots.give()
                if (Either.isLeft(result)) failed(result.left)
                else established(result.right)
              }
            )
            // Failed at once, before `accepted` was known.
            if (released) accepted.release()
          }
          let cancelWait = () => {}
          const stopWaiting = (error: TlsConnection.TlsConnectionError) => {
            cancelWait()
            clearTimeout(timer)
            socket.off("close", onGone)
            failed(error)
          }
          /** Shutdown: a connection still waiting or handshaking is let go. */
          const abandon = () => {
            const error = new TlsError({ reason: "Closed", operation: "handshake: the server is shutting down" })
            if (accepted === undefined) return stopWaiting(error)
            slots.give()
            failed(error)
          }
          // Before `take`, which may begin the handshake, and fail it, at once.
          handshaking.add(abandon)
          cancelWait = slots.take(begin)
        }
        tcp.serve(serveSocket)

        // Runs when the run ends, before the fibers of `onHandshakeError` are stopped.
        yield* Effect.addFinalizer(() =>
          Effect.gen(function*() {
            draining = true
            yield* tcp.stop
            for (const abandon of Array.from(handshaking)) abandon()
            if (handling.drain === undefined) closeWriteAll(open.keys())
            else handling.drain(open.keys())
            const closed = yield* Effect.timeout(untilEmpty(open, emptied), limits.drainTimeout).pipe(
              Effect.as(true),
              Effect.catchTag("TimeoutException", () => Effect.succeed(false))
            )
            if (closed) return
            handling.force?.()
            for (const done of Array.from(open.values())) done()
          })
        )
        return yield* Effect.never
      }))
    return { address, run }
  })

/** A handshake's metrics and span: its outcome, and how long it took. */
const record = (
  started: number,
  failure: TlsConnection.TlsConnectionError | undefined,
  endSpan: CallbackSpan
) => {
  const tags = TlsMetrics.outcomeTags(failure)
  TlsMetrics.handshakes.unsafeUpdate(1, tags)
  TlsMetrics.handshakeDuration.unsafeUpdate((performance.now() - started) / 1000, tags)
  endSpan(failure)
}

/** close_notify on every open connection: the peer sees the end of the stream and closes. */
const closeWriteAll = (open: Iterable<TlsConnection.TlsConnection>) => {
  for (const connection of open) connection.unsafe.closeWrite(() => {})
}

const untilEmpty = (open: ReadonlyMap<unknown, unknown>, emptied: Set<() => void>) =>
  Effect.async<void>((resume) => {
    if (open.size === 0) return resume(Effect.void)
    const wake = () => resume(Effect.void)
    emptied.add(wake)
    return Effect.sync(() => emptied.delete(wake))
  })
