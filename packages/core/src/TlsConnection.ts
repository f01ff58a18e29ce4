/**
 * TLS connections over any transport: a `TlsEngine` driven over a `Transport`, with a handshake
 * timeout, `read` / `write` / `close`, Stream and Sink forms, and close_notify sent when the
 * scope closes (so sessions stay resumable). Interruption at any point releases everything.
 *
 * The driver runs in synchronous steps on each transport event (feed, read every complete
 * record, send all output as one chunk): no fiber per chunk. Reads are eager: tickets and
 * alerts are processed as they arrive, whether or not anyone reads, and plaintext is queued up
 * to a bound, above which the transport is paused. Writes are atomic with respect to each
 * other: concurrent writes go out one after the other, never interleaved.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as FiberId from "effect/FiberId"
import * as Option from "effect/Option"
import type * as Runtime from "effect/Runtime"
import * as Scope from "effect/Scope"
import * as Sink from "effect/Sink"
import * as Stream from "effect/Stream"
import * as HostName from "./HostName.js"
import { Driver } from "./internal/driver.js"
import { type Engine, unsafeAttach } from "./internal/engine.js"
import { SslImpl } from "./internal/handles.js"
import { unsafeAddRelease, unsafeHold, unsafeLeaseGroup } from "./internal/lease.js"
import { toSslError } from "./internal/native.js"
import { callSite } from "./internal/registry.js"
import { sslAcquire } from "./internal/sslNew.js"
import * as OptionCheck from "./OptionCheck.js"
import * as Ssl from "./Ssl.js"
import type { SslContext } from "./SslContext.js"
import type { SslError } from "./SslError.js"
import { driverConflict, InvalidOptionError } from "./SslError.js"
import type { SslSession } from "./SslSession.js"
import * as TlsEngine from "./TlsEngine.js"
import type { TlsInfo } from "./TlsInfo.js"
import * as Transport from "./Transport.js"

/**
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: unique symbol = Symbol.for("@effect-openssl/core/TlsConnection")

/**
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

/**
 * Anything a connection can fail with.
 *
 * @since 0.1.0
 * @category errors
 */
export type TlsConnectionError = SslError | Transport.TransportError

/**
 * Where a subscribed adapter gets plaintext (see `UnsafeConnection.subscribe`). Called
 * synchronously, in order.
 *
 * @since 0.1.0
 * @category models
 */
