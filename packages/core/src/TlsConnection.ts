/**
 * TLS connections over any transport. Two levels:
 *
 * - **`engine`**: sans-IO. Memory BIOs are attached to an `Ssl` and you move the bytes:
 *   `feed` ciphertext in, `takeOutput` ciphertext out, and step the handshake, reads, writes and
 *   shutdown as Effects. Attaching is exclusive: a second driver of the same native `SSL` (through
 *   an `upRef` or a `Shared` dup) fails with `TlsError` `"DriverConflict"`.
 * - **`connect` / `accept` / `over`**: the engine driven over a `Transport`, with a handshake
 *   timeout, `read` / `write` / `close`, Stream and Sink forms, and close_notify sent when the
 *   scope closes (so sessions stay resumable), bounded by a timeout. Interruption at any point
 *   releases everything.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as Sink from "effect/Sink"
import * as Stream from "effect/Stream"
import * as HostName from "./HostName.js"
import { attach, type Engine, type HelloDecision, type ReadStep, type WriteStep } from "./internal/engine.js"
import { checkExport } from "./internal/exporter.js"
import type { CertificateInfo, ClientHelloInfo, ConnectionInfo, HandshakeStep, VerifyStep } from "./OpenSsl.js"
import * as Ssl from "./Ssl.js"
import type { SslContext } from "./SslContext.js"
import type { SslError } from "./SslError.js"
import { InvalidOptionError, TlsError } from "./SslError.js"
import type { SslSession } from "./SslSession.js"
import type { Transport, TransportError } from "./Transport.js"

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
export type TlsConnectionError = SslError | TransportError

/**
 * A sans-IO engine: one driven `SSL` over memory BIOs.
 *
 * @since 0.1.0
 * @category models
 */
export interface TlsEngine {
  readonly ssl: Ssl.Ssl
  readonly role: "client" | "server"
  /** One `SSL_do_handshake`. `"want-client-hello"`: async ClientHello work is pending (see `awaitClientHello`). */
  readonly handshakeStep: Effect.Effect<HandshakeStep, SslError>
  /** Wait for pending ClientHello work; then step the handshake again. */
  readonly awaitClientHello: Effect.Effect<void, SslError>
  /** Ciphertext received from the peer. */
  readonly feed: (bytes: Uint8Array) => Effect.Effect<void, SslError>
  /** The transport ended: reads then fail with `UnexpectedEof` unless close_notify came first. */
  readonly endInput: Effect.Effect<void, SslError>
  /** All the ciphertext waiting for the peer, as one fresh buffer, if any. */
  readonly takeOutput: Effect.Effect<Option.Option<Uint8Array>, SslError>
  /** One `SSL_read`: plaintext, a want, or `"closed"` (close_notify received). */
  readonly readStep: Effect.Effect<ReadStep, SslError>
  /**
   * `takeOutput` into a buffer of yours, reused from call to call (no allocation per record):
   * up to `into.length` bytes, the count returned (0: nothing waiting). For transports that
   * copy what they are given, such as another engine's `feed`.
   */
  readonly takeOutputInto: (into: Uint8Array) => Effect.Effect<number, SslError>
  /**
   * `readStep` into a buffer of yours: the plaintext byte count (at most one record, 16 KiB),
   * a want, or `"closed"`. The bytes are yours until the next call with the same buffer.
   */
  readonly readInto: (into: Uint8Array) => Effect.Effect<number | "want-read" | "want-write" | "closed", SslError>
  /** One `SSL_write`: bytes accepted (partial writes allowed), or a want. */
  readonly writeStep: (data: Uint8Array) => Effect.Effect<WriteStep, SslError>
  /** One `SSL_shutdown`. */
  readonly shutdownStep: Effect.Effect<"sent" | "done", SslError>
  readonly info: Effect.Effect<TlsInfo, SslError>
  /**
   * RFC 5705 / RFC 8446 keying material exporter: `length` bytes, a whole number from 1 to 8160
   * (255 × 32, what every TLS 1.3 suite can export); anything else fails with
   * `InvalidOptionError` before any allocation.
   */
  readonly exportKeyingMaterial: (
    label: string,
    length: number,
    context?: Uint8Array
  ) => Effect.Effect<Uint8Array, SslError>
  /** The latest session received (client) or created, as a new reference in the caller's scope. */
  readonly session: Effect.Effect<Option.Option<SslSession>, SslError, Scope.Scope>
  /** How many sessions the new-session callback delivered so far. */
  readonly sessionsSeen: () => number
}

/**
 * What a connection negotiated, with the peer's chain parsed.
 *
 * @since 0.1.0
 * @category models
 */
