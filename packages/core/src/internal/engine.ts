import * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Runtime from "effect/Runtime"
import type * as Scope from "effect/Scope"
import type { ClientHelloInfo, HandshakeStep, NativeRef, OpenSsl, SslCallbacks, VerifyStep } from "../OpenSsl.js"
import { IoStatus } from "../OpenSsl.js"
import type { Ssl } from "../Ssl.js"
import type { SslContext } from "../SslContext.js"
import type { SslError } from "../SslError.js"
import { ReleasedHandleError, TlsError } from "../SslError.js"
import type { SslSession } from "../SslSession.js"
import { contextLease, sslLease, SslSessionImpl } from "./handles.js"
import { acquireLeaseIfAny, acquireSync, type Lease } from "./lease.js"
import { registryOf } from "./registry.js"

/** What a server decides once it has seen the ClientHello (possibly after async work). */
export interface HelloDecision {
  readonly verdict: "accept" | "reject"
  /**
   * Context chosen for the SNI name (`SSL_set_SSL_CTX`), if any; `"refuse"`: the name is not
   * served, the handshake ends with the `unrecognized_name` alert (112).
   */
  readonly context: SslContext | "refuse" | undefined
}

export interface EngineOptions {
  readonly role: "client" | "server"
  readonly verify?: ((step: VerifyStep) => boolean) | undefined
  readonly keylog?: ((line: string) => void) | undefined
  /** Server: decide from the ClientHello, asynchronously (the handshake pauses meanwhile). */
  readonly onClientHello?: ((hello: ClientHelloInfo) => Effect.Effect<HelloDecision, unknown>) | undefined
  /** Server: choose the ALPN protocol (default: the context's `alpnProtocols`, in server order). */
  readonly alpnSelect?: ((offered: ReadonlyArray<string>) => string | undefined) | undefined
}

export type ReadStep = Uint8Array | "want-read" | "want-write" | "closed"
export type WriteStep = number | "want-read" | "want-write"

/** Plaintext records are at most 16 KiB; one read returns at most one record. */
const READ_SIZE = 16 * 1024
/** A read at least this long is handed out in the buffer it was read into; shorter ones are copied. */
const KEEP_THRESHOLD = 4 * 1024

/** What a read that returned no plaintext (`n <= 0`, an `IoStatus`) means. */
const readStatus = (n: number): Exclude<ReadStep, Uint8Array> =>
  n === IoStatus.WantRead ? "want-read" : n === IoStatus.WantWrite ? "want-write" : "closed"

/**
 * The sans-IO state of one driven `SSL`: memory BIOs attached, callbacks bound to this object.
 * Exactly one engine may drive a native `SSL` (tracked in the registry by object id).
 */
export class Engine {
  /** The buffer the next `SSL_read` goes into (see `readStep`). */
  #readBuffer: Uint8Array | undefined
  #latestSession: NativeRef | undefined
  #sessionsSeen = 0
  #hello: Fiber.RuntimeFiber<HelloDecision, unknown> | undefined
  #decision: HelloDecision | undefined
  #detached = false

  constructor(
    readonly openssl: OpenSsl,
    readonly ssl: Ssl,
    readonly lease: Lease,
    readonly options: EngineOptions,
    readonly runtime: Runtime.Runtime<never>
  ) {}

  get ref(): NativeRef {
    return this.lease.ref
  }

  get sessionsSeen(): number {
    return this.#sessionsSeen
  }

  /** The pending ClientHello work, when the handshake paused for it. */
  get pendingHello(): Fiber.RuntimeFiber<HelloDecision, unknown> | undefined {
    return this.#hello
  }