export interface Consumer {
  /** The next plaintext chunk (yours to keep). Return false to pause delivery until `resume`. */
  readonly data: (chunk: Uint8Array) => boolean
  /** The peer sent close_notify: no more plaintext. */
  readonly end: () => void
  /** The connection failed. */
  readonly error: (error: TlsConnectionError) => void
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Subscription {
  /** Deliver again after `data` returned false. */
  readonly resume: () => void
  /** Stop delivering (plaintext queues for `read` again). */
  readonly unsubscribe: () => void
}

/**
 * Callback forms of a connection's operations, for adapters to callback-based APIs (a Node
 * `Duplex`, a platform `Socket`): they run synchronously and answer through callbacks, with no
 * Effect operation or fiber per chunk. Prefer `read` / `write` elsewhere.
 *
 * @since 0.1.0
 * @category models
 */
export interface UnsafeConnection {
  /**
   * Hand plaintext to `consumer` as it arrives instead of queueing it for `read` (anything
   * queued comes first). One consumer at a time; do not `read` meanwhile.
   */
  readonly subscribe: (consumer: Consumer) => Subscription
  /** Write; `done` is called once the ciphertext was handed to the transport, or with the failure. */
  readonly write: (data: Uint8Array, done: (error: TlsConnectionError | undefined) => void) => void
  /** `closeWrite`, after the writes before it. */
  readonly closeWrite: (done: (error: TlsConnectionError | undefined) => void) => void
  /** TLS bytes received and sent so far (records on the wire). */
  readonly traffic: () => { readonly received: number; readonly sent: number }
  /** `info`, synchronously (throws its `SslError`: a released handle). */
  readonly info: () => TlsInfo
}

/**
 * A TLS connection driven over a `Transport`.
 *
 * @since 0.1.0
 * @category models
 */
export interface TlsConnection {
  readonly [TypeId]: TypeId
  readonly engine: TlsEngine.TlsEngine
  readonly ssl: Ssl.Ssl<"Started">
  /** The next plaintext chunk; `None` once the peer sent close_notify. */
  readonly read: Effect.Effect<Option.Option<Uint8Array>, TlsConnectionError>
  /**
   * Write all of `data`; completes once its ciphertext was handed to the transport (waiting
   * while the transport is above its high-water mark). Concurrent writes never interleave.
   */
  readonly write: (data: Uint8Array) => Effect.Effect<void, TlsConnectionError>
  /** Send close_notify and wait (bounded by `closeTimeout`) for the peer's; unread plaintext is dropped. */
  readonly close: Effect.Effect<void, TlsConnectionError>
  /**
   * Half-close: send close_notify and end the transport's sending side, without waiting for the
   * peer's close_notify; `read` goes on until it comes. What a socket's `end()` is: the peer's
   * answer to a request sent before the half-close is still read.
   */
  readonly closeWrite: Effect.Effect<void, TlsConnectionError>
  readonly info: Effect.Effect<TlsInfo, SslError>
  readonly exportKeyingMaterial: TlsEngine.TlsEngine["exportKeyingMaterial"]
  /** The latest session received so far (TLS 1.3 tickets arrive after the handshake). */
  readonly session: Effect.Effect<Option.Option<SslSession>, SslError, Scope.Scope>
  /**
   * Wait until a session arrives (or the timeout passes): TLS 1.3 tickets come after the
   * handshake, and are processed as they arrive. Plaintext meanwhile stays queued for `read`.
   */
  readonly awaitSession: (
    timeout?: Duration.DurationInput
  ) => Effect.Effect<Option.Option<SslSession>, TlsConnectionError, Scope.Scope>
  /** Plaintext from the peer until close_notify. */
  readonly stream: Stream.Stream<Uint8Array, TlsConnectionError>
  /** Writes every chunk. */
  readonly sink: Sink.Sink<void, Uint8Array, never, TlsConnectionError>
  readonly unsafe: UnsafeConnection
}

/**
 * Timing options of a driven connection: finite durations above zero (anything else fails with
 * `InvalidOptionError`).
 *
 * @since 0.1.0
 * @category models
 */
export interface DriverOptions {
  /** Default 30 seconds. */
  readonly handshakeTimeout?: Duration.DurationInput | undefined
  /** How long `close` may wait for the peer's close_notify. Default 5 seconds. */
  readonly closeTimeout?: Duration.DurationInput | undefined
  /**
   * Close the connection (close_notify, then `TlsError` `"Timeout"` for whoever waits) after
   * this long with no data either way. Default: no limit.
   */
  readonly idleTimeout?: Duration.DurationInput | undefined
}

/**
 * Client options.
 *
 * @since 0.1.0
 * @category models
 */
export interface ConnectOptions extends DriverOptions {
  /**
   * The server's name: sent as SNI (unless an IP address) and verified against its certificate.
   * NUL, ports, brackets and other invalid syntax fail with `InvalidOptionError` (see `HostName`).
   */
  readonly hostName?: string | undefined
  /**
   * What the certificate must match: default `hostName`. `false` skips the host name check
   * (the chain is still verified when the context verifies); it must be said explicitly.
   */
  readonly verifyHost?: string | false | undefined
  /** Resume this session (from the same context). */
  readonly session?: SslSession | undefined
  readonly verify?: TlsEngine.Options["verify"]
  readonly keylog?: TlsEngine.Options["keylog"]
}

/**
 * Server options: the engine's callbacks (`TlsEngine.Options`, same names) and timeouts.
 *
 * @since 0.1.0
 * @category models
 */
export interface AcceptOptions extends DriverOptions, Omit<TlsEngine.Options, "role"> {}

/**
 * Connect as a client over `transport` and complete the handshake. The peer's certificate and
 * host name are verified unless the context or `verifyHost: false` says otherwise.
 *
 * @since 0.1.0
 * @category constructors
 */
export const connect = (
  transport: Transport.Transport,
  context: SslContext,
  options: ConnectOptions = {}
): Effect.Effect<TlsConnection, TlsConnectionError, Scope.Scope> =>
  Effect.gen(function*() {
    // Parsed once: the SNI name and the name (or address) to verify come from the same reading.
    const host = options.hostName === undefined ? undefined : yield* HostName.parse(options.hostName, "hostName")
    const verifyHost = options.verifyHost === undefined || options.verifyHost === false
      ? options.verifyHost ?? host
      : yield* HostName.parse(options.verifyHost, "verifyHost")
    if (context.config.verifyMode !== "none" && verifyHost === undefined) {
      return yield* new InvalidOptionError({
        option: "hostName",
        reason: "a verifying client needs the host name to check; pass verifyHost: false to skip the check"
      })
    }
    const ssl = yield* Ssl.make(context, {
      role: "client",
      hostName: host?._tag === "DnsName" ? host : undefined,
      verifyHost: verifyHost === false ? undefined : verifyHost,
      session: options.session
    })
    const engine = yield* TlsEngine.make(ssl, { role: "client", verify: options.verify, keylog: options.keylog })
    return yield* over(engine, transport, options)
  })

/**
 * Accept a client over `transport` and complete the handshake.
 *
 * @since 0.1.0
 * @category constructors
 */
export const accept = (
  transport: Transport.Transport,
  context: SslContext,
  options: AcceptOptions = {}
): Effect.Effect<TlsConnection, TlsConnectionError, Scope.Scope> =>
  Effect.gen(function*() {
    const ssl = yield* Ssl.make(context, { role: "server" })
    const engine = yield* TlsEngine.make(ssl, serverEngineOptions(options))
    return yield* over(engine, transport, options)
  })

/** The engine's part of a server's options (the rest is the driver's). */
const serverEngineOptions = (
  { alpnMismatch, alpnSelect, clientHello, keylog, sni, verify }: AcceptOptions
): TlsEngine.Options => ({ role: "server", verify, keylog, clientHello, sni, alpnSelect, alpnMismatch })

/**
 * Drive an engine over `transport`: run the handshake (bounded by `handshakeTimeout`), and send
 * close_notify when the scope closes. One driver per engine: a second fails with `TlsError`
 * `"DriverConflict"`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const over = (
  engine: TlsEngine.TlsEngine,
  transport: Transport.Transport,
  options: DriverOptions = {}
): Effect.Effect<TlsConnection, TlsConnectionError, Scope.Scope> =>
  // Few Effect operations on purpose: this runs for every connection a server accepts.
  Effect.suspend(() => {
    let timeouts: Timeouts
    try {
      timeouts = resolveTimeouts(options)
    } catch (e) {
      return Effect.fail(e as InvalidOptionError)
    }
    const { closeTimeout, handshakeTimeout, idleTimeout } = timeouts
    const e = engine as Engine
    if (!e.claimDriver()) return Effect.fail(driverConflict("TlsConnection.over"))
    return Effect.flatMap(Transport.push(transport, { linger: closeTimeout }), (push) => {
      const driver = new Driver(e, push, closeTimeout, idleTimeout)
      // A finalizer of the scope's own (a list insertion; `Effect.addFinalizer` would cost two
      // fiber-ref diffs at every close), registered after the transport's, so it runs first:
      // close_notify goes to a transport still open. A driver is inert until `start`.
      return Effect.zipRight(
        Effect.flatMap(Effect.scope, (scope) => Scope.addFinalizer(scope, Effect.sync(() => driver.dispose()))),
        Effect.suspend(() => {
          driver.start()
          return Effect.as(driver.awaitHandshake(handshakeTimeout), connectionOf(driver))
        })
      )
    })
  })

// Decoded once: parsing "30 seconds" is a regular expression, and `over` runs per connection.
const DEFAULT_HANDSHAKE_TIMEOUT = Duration.seconds(30)
const DEFAULT_CLOSE_TIMEOUT = Duration.seconds(5)

interface Timeouts {
  readonly handshakeTimeout: Duration.Duration
  readonly closeTimeout: Duration.Duration
  readonly idleTimeout: Duration.Duration | undefined
}

/** The driver's timeouts, checked (throws `InvalidOptionError`). */
const resolveTimeouts = (options: DriverOptions): Timeouts => ({
  handshakeTimeout: OptionCheck.duration("handshakeTimeout", options.handshakeTimeout, DEFAULT_HANDSHAKE_TIMEOUT),
  closeTimeout: OptionCheck.duration("closeTimeout", options.closeTimeout, DEFAULT_CLOSE_TIMEOUT),
  idleTimeout: options.idleTimeout === undefined
    ? undefined
    : OptionCheck.duration("idleTimeout", options.idleTimeout, 0)
})

/**
 * A connection accepted by `unsafeAccept`: `release` frees everything it holds (the driver's
 * close_notify first, if the connection is established and did not close, then the engine and
 * the `SSL`); it may be called at any time, more than once.
 *
 * @since 0.1.0
 * @category models
 */
export interface UnsafeAccepted {
  /** Free everything the connection holds (close_notify first, if it is due); idempotent. */
  readonly release: () => void
}

/**
 * `accept` without a fiber or a scope, for a server that serves connections from callbacks
 * (what `NodeTlsDuplex.listen` does for each socket): the handle, the engine and the driver are
 * created in one synchronous step, and `done` is called once, with the connection when the
 * handshake completed or with the failure (at once, before this returns, when the options or
 * the allocation fail), unless `release` came first. Nothing is released until `release` is
 * called: call it when the connection is done with, whichever way it ended (its handshake timer
 * stops with it). `runtime` runs the `clientHello` and `sni`
 * effects, if any. The connection's Effect members run like any other's.
 *
 * @since 0.1.0
 * @category unsafe
 */
export const unsafeAccept = (
  transport: Transport.PushTransport,
  context: SslContext,
  options: AcceptOptions,
  runtime: Runtime.Runtime<never>,
  done: (result: Either.Either<TlsConnection, TlsConnectionError>) => void
): UnsafeAccepted => {
  const group = unsafeLeaseGroup()
  const accepted: UnsafeAccepted = { release: () => group.releaseAll() }
  let driver: Driver
  let handshakeTimeout: Duration.Duration
  try {
    const timeouts = resolveTimeouts(options)
    handshakeTimeout = timeouts.handshakeTimeout
    const { acquire, free, openssl } = sslAcquire(context, { role: "server" }, "TlsConnection.unsafeAccept")
    const ssl = new SslImpl(unsafeHold(group, openssl, "SSL_new", acquire, free, callSite()), context)
    const engine = unsafeAttach(ssl, serverEngineOptions(options), runtime)
    unsafeAddRelease(group, () => {
      engine.detach()
      // Nobody waits for ClientHello work any more: stop it.
      engine.pendingHello?.unsafeInterruptAsFork(FiberId.none)
    })
    engine.claimDriver() // a fresh engine: this driver is its one (a later `over` on it is refused)
    driver = new Driver(engine, transport, timeouts.closeTimeout, timeouts.idleTimeout)
    // Released first (the list runs in reverse): close_notify goes out while the engine lives.
    unsafeAddRelease(group, () => driver.dispose())
  } catch (e) {
    group.releaseAll()
    done(Either.left(e instanceof InvalidOptionError ? e : toSslError("TlsConnection.unsafeAccept", e)))
    return accepted
  }
  driver.start()
  driver.onHandshake(
    handshakeTimeout,
    (failure) => done(failure === undefined ? Either.right(connectionOf(driver)) : Either.left(failure))
  )
  return accepted
}

const connectionOf = (driver: Driver): TlsConnection => {
  const engine = driver.engine
  return {
    [TypeId]: TypeId,
    engine,
    ssl: engine.ssl as Ssl.Ssl<"Started">,
    read: driver.read,
    write: (data) => driver.write(data),
    close: driver.close,
    closeWrite: driver.closeWrite,
    info: engine.info,
    exportKeyingMaterial: (label, length, context) => engine.exportKeyingMaterial(label, length, context),
    session: engine.session,
    awaitSession: (timeout = "5 seconds") =>
      Effect.flatMap(
        OptionCheck.check(() => OptionCheck.duration("timeout", timeout, "5 seconds")),
        (bound) => driver.awaitSession(bound)
      ),
    // Built when asked for: most connections never use them, and `connectionOf` runs per connection.
    get stream() {
      return Stream.repeatEffectOption(
        Effect.flatMap(
          Effect.mapError(driver.read, Option.some),
          (chunk) => Option.match(chunk, { onNone: () => Effect.fail(Option.none()), onSome: Effect.succeed })
        )
      )
    },
    get sink() {
      return Sink.forEach((chunk: Uint8Array) => driver.write(chunk))
    },
    unsafe: {
      subscribe: (consumer) => driver.subscribe(consumer),
      write: (data, done) => driver.unsafeWrite(data, done),
      closeWrite: (done) => driver.unsafeCloseWrite(done),
      traffic: () => driver.traffic,
      info: () => engine.unsafeInfo()
    }
  }
}