export interface TlsInfo extends ConnectionInfo {
  readonly peerChain: ReadonlyArray<CertificateInfo>
}

/**
 * Options of the engine (both roles).
 *
 * @since 0.1.0
 * @category models
 */
export interface EngineOptions {
  readonly role: "client" | "server"
  /** Custom verification per certificate; return false to reject (fails closed if it throws). */
  readonly verify?: ((step: VerifyStep) => boolean) | undefined
  /** NSS key log lines (needs `keylog: true` on the context). */
  readonly keylog?: ((line: string) => void) | undefined
  /** Server: ALPN choice among the client's offers; default: the context's `alpnProtocols` in server order. */
  readonly alpnSelect?: ((offered: ReadonlyArray<string>) => string | undefined) | undefined
  /** Server: look at the ClientHello before the handshake goes on; may run async Effects. */
  readonly onClientHello?: ((hello: ClientHelloInfo) => Effect.Effect<HelloDecision, unknown>) | undefined
}

/**
 * Attach memory BIOs to `ssl` and drive it sans-IO. Released (callbacks unbound, retained
 * session freed) when the scope closes.
 *
 * @since 0.1.0
 * @category constructors
 */
export const engine = (ssl: Ssl.Ssl, options: EngineOptions): Effect.Effect<TlsEngine, SslError, Scope.Scope> =>
  Effect.flatMap(attach(ssl, options), (e) =>
    options.onClientHello === undefined ?
      Effect.succeed(toPublic(e)) :
      // ClientHello work nobody waits for any more (the handshake timed out or was interrupted)
      // stops with the engine instead of running on unsupervised.
      Effect.as(
        Effect.addFinalizer(() => e.pendingHello === undefined ? Effect.void : Fiber.interrupt(e.pendingHello)),
        toPublic(e)
      ))

const toPublic = (e: Engine): TlsEngine => ({
  ssl: e.ssl,
  role: e.options.role,
  handshakeStep: e.handshakeStep,
  awaitClientHello: Effect.suspend(() => {
    const pending = e.pendingHello
    if (pending === undefined) return Effect.void
    return Fiber.join(pending).pipe(
      Effect.tap((decision) => Effect.sync(() => e.decided(decision))),
      Effect.catchAllCause((cause) =>
        Effect.sync(() => e.decided({ verdict: "reject", context: undefined })).pipe(
          // One more step: the callback now rejects, so OpenSSL queues its handshake_failure alert
          // for the peer (without it the peer waits for an answer until its own timeout).
          Effect.zipRight(Effect.ignore(e.handshakeStep)),
          Effect.zipRight(Effect.fail(new TlsError({ reason: "Callback", operation: "onClientHello", cause })))
        )
      ),
      Effect.asVoid
    )
  }),
  feed: (bytes) => e.feed(bytes),
  endInput: e.endInput,
  takeOutput: e.takeOutput,
  readStep: e.readStep,
  takeOutputInto: (into) => e.takeOutputInto(into),
  readInto: (into) => e.readInto(into),
  writeStep: (data) => e.writeStep(data),
  shutdownStep: e.shutdownStep,
  info: e.use("TlsEngine.info", (ref) => withLazyChain(e.openssl.sslInfo(ref), e.openssl.parseCertificate)),
  exportKeyingMaterial: (label, length, context) =>
    e.use("TlsEngine.exportKeyingMaterial", (ref) => {
      checkExport(label, length, context)
      return e.openssl.sslExportKeyingMaterial(ref, label, length, context)
    }),
  session: e.latestSession,
  sessionsSeen: () => e.sessionsSeen
})

/**
 * The DER chain is copied out of the live `SSL` at once (it must not be read after a free);
 * parsing it is left until `peerChain` is first read, since most callers never do.
 */
const withLazyChain = (info: ConnectionInfo, parse: (der: Uint8Array) => CertificateInfo): TlsInfo => {
  let parsed: ReadonlyArray<CertificateInfo> | undefined
  return Object.defineProperty({ ...info } as TlsInfo, "peerChain", {
    enumerable: true,
    get: () => (parsed ??= info.peerCertificates.map(parse))
  })
}

/**
 * A TLS connection driven over a `Transport`.
 *
 * @since 0.1.0
 * @category models
 */