  callbacks(): SslCallbacks {
    const { alpnSelect, keylog, onClientHello, role, verify } = this.options
    const serverAlpn = role === "server" ? this.ssl.context.config.alpnProtocols : undefined
    return {
      verify,
      keylog,
      newSession: (session) => {
        if (this.#detached) return false
        if (this.#latestSession !== undefined) this.openssl.sessionFree(this.#latestSession)
        this.#latestSession = session
        this.#sessionsSeen++
        return true
      },
      clientHello: onClientHello === undefined ? undefined : (hello) => this.onClientHello(hello, onClientHello),
      serverName: onClientHello === undefined ? undefined : () => {
        const context = this.#decision?.context
        if (context === "refuse") return "reject"
        return context === undefined ? undefined : contextLease(context).unsafeRef("SNI")
      },
      alpnSelect: alpnSelect ??
        (serverAlpn === undefined ? undefined : (offered) => serverAlpn.find((p) => offered.includes(p)))
    }
  }

  private onClientHello(
    hello: ClientHelloInfo,
    decide: (hello: ClientHelloInfo) => Effect.Effect<HelloDecision, unknown>
  ): "accept" | "retry" | "reject" {
    if (this.#decision !== undefined) return this.#decision.verdict
    // Pause the handshake; the driver joins this fiber and calls SSL_do_handshake again.
    this.#hello ??= Runtime.runFork(this.runtime)(decide(hello))
    return "retry"
  }

  /** Record the ClientHello decision once its fiber finished. */
  decided(decision: HelloDecision): void {
    this.#decision = decision
    this.#hello = undefined
  }

  use<A>(operation: string, f: (ref: NativeRef) => A): Effect.Effect<A, SslError> {
    return this.lease.use(operation, f)
  }

  /**
   * A callback that threw while the native call still succeeded (e.g. a keylog or new-session
   * handler) fails the call here, in the same synchronous step.
   */
  private surfaceCallbackFailure(ref: NativeRef, operation: string): void {
    const failure = this.openssl.sslTakeCallbackFailure(ref)
    if (failure !== undefined) throw new TlsError({ reason: "Callback", operation, cause: failure.cause })
  }

  // Fields are wrapped in suspend: initializers run before the parameter properties are set.
  handshakeStep: Effect.Effect<HandshakeStep, SslError> = Effect.suspend(() =>
    this.use("TlsEngine.handshake", (ref) => {
      const step = this.openssl.sslHandshake(ref)
      this.surfaceCallbackFailure(ref, "handshake")
      return step
    })
  )

  feed(bytes: Uint8Array): Effect.Effect<void, SslError> {
    return this.use("TlsEngine.feed", (ref) => this.openssl.sslFeed(ref, bytes))
  }

  endInput: Effect.Effect<void, SslError> = Effect.suspend(() =>
    this.use("TlsEngine.endInput", (ref) => this.openssl.sslInputEnded(ref))
  )

  /**
   * Everything waiting for the peer, as one fresh buffer (the transport may keep it): after one
   * call the output is empty until the next step.
   */
  takeOutput: Effect.Effect<Option.Option<Uint8Array>, SslError> = Effect.suspend(() =>
    this.use("TlsEngine.takeOutput", (ref) => {
      const pending = this.openssl.sslPendingOutput(ref)
      if (pending === 0) return Option.none()
      const out = this.openssl.allocate(pending)
      const n = this.openssl.sslDrain(ref, out)
      return Option.some(n === pending ? out : out.subarray(0, n))
    })
  )

  /**
   * One `SSL_read`. Plaintext is handed out without a copy when it fills a good part of the
   * buffer it was read into (bulk transfers: full 16 KiB records), which then belongs to the
   * caller; a short read is copied out and the buffer kept for the next read.
   */
  readStep: Effect.Effect<ReadStep, SslError> = Effect.suspend(() =>
    this.use("TlsEngine.read", (ref): ReadStep => {
      const buffer = this.#readBuffer ??= this.openssl.allocate(READ_SIZE)
      const n = this.read(ref, buffer)
      if (n >= KEEP_THRESHOLD) {
        this.#readBuffer = undefined
        return buffer.subarray(0, n)
      }
      return n > 0 ? buffer.slice(0, n) : readStatus(n)
    })
  )

  /** Drain up to `into.length` bytes of output into the caller's buffer: the count (0: none). */
  takeOutputInto(into: Uint8Array): Effect.Effect<number, SslError> {
    return this.use("TlsEngine.takeOutputInto", (ref) => this.openssl.sslDrain(ref, into))
  }

  /** One `SSL_read` into the caller's buffer (at most one record's plaintext). */
  readInto(into: Uint8Array): Effect.Effect<number | Exclude<ReadStep, Uint8Array>, SslError> {
    return this.use("TlsEngine.readInto", (ref) => {
      const n = this.read(ref, into)
      return n > 0 ? n : readStatus(n)
    })
  }

  /** `SSL_read` into `into`; a callback's failure (a keylog or new-session handler) fails it. */
  private read(ref: NativeRef, into: Uint8Array): number {
    const n = this.openssl.sslRead(ref, into)
    this.surfaceCallbackFailure(ref, "read")
    return n
  }

  writeStep(data: Uint8Array): Effect.Effect<WriteStep, SslError> {
    return this.use("TlsEngine.write", (ref): WriteStep => {
      const n = this.openssl.sslWrite(ref, data)
      if (n >= 0) return n
      if (n === IoStatus.WantRead) return "want-read"
      if (n === IoStatus.WantWrite) return "want-write"
      throw new TlsError({ reason: "Closed", operation: "TlsEngine.write" })
    })
  }

  shutdownStep: Effect.Effect<"sent" | "done", SslError> = Effect.suspend(() =>
    this.use("TlsEngine.shutdown", (ref) => this.openssl.sslShutdown(ref))
  )

  /**
   * Another reference to the latest session, in the caller's scope. The field is read and the
   * session up-ref'd in one synchronous step, after checking the engine is still attached: the
   * new-session callback (a newer ticket) and `detach` (the connection's scope closing) free the
   * session the field points to, and any Effect operation in between would let them run first.
   */
  latestSession: Effect.Effect<Option.Option<SslSession>, SslError, Scope.Scope> = Effect.suspend(() =>
    acquireLeaseIfAny(
      this.openssl,
      "SSL_SESSION_up_ref",
      () => {
        if (this.#detached) throw new ReleasedHandleError({ kind: "SSL", operation: "TlsEngine.session" })
        this.lease.unsafeRef("TlsEngine.session")
        const latest = this.#latestSession
        if (latest !== undefined) this.openssl.sessionUpRef(latest)
        return latest
      },
      (ref) => this.openssl.sessionFree(ref),
      (lease) => new SslSessionImpl(lease, this.ssl.context)
    )
  )

  detach(): void {
    if (this.#detached) return
    this.#detached = true
    registryOf(this.openssl).driven.delete(this.ref.id)
    this.openssl.sslSetCallbacks(this.ref, undefined)
    if (this.#latestSession !== undefined) this.openssl.sessionFree(this.#latestSession)
    this.#latestSession = undefined
  }
}

/**
 * Attach memory BIOs and callbacks to `ssl` and become its only driver, until the scope closes.
 * Acquire and release are synchronous, held in the scope's leases group (see `acquireSync`):
 * this is on the path of every connection.
 */
export const attach = (ssl: Ssl, options: EngineOptions): Effect.Effect<Engine, SslError, Scope.Scope> =>
  Effect.flatMap(Effect.runtime<never>(), (runtime) =>
    acquireSync(
      "TlsEngine.attach",
      () => {
        const lease = sslLease(ssl)
        const ref = lease.unsafeRef("TlsEngine.attach")
        const openssl = lease.openssl
        const registry = registryOf(openssl)
        if (registry.driven.has(ref.id)) {
          throw new TlsError({ reason: "DriverConflict", operation: "TlsEngine.attach: this SSL already has a driver" })
        }
        openssl.sslAttachMemory(ref)
        openssl.sslSetRole(ref, options.role)
        const engine = new Engine(openssl, ssl, lease, options, runtime)
        openssl.sslSetCallbacks(ref, engine.callbacks())
        registry.driven.add(ref.id)
        return engine
      },
      (engine) => engine.detach()
    ))
