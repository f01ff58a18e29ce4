import * as OptionCheck from "@effect-openssl/core/OptionCheck"
import * as ServerContext from "@effect-openssl/core/ServerContext"
import type { InvalidOptionError } from "@effect-openssl/core/SslError"
import * as TlsConnection from "@effect-openssl/core/TlsConnection"
import * as TlsMetrics from "@effect-openssl/core/TlsMetrics"
import type { Transport, TransportError } from "@effect-openssl/core/Transport"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as MetricLabel from "effect/MetricLabel"
import type * as Scope from "effect/Scope"
import type * as net from "node:net"
import * as NodeTransport from "../NodeTransport.js"
import { acquireSyncRelease } from "./scoped.js"

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
   * Graceful shutdown, when the layer's scope closes: no new connection is accepted, open ones
   * are asked to end (close_notify; for HTTP, idle keep-alive connections close and requests in
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
export interface Handling<E, R> {
  /** The connection, in a scope that closes (close_notify, then the transport) when this ends. */
  readonly handle: (connection: TlsConnection.TlsConnection) => Effect.Effect<void, E, R | Scope.Scope>
  /** Shutdown began: ask the open connections to end (default: close_notify on each). */
  readonly drain?: ((open: ReadonlySet<TlsConnection.TlsConnection>) => Effect.Effect<void>) | undefined
  /** The drain timeout passed with connections still open, before they are interrupted. */
  readonly force?: Effect.Effect<void> | undefined
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
   * `handling.handle`. Runs until interrupted, then shuts down gracefully (see `drainTimeout`).
   */
  readonly run: <E, R>(handling: Handling<E, R>) => Effect.Effect<never, never, R>
}

/** Bind a TLS listener with the `ServerContext`'s certificates. Closed with the scope. */
export const make = (
  options: ServeOptions
): Effect.Effect<TlsServer, TransportError | InvalidOptionError, ServerContext.ServerContext | Scope.Scope> =>
  Effect.gen(function*() {
    // Checked before the port is bound: a bad limit fails the layer, not each connection.
    const limits = yield* OptionCheck.check(() => resolve(options))
    const server = yield* ServerContext.ServerContext
    const handshakes = yield* Effect.makeSemaphore(limits.maxHandshakes)
    const listener = yield* NodeTransport.listen({
      ...options,
      maxConnections: limits.maxConnections,
      onRefused: () => TlsMetrics.refusedConnections.unsafeUpdate(1, refusedForConnections)
    })
    const address = listener.address
    const onHandshakeError = options.onHandshakeError ?? (() => Effect.void)
    const span = { kind: "server", attributes: { "server.port": address.port } } as const

    const handshake = (transport: Transport) =>
      Effect.flatMap(server.acceptOptions, ({ context, sni }) =>
        TlsConnection.accept(transport, context, {
          ...options.accept,
          sni,
          handshakeTimeout: limits.handshakeTimeout,
          idleTimeout: limits.idleTimeout,
          closeTimeout: limits.closeTimeout
        }))

    const run = <E, R>(handling: Handling<E, R>): Effect.Effect<never, never, R> =>
      Effect.scoped(Effect.gen(function*() {
        const open = new Set<TlsConnection.TlsConnection>()
        const emptied = new Set<() => void>()
        let draining = false

        const connection = (transport: Transport) =>
          Effect.gen(function*() {
            if (draining) return
            const started = performance.now()
            const connection = yield* handshakes.withPermits(1)(handshake(transport)).pipe(
              Effect.tapError((error) => Effect.sync(() => record(started, error))),
              Effect.withSpan("effect_openssl.accept", span),
              Effect.tapError(onHandshakeError)
            )
            record(started, undefined)
            yield* acquireSyncRelease(() => {
              open.add(connection)
              TlsMetrics.activeConnections.unsafeModify(1, [])
            }, () =>
              Effect.sync(() => {
                open.delete(connection)
                TlsMetrics.activeConnections.unsafeModify(-1, [])
                const { received, sent } = connection.unsafe.traffic()
                TlsMetrics.bytesReceived.unsafeUpdate(received, [])
                TlsMetrics.bytesSent.unsafeUpdate(sent, [])
                if (open.size === 0) { for (const wake of emptied) wake() }
              }))
            yield* handling.handle(connection)
          })

        yield* Effect.forkScoped(listener.run(connection))
        // Registered after the fork, so it runs first when the scope closes: before the
        // connections' fibers are interrupted.
        yield* Effect.addFinalizer(() =>
          Effect.gen(function*() {
            draining = true
            yield* listener.stop
            yield* handling.drain === undefined ? closeWriteAll(open) : handling.drain(open)
            const closed = yield* Effect.timeout(untilEmpty(open, emptied), limits.drainTimeout).pipe(
              Effect.as(true),
              Effect.catchTag("TimeoutException", () => Effect.succeed(false))
            )
            if (!closed && handling.force !== undefined) yield* handling.force
          })
        )
        return yield* Effect.never
      }))
    return { address, run }
  })

/** A handshake's metrics: its outcome, and how long it took. */
const record = (started: number, failure: { readonly _tag: string; readonly reason?: unknown } | undefined) => {
  const tags = TlsMetrics.outcomeTags(failure)
  TlsMetrics.handshakes.unsafeUpdate(1, tags)
  TlsMetrics.handshakeDuration.unsafeUpdate((performance.now() - started) / 1000, tags)
}

/** close_notify on every open connection: the peer sees the end of the stream and closes. */
const closeWriteAll = (open: ReadonlySet<TlsConnection.TlsConnection>) =>
  Effect.sync(() => {
    for (const connection of open) connection.unsafe.closeWrite(() => {})
  })

const untilEmpty = (open: ReadonlySet<unknown>, emptied: Set<() => void>) =>
  Effect.async<void>((resume) => {
    if (open.size === 0) return resume(Effect.void)
    const wake = () => resume(Effect.void)
    emptied.add(wake)
    return Effect.sync(() => emptied.delete(wake))
  })