export interface TlsConnection {
  readonly [TypeId]: TypeId
  readonly engine: TlsEngine
  readonly ssl: Ssl.Ssl<"Started">
  /** The next plaintext chunk; `None` once the peer sent close_notify. */
  readonly read: Effect.Effect<Option.Option<Uint8Array>, TlsConnectionError>
  /** Write all of `data`. */
  readonly write: (data: Uint8Array) => Effect.Effect<void, TlsConnectionError>
  /** Send close_notify and wait (bounded by `closeTimeout`) for the peer's. */
  readonly close: Effect.Effect<void, TlsConnectionError>
  /**
   * Half-close: send close_notify and end the transport's sending side, without waiting for the
   * peer's close_notify; `read` goes on until it comes. What a socket's `end()` is: the peer's
   * answer to a request sent before the half-close is still read.
   */
  readonly closeWrite: Effect.Effect<void, TlsConnectionError>
  readonly info: Effect.Effect<TlsInfo, SslError>
  readonly exportKeyingMaterial: TlsEngine["exportKeyingMaterial"]
  /** The latest session received so far (TLS 1.3 tickets arrive after the handshake). */
  readonly session: Effect.Effect<Option.Option<SslSession>, SslError, Scope.Scope>
  /**
   * Read until a session arrives (or the timeout passes), keeping any plaintext read meanwhile
   * for later `read`s. A TLS 1.3 client needs a read for the ticket to be processed.
   */
  readonly awaitSession: (
    timeout?: Duration.DurationInput
  ) => Effect.Effect<Option.Option<SslSession>, TlsConnectionError, Scope.Scope>
  /** Plaintext from the peer until close_notify. */
  readonly stream: Stream.Stream<Uint8Array, TlsConnectionError>
  /** Writes every chunk. */
  readonly sink: Sink.Sink<void, Uint8Array, never, TlsConnectionError>
}

/**
 * Timing options of a driven connection.
 *
 * @since 0.1.0
 * @category models
 */
export interface DriverOptions {
  /** Default 30 seconds. */
  readonly handshakeTimeout?: Duration.DurationInput | undefined
  /** How long closing (here or at scope close) may wait for the peer. Default 5 seconds. */
  readonly closeTimeout?: Duration.DurationInput | undefined
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
  readonly verify?: EngineOptions["verify"]
  readonly keylog?: EngineOptions["keylog"]
}

/**
 * Server options.
 *
 * @since 0.1.0
 * @category models
 */
export interface AcceptOptions extends DriverOptions {
  /**
   * Choose a context for the SNI name (e.g. a certificate per host). `None`: keep the default;
   * `"refuse"`: end the handshake with the `unrecognized_name` alert (112).
   */
  readonly sni?:
    | ((serverName: string | undefined) => Effect.Effect<Option.Option<SslContext> | "refuse", unknown>)
    | undefined
  /** Accept or reject from the ClientHello; may do async work (the handshake waits). */
  readonly clientHello?: ((hello: ClientHelloInfo) => Effect.Effect<boolean, unknown>) | undefined
  readonly alpnSelect?: EngineOptions["alpnSelect"]
  readonly verify?: EngineOptions["verify"]
  readonly keylog?: EngineOptions["keylog"]
}

/**
 * Connect as a client over `transport` and complete the handshake. The peer's certificate and
 * host name are verified unless the context or `verifyHost: false` says otherwise.
 *
 * @since 0.1.0
 * @category constructors
 */
export const connect = (
  transport: Transport,
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
    const e = yield* engine(ssl, { role: "client", verify: options.verify, keylog: options.keylog })
    return yield* over(e, transport, options)
  })

/**
 * Accept a client over `transport` and complete the handshake.
 *
 * @since 0.1.0
 * @category constructors
 */
export const accept = (
  transport: Transport,
  context: SslContext,
  options: AcceptOptions = {}
): Effect.Effect<TlsConnection, TlsConnectionError, Scope.Scope> =>
  Effect.gen(function*() {
    const ssl = yield* Ssl.make(context, { role: "server" })
    const { clientHello, sni } = options
    const onClientHello = clientHello === undefined && sni === undefined ?
      undefined :
      (hello: ClientHelloInfo) =>
        Effect.gen(function*() {
          const accepted = clientHello === undefined ? true : yield* clientHello(hello)
          const chosen = sni === undefined || !accepted ? Option.none() : yield* sni(hello.serverName)
          const context = chosen === "refuse" ? chosen : Option.getOrUndefined(chosen)
          return { verdict: accepted ? "accept" : "reject", context } as const
        })
    const e = yield* engine(ssl, {
      role: "server",
      verify: options.verify,
      keylog: options.keylog,
      alpnSelect: options.alpnSelect,
      onClientHello
    })
    return yield* over(e, transport, options)
  })

/**
 * Drive an engine over `transport`: run the handshake (bounded by `handshakeTimeout`), and send
 * close_notify when the scope closes.
 *
 * @since 0.1.0
 * @category constructors
 */
