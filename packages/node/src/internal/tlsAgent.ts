import type { SslContext } from "@effect-openssl/core/SslContext"
import { TlsError } from "@effect-openssl/core/SslError"
import * as SslSession from "@effect-openssl/core/SslSession"
import * as TlsConnection from "@effect-openssl/core/TlsConnection"
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import * as https from "node:https"
import type { Duplex } from "node:stream"
import * as NodeTlsDuplex from "../NodeTlsDuplex.js"
import * as NodeTransport from "../NodeTransport.js"
import { ConnectingDuplex } from "./connectingDuplex.js"
import type { SessionCache } from "./sessionCache.js"

/** What every connection of one agent shares. */
export interface Connector {
  readonly context: SslContext
  readonly sessions: SessionCache | undefined
  /** Where sessions taken from connections live (the cache's scope). */
  readonly sessionScope: Scope.Scope
  readonly connectTimeout: Duration.Duration
  /** Addresses by lower-case host name, used instead of DNS. */
  readonly hosts: ReadonlyMap<string, string>
  /** Runs a connection's fiber (in the agent's `FiberSet`). */
  readonly runFork: <A, E>(effect: Effect.Effect<A, E>) => Fiber.RuntimeFiber<A, E>
}

/** How long a new connection waits for the server's first session (TLS 1.3 tickets follow the handshake). */
const SESSION_WAIT = Duration.seconds(10)

/**
 * An `https.Agent` whose connections are this library's: `createConnection` returns a
 * `ConnectingDuplex` at once (so the agent counts it against `maxSockets` while it connects),
 * backed by a fiber that connects over TCP, runs the handshake with the connector's context
 * (the chain and the URL's host verified; a cached session offered), and holds the connection
 * until the stream closes.
 */
export class TlsAgent extends https.Agent {
  constructor(options: https.AgentOptions, private readonly connector: Connector) {
    super(options)
  }

  /**
   * An origin is its host and port: the TLS identity is checked against the URL's host alone,
   * so node:https's per-option key parts (a `servername` from a Host header, `ca`, …) do not
   * apply.
   */
  override getName(options?: https.RequestOptions): string {
    return `${options?.host ?? "localhost"}:${options?.port ?? 443}`
  }

  override createConnection(options: https.RequestOptions): Duplex {
    const host = options.host ?? "localhost"
    const port = Number(options.port ?? 443)
    const address = this.connector.hosts.get(host.toLowerCase().replace(/\.$/, "")) ?? host
    return new ConnectingDuplex((ready, fail) => {
      const fiber = this.connector.runFork(connection(this.connector, host, address, port, ready))
      fiber.addObserver((exit) => {
        if (Exit.isFailure(exit)) fail(Cause.squash(exit.cause))
      })
      return () => fiber.unsafeInterruptAsFork(fiber.id())
    })
  }
}

/**
 * One connection's life: connect to `address` (bounded by `connectTimeout`), run the handshake
 * for `host`, hand the stream over, keep the server's next session, and hold everything until
 * the stream closes.
 */
const connection = (
  connector: Connector,
  host: string,
  address: string,
  port: number,
  ready: (duplex: Duplex) => void
): Effect.Effect<void, TlsConnection.TlsConnectionError> =>
  Effect.scoped(Effect.gen(function*() {
    const origin = `${host}:${port}`
    const { connectTimeout, context, sessions } = connector
    // The session offered is this connection's until its scope closes (SSL_set_session takes a
    // reference of its own), unless it goes back to the cache.
    const offered = { session: sessions?.take(origin) }
    yield* Effect.addFinalizer(() => offered.session === undefined ? Effect.void : SslSession.release(offered.session))
    const conn = yield* Effect.gen(function*() {
      const transport = yield* NodeTransport.connectTcp({ host: address, port })
      return yield* TlsConnection.connect(transport, context, {
        hostName: host,
        session: offered.session,
        handshakeTimeout: connectTimeout
      })
    }).pipe(Effect.timeoutFail({
      duration: connectTimeout,
      onTimeout: () => new TlsError({ reason: "Timeout", operation: `connect to ${origin}` })
    }))
    const duplex = yield* NodeTlsDuplex.make(conn)
    ready(duplex)
    if (sessions === undefined) return yield* NodeTlsDuplex.awaitClose(duplex)
    // Without slowing the request: the session is kept by a fiber of the connection's scope,
    // which is told when the connection ends (a ticket often arrives just before a close).
    const ended = yield* Deferred.make<void>()
    const keeper = yield* Effect.forkScoped(keepSession(connector, sessions, origin, conn, offered, ended))
    yield* NodeTlsDuplex.awaitClose(duplex)
    yield* Deferred.succeed(ended, undefined)
    yield* Fiber.join(keeper)
  }))

/**
 * Keep the session the next connection to `origin` offers. A TLS 1.2 session that was just
 * resumed goes back as it is (it may be used again; servers send a new one only to renew it).
 * Otherwise the one offered was spent, and the latest the server sent (a TLS 1.3 ticket, or a
 * new TLS 1.2 session) is kept as soon as one arrived, or when the connection ended.
 */
const keepSession = (
  connector: Connector,
  sessions: SessionCache,
  origin: string,
  conn: TlsConnection.TlsConnection,
  offered: { session: SslSession.SslSession | undefined },
  ended: Deferred.Deferred<void>
): Effect.Effect<void, never, Scope.Scope> =>
  // Uninterruptible but for the wait: a session is never between its scope and the cache.
  Effect.uninterruptibleMask((restore) =>
    Effect.gen(function*() {
      const resumed = offered.session
      if (resumed !== undefined) {
        const info = yield* conn.info
        if (info.sessionReused && info.protocol !== "TLSv1.3") {
          offered.session = undefined
          return yield* sessions.put(origin, resumed)
        }
      }
      // References taken here belong to the connection's scope; the cache gets its own.
      yield* restore(Effect.raceFirst(conn.awaitSession(SESSION_WAIT), Deferred.await(ended)))
      const latest = yield* conn.session
      if (Option.isNone(latest)) return
      yield* sessions.put(origin, yield* Scope.extend(SslSession.upRef(latest.value), connector.sessionScope))
    })
  ).pipe(Effect.ignore)