export const over = (
  e: TlsEngine,
  transport: Transport,
  options: DriverOptions = {}
): Effect.Effect<TlsConnection, TlsConnectionError, Scope.Scope> =>
  Effect.gen(function*() {
    const driver = new Driver(e, transport, Duration.decode(options.closeTimeout ?? "5 seconds"))
    yield* Effect.addFinalizer(() => driver.closeOnRelease)
    yield* within(driver.handshake, options.handshakeTimeout ?? "30 seconds", "handshake")
    return driver.connection()
  })

/**
 * Bound `effect` by `duration`, failing with a `TlsError` `"Timeout"`. Both sides of the race are
 * made interruptible on purpose: in a finalizer (uninterruptible) the forked loser would inherit
 * that and the race would wait for it, so closing at scope end took the full timeout (measured),
 * and a failing sibling in `Effect.all` could not interrupt a bounded handshake.
 */
const within = <A, E>(
  effect: Effect.Effect<A, E>,
  duration: Duration.DurationInput,
  operation: string
): Effect.Effect<A, E | TlsError> =>
  Effect.raceFirst(
    Effect.interruptible(effect),
    Effect.interruptible(
      Effect.zipRight(Effect.sleep(duration), Effect.fail(new TlsError({ reason: "Timeout", operation })))
    )
  )

/** Failures after which OpenSSL allows no further I/O on the `SSL` (`SSL_ERROR_SSL`, `SSL_ERROR_SYSCALL`). */
const isFatal = (error: SslError): boolean =>
  error._tag === "VerifyError" ||
  (error._tag === "TlsError" && (error.reason === "Protocol" || error.reason === "Syscall"))

/** Moves bytes between an engine and a transport. */
class Driver {
  readonly #receiveLock = Effect.unsafeMakeSemaphore(1)
  readonly #sendLock = Effect.unsafeMakeSemaphore(1)
  #inputEnded = false
  #established = false
  #closing = false
  #peerClosed = false
  /**
   * The first fatal failure. OpenSSL answers any later call on the failed `SSL` with
   * `SSL_ERROR_SYSCALL` and an empty queue, which reads as an unexpected EOF: later operations
   * fail as `"Closed"` with this as the cause instead.
   */
  #failed: SslError | undefined
  readonly #buffered: Array<Uint8Array> = []

  constructor(readonly e: TlsEngine, readonly transport: Transport, readonly closeTimeout: Duration.Duration) {}

  /** Send everything the engine has for the peer (one `takeOutput` empties it), in order. */
  readonly flush: Effect.Effect<void, TlsConnectionError> = this.#sendLock.withPermits(1)(
    Effect.flatMap(
      Effect.suspend(() => this.e.takeOutput),
      (out) => Option.isNone(out) ? Effect.void : this.transport.send(out.value)
    )
  )

  /** Receive one chunk from the transport into the engine (or mark the end of input). */
  readonly pumpIn: Effect.Effect<void, TlsConnectionError> = this.#receiveLock.withPermits(1)(
    Effect.gen(this, function*() {
      if (this.#inputEnded) {
        return yield* new TlsError({ reason: "UnexpectedEof", operation: "read: the transport ended" })
      }
      const chunk = yield* this.transport.receive
      if (Option.isNone(chunk)) {
        this.#inputEnded = true
        yield* this.e.endInput
      } else {
        yield* this.e.feed(chunk.value)
      }
    })
  )

  /**
   * A failing step may have queued a fatal alert for the peer (OpenSSL writes it to the output
   * BIO before returning the error): send it before failing, or the peer is left waiting for
   * bytes that never come until the transport closes. Best effort, bounded by the close timeout.
   */
  withAlert<A>(step: Effect.Effect<A, SslError>): Effect.Effect<A, TlsConnectionError> {
    return Effect.suspend(() =>
      this.#failed !== undefined
        ? Effect.fail(new TlsError({ reason: "Closed", operation: "the connection failed", cause: this.#failed }))
        : Effect.catchAll(step, (error) => {
          if (isFatal(error)) this.#failed = error
          return Effect.zipRight(
            Effect.ignore(within(this.flush, this.closeTimeout, "send the alert")),
            Effect.fail(error)
          )
        })
    )
  }

  readonly handshake: Effect.Effect<void, TlsConnectionError> = Effect.gen(this, function*() {
    for (;;) {
      const step = yield* this.withAlert(this.e.handshakeStep)
      yield* this.flush
      if (step === "done") break
      if (step === "want-read") yield* this.pumpIn
      else if (step === "want-client-hello") yield* this.withAlert(this.e.awaitClientHello)
    }
    this.#established = true
  })

  readonly read: Effect.Effect<Option.Option<Uint8Array>, TlsConnectionError> = Effect.gen(this, function*() {
    const buffered = this.#buffered.shift()
    if (buffered !== undefined) return Option.some(buffered)
    if (this.#peerClosed) return Option.none()
    for (;;) {
      const step = yield* this.withAlert(this.e.readStep)
      if (step instanceof Uint8Array) return Option.some(step)
      if (step === "closed") {
        this.#peerClosed = true
        return Option.none()
      }
      // Post-handshake messages (tickets, key updates) may have produced output.
      yield* this.flush
      if (step === "want-read") yield* this.pumpIn
    }
  })

  write(data: Uint8Array): Effect.Effect<void, TlsConnectionError> {
    return Effect.gen(this, function*() {
      if (this.#closing) return yield* new TlsError({ reason: "Closed", operation: "write after close" })
      let offset = 0
      while (offset < data.length) {
        const step = yield* this.withAlert(this.e.writeStep(offset === 0 ? data : data.subarray(offset)))
        yield* this.flush
        if (typeof step === "number") offset += step
        else if (step === "want-read") yield* this.pumpIn
      }
    })
  }

  /** Send close_notify (once) and flush it. */
  readonly sendCloseNotify: Effect.Effect<"sent" | "done", TlsConnectionError> = Effect.gen(this, function*() {
    this.#closing = true
    const step = yield* this.e.shutdownStep
    yield* this.flush
    return step
  })

  readonly close: Effect.Effect<void, TlsConnectionError> = Effect.gen(this, function*() {
    if (this.#closing) return
    const step = yield* this.sendCloseNotify
    if (step === "done" || this.#peerClosed) return
    // Wait for the peer's close_notify; application data still in flight is discarded.
    const drain = Effect.gen(this, function*() {
      while (!this.#peerClosed && !this.#inputEnded) yield* this.read
    })
    yield* within(drain, this.closeTimeout, "close: no close_notify from the peer")
  })

  readonly closeWrite: Effect.Effect<void, TlsConnectionError> = Effect.gen(this, function*() {
    if (this.#closing) return
    yield* this.sendCloseNotify
    yield* this.transport.end
  })

  /** At scope close: an established connection sends close_notify, bounded by the close timeout. */
  readonly closeOnRelease: Effect.Effect<void> = Effect.suspend(() =>
    !this.#established || this.#closing || this.#failed !== undefined || Ssl.isReleased(this.e.ssl)
      ? Effect.void
      : Effect.ignore(within(this.sendCloseNotify, this.closeTimeout, "close"))
  )

  awaitSession(
    timeout: Duration.DurationInput
  ): Effect.Effect<Option.Option<SslSession>, TlsConnectionError, Scope.Scope> {
    return Effect.gen(this, function*() {
      const waitForTicket = Effect.gen(this, function*() {
        const seen = this.e.sessionsSeen()
        while (this.e.sessionsSeen() === seen && !this.#peerClosed) {
          const step = yield* this.withAlert(this.e.readStep)
          if (step instanceof Uint8Array) this.#buffered.push(step)
          else if (step === "closed") this.#peerClosed = true
          else {
            yield* this.flush
            // The step that processed the ticket still reports want-read: stop before waiting for more.
            if (step === "want-read" && this.e.sessionsSeen() === seen) yield* this.pumpIn
          }
        }
      })
      if (this.e.sessionsSeen() === 0) {
        yield* Effect.timeout(waitForTicket, timeout).pipe(Effect.catchTag("TimeoutException", () => Effect.void))
      }
      return yield* this.e.session
    })
  }

  connection(): TlsConnection {
    return {
      [TypeId]: TypeId,
      engine: this.e,
      ssl: this.e.ssl as Ssl.Ssl<"Started">,
      read: this.read,
      write: (data) => this.write(data),
      close: this.close,
      closeWrite: this.closeWrite,
      info: this.e.info,
      exportKeyingMaterial: this.e.exportKeyingMaterial,
      session: this.e.session,
      awaitSession: (timeout = "5 seconds") => this.awaitSession(timeout),
      stream: Stream.repeatEffectOption(
        Effect.flatMap(
          Effect.mapError(this.read, Option.some),
          (chunk) => Option.match(chunk, { onNone: () => Effect.fail(Option.none()), onSome: Effect.succeed })
        )
      ),
      sink: Sink.forEach((chunk: Uint8Array) => this.write(chunk))
    }
  }
}
