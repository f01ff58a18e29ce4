import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Runtime from "effect/Runtime"
import type * as Scope from "effect/Scope"
import type { Handshake, HandshakeStep, Io, NativeRef, OpenSsl, SslCallbacks } from "../OpenSsl.js"
import { capability, IoStatus } from "../OpenSsl.js"
import type { Ssl } from "../Ssl.js"
import type { SslContext } from "../SslContext.js"
import type { SslError } from "../SslError.js"
import { ReleasedHandleError, TlsError } from "../SslError.js"
import type { SslSession } from "../SslSession.js"
import type * as TlsEngine from "../TlsEngine.js"
import type { ClientHelloInfo, TlsInfo } from "../TlsInfo.js"
import { withLazyChain } from "../TlsInfo.js"
import { checkExport } from "./exporter.js"
import { contextLease, sslLease } from "./handles.js"
import { acquireSync, type Lease } from "./lease.js"
import { toSslError } from "./native.js"
import { takeSession } from "./sessions.js"

/** Plaintext records are at most 16 KiB; one read returns at most one record. */
const READ_SIZE = 16 * 1024
/** A read at least this long is handed out in the buffer it was read into; shorter ones are copied. */
const KEEP_THRESHOLD = 4 * 1024
/**
 * The buffer the next `SSL_read` of any engine goes into. Reads are synchronous, so one buffer
 * serves every connection: a connection that only handshakes allocates none.
 */
let sharedReadBuffer: Uint8Array | undefined

/**
 * Outputs are carved out of slabs this large (one allocation per slab, not per output)... A
 * chunk a transport still holds keeps its whole slab alive: a peer that stops reading pins the
 * slabs of its queued chunks, so the slab stays small enough to bound that (a few records).
 */
const OUTPUT_SLAB = 64 * 1024
/** ...unless larger than this (one full record with its overhead), which get a buffer of their own. */
const OUTPUT_CARVED_UP_TO = 16 * 1024 + 512
let outputSlab: Uint8Array | undefined
let outputSlabUsed = 0

/**
 * A buffer for `size` bytes of output: a view into the current slab. Outputs go to a transport,
 * which lets go of them once written; a slab is freed when none of its views is held any more
 * (an output kept for long keeps its slab, 64 KiB, alive, as a small Node `Buffer` keeps its
 * pool).
 */
const carveOutput = (io: Io, size: number): Uint8Array => {
  if (size > OUTPUT_CARVED_UP_TO) return io.allocate(size)
  if (outputSlab === undefined || outputSlabUsed + size > OUTPUT_SLAB) {
    outputSlab = io.allocate(OUTPUT_SLAB)
    outputSlabUsed = 0
  }
  const out = outputSlab.subarray(outputSlabUsed, outputSlabUsed + size)
  // The next view starts 8-byte aligned, as separate allocations would.
  outputSlabUsed += (size + 7) & ~7
  return out
}

/** What a read that returned no plaintext (`n <= 0`, an `IoStatus`) means. */
const readStatus = (n: number): TlsEngine.ReadStatus =>
  n === IoStatus.WantRead ? "want-read" : n === IoStatus.WantWrite ? "want-write" : "closed"

/** What the server decided from the ClientHello: go on (with the context chosen for SNI), or refuse. */
interface HelloDecision {
  readonly verdict: "accept" | "reject"
  /** `SSL_set_SSL_CTX` for the SNI name, if any; `"refuse"` sends `unrecognized_name` (112). */
  readonly context: SslContext | "refuse" | undefined
}

const accepted: HelloDecision = { verdict: "accept", context: undefined }
const rejected: HelloDecision = { verdict: "reject", context: undefined }

/**
 * The sans-IO state of one driven `SSL`: memory BIOs attached, callbacks bound to this object.
 * One engine per native `SSL` (a second attach finds the BIOs and fails with `DriverConflict`).
 *
 * Each operation exists twice: `unsafe*` runs synchronously and throws `SslError` (what the
 * drivers call, one native step after another with no Effect in between), and the `TlsEngine`
 * member wraps it as one Effect operation.
 */
export class Engine implements TlsEngine.TlsEngine {
  readonly role: "client" | "server"
  readonly #io: Io
  readonly #handshake: Handshake
  readonly #ref: NativeRef
  #latestSession: NativeRef | undefined
  #sessionsSeen = 0
  #onSession: (() => void) | undefined
  #hello: Fiber.RuntimeFiber<HelloDecision, unknown> | undefined
  #decision: HelloDecision | undefined
  #detached = false
  #driven = false

  constructor(
    readonly openssl: OpenSsl,
    readonly ssl: Ssl,
    readonly lease: Lease,
    readonly options: TlsEngine.Options,
    readonly runtime: Runtime.Runtime<never>
  ) {
    this.role = options.role
    this.#io = capability(openssl, "io", "TlsEngine")
    this.#handshake = openssl.handshake
    this.#ref = lease.ref
  }

  get sessionsSeen(): number {
    return this.#sessionsSeen
  }

  /** Called after each new session (the driver wakes `awaitSession`); one listener. */
  set onSession(listener: (() => void) | undefined) {
    this.#onSession = listener
  }

  /** Become the engine's one driver: false when it has one already. */
  claimDriver(): boolean {
    if (this.#driven) return false
    this.#driven = true
    return true
  }

  /** The native ref, or `ReleasedHandleError` when the handle or the engine is gone. */
  live(operation: string): NativeRef {
    if (this.#detached || this.lease.released) throw new ReleasedHandleError({ kind: "SSL", operation })
    return this.#ref
  }

  // ---------------------------------------------------------------------------------------------
  // Synchronous steps (throw SslError)

  /** A callback that threw while the native call still succeeded fails the call, here. */
  #surfaceCallbackFailure(operation: string): void {
    const failure = this.#io.takeCallbackFailure(this.#ref)
    if (failure !== undefined) throw new TlsError({ reason: "Callback", operation, cause: failure.cause })
  }

  unsafeHandshakeStep(): HandshakeStep {
    const step = this.#handshake.step(this.live("TlsEngine.handshakeStep"))
    this.#surfaceCallbackFailure("handshake")
    return step
  }

  unsafeFeed(bytes: Uint8Array): void {
    this.#io.feed(this.live("TlsEngine.feed"), bytes)
  }

  unsafeEndInput(): void {
    this.#io.inputEnded(this.live("TlsEngine.endInput"))
  }

  /** Everything waiting for the peer as one fresh buffer (the transport may keep it), if any. */
  unsafeTakeOutput(): Uint8Array | undefined {
    const ref = this.live("TlsEngine.takeOutput")
    const pending = this.#io.pendingOutput(ref)
    if (pending === 0) return undefined
    const out = carveOutput(this.#io, pending)
    const n = this.#io.drain(ref, out)
    return n === pending ? out : out.subarray(0, n)
  }

  unsafeTakeOutputInto(into: Uint8Array): number {
    return this.#io.drain(this.live("TlsEngine.takeOutputInto"), into)
  }

  /** `SSL_read` into `into`: a byte count > 0, or the status. */
  unsafeReadInto(into: Uint8Array): number | TlsEngine.ReadStatus {
    const n = this.#io.read(this.live("TlsEngine.read"), into)
    this.#surfaceCallbackFailure("read")
    return n > 0 ? n : readStatus(n)
  }

  /**
   * One `SSL_read`. Plaintext is handed out without a copy when it fills a good part of the
   * buffer it was read into (bulk transfers: full 16 KiB records), which then belongs to the
   * caller; a short read is copied out and the buffer kept for the next read.
   */
  unsafeReadChunk(): TlsEngine.ReadStep {
    // Taken out of the shared slot for the call: a callback inside SSL_read that reads another
    // engine allocates its own instead of writing into this one.
    const buffer = sharedReadBuffer ?? this.#io.allocate(READ_SIZE)
    sharedReadBuffer = undefined
    let handedOut = false
    try {
      const n = this.unsafeReadInto(buffer)
      if (typeof n !== "number") return n
      if (n < KEEP_THRESHOLD) return buffer.slice(0, n)
      handedOut = true
      return buffer.subarray(0, n)
    } finally {
      if (!handedOut) sharedReadBuffer = buffer
    }
  }

  unsafeWrite(data: Uint8Array): TlsEngine.WriteStep {
    const n = this.#io.write(this.live("TlsEngine.write"), data)
    this.#surfaceCallbackFailure("write")
    if (n >= 0) return n
    if (n === IoStatus.WantRead) return "want-read"
    if (n === IoStatus.WantWrite) return "want-write"
    throw new TlsError({ reason: "Closed", operation: "TlsEngine.write" })
  }

  unsafeShutdown(): "sent" | "done" {
    return this.#io.shutdown(this.live("TlsEngine.shutdown"))
  }

  unsafeInfo(): TlsInfo {
    const pki = capability(this.openssl, "pki", "TlsEngine.info")
    return withLazyChain(this.#io.info(this.live("TlsEngine.info")), pki.parseCertificate)
  }

  // ---------------------------------------------------------------------------------------------
  // The same steps as Effects (the public sans-IO engine)

  readonly handshakeStep: Effect.Effect<HandshakeStep, SslError> = step("handshake", () => this.unsafeHandshakeStep())
  readonly endInput: Effect.Effect<void, SslError> = step("endInput", () => this.unsafeEndInput())
  readonly takeOutput: Effect.Effect<Option.Option<Uint8Array>, SslError> = step(
    "takeOutput",
    () => Option.fromNullable(this.unsafeTakeOutput())
  )
  readonly readStep: Effect.Effect<TlsEngine.ReadStep, SslError> = step("read", () => this.unsafeReadChunk())
  readonly shutdownStep: Effect.Effect<"sent" | "done", SslError> = step("shutdown", () => this.unsafeShutdown())
  readonly info: Effect.Effect<TlsInfo, SslError> = step("info", () => this.unsafeInfo())

  feed(bytes: Uint8Array): Effect.Effect<void, SslError> {
    return step("feed", () => this.unsafeFeed(bytes))
  }

  takeOutputInto(into: Uint8Array): Effect.Effect<number, SslError> {
    return step("takeOutputInto", () => this.unsafeTakeOutputInto(into))
  }

  readInto(into: Uint8Array): Effect.Effect<number | TlsEngine.ReadStatus, SslError> {
    return step("readInto", () => this.unsafeReadInto(into))
  }

  writeStep(data: Uint8Array): Effect.Effect<TlsEngine.WriteStep, SslError> {
    return step("write", () => this.unsafeWrite(data))
  }

  feedAndReadInto(bytes: Uint8Array, into: Uint8Array): Effect.Effect<TlsEngine.ReadResult, SslError> {
    return step("feedAndReadInto", (): TlsEngine.ReadResult => {
      this.unsafeFeed(bytes)
      let read = 0
      while (read < into.length) {
        const n = this.unsafeReadInto(read === 0 ? into : into.subarray(read))
        if (typeof n !== "number") return { read, status: n }
        read += n
      }
      return { read, status: "full" }
    })
  }

  writeAndTakeInto(data: Uint8Array, into: Uint8Array): Effect.Effect<TlsEngine.WriteResult, SslError> {
    return step("writeAndTakeInto", (): TlsEngine.WriteResult => {
      let written = 0
      let status: TlsEngine.WriteResult["status"] = "done"
      while (written < data.length) {
        const n = this.unsafeWrite(written === 0 ? data : data.subarray(written))
        if (typeof n !== "number") {
          status = n
          break
        }
        written += n
      }
      return { written, output: this.unsafeTakeOutputInto(into), status }
    })
  }

  exportKeyingMaterial(label: string, length: number, context?: Uint8Array): Effect.Effect<Uint8Array, SslError> {
    return step("exportKeyingMaterial", () => {
      checkExport(label, length, context)
      return this.#io.exportKeyingMaterial(this.live("TlsEngine.exportKeyingMaterial"), label, length, context)
    })
  }

  /**
   * Another reference to the latest session, in the caller's scope. The field is read and the
   * session up-ref'd in one synchronous step, after checking the engine is still attached: the
   * new-session callback (a newer ticket) and `detach` (the connection's scope closing) free the
   * session the field points to, and any Effect operation in between would let them run first.
   */
  readonly session: Effect.Effect<Option.Option<SslSession>, SslError, Scope.Scope> = Effect.suspend(() =>
    takeSession(this.openssl, this.ssl.context, () => {
      this.live("TlsEngine.session")
      return this.#latestSession
    })
  )

  // ---------------------------------------------------------------------------------------------
  // ClientHello work

  /** The pending ClientHello work, when the handshake paused for it. */
  get pendingHello(): Fiber.RuntimeFiber<HelloDecision, unknown> | undefined {
    return this.#hello
  }

  /**
   * When the handshake paused for ClientHello work: call `then` once the work is done and its
   * decision recorded (with the failure, if it failed; the decision is then "reject", so the
   * next handshake step sends the alert). Returns false when no work is pending.
   */
  whenHelloDecided(then: (failure: TlsError | undefined) => void): boolean {
    const fiber = this.#hello
    if (fiber === undefined) return false
    fiber.addObserver((exit) => then(this.#decided(exit)))
    return true
  }

  readonly awaitClientHello: Effect.Effect<void, SslError> = Effect.suspend(() =>
    this.#hello === undefined ? Effect.void : Effect.async<void, SslError>((resume) => {
      this.whenHelloDecided((failure) => {
        if (failure === undefined) return resume(Effect.void)
        // One more step: the callback now rejects, so OpenSSL queues its handshake_failure alert
        // for the peer (without it the peer waits for an answer until its own timeout).
        resume(Effect.zipRight(Effect.ignore(this.handshakeStep), Effect.fail(failure)))
      })
    })
  )

  #decided(exit: Exit.Exit<HelloDecision, unknown>): TlsError | undefined {
    if (this.#hello === undefined) return undefined // already recorded (several observers)
    this.#hello = undefined
    if (Exit.isSuccess(exit)) {
      this.#decision = exit.value
      return undefined
    }
    this.#decision = rejected
    return new TlsError({ reason: "Callback", operation: "clientHello", cause: exit.cause })
  }

  /**
   * The native client-hello callback: the options decide, synchronously when they return plain
   * values, otherwise in a fiber while the handshake is paused (`"retry"`).
   */
  #onClientHello(hello: ClientHelloInfo): "accept" | "retry" | "reject" {
    if (this.#decision !== undefined) return this.#decision.verdict
    if (this.#hello !== undefined) return "retry"
    const decision = decide(this.options, hello)
    if (!Effect.isEffect(decision)) {
      this.#decision = decision
      return decision.verdict
    }
    this.#hello = Runtime.runFork(this.runtime)(decision)
    return "retry"
  }

  callbacks(): SslCallbacks {
    const { alpnMismatch, alpnSelect, clientHello, keylog, role, sni, verify } = this.options
    const serverAlpn = role === "server" ? this.ssl.context.config.alpnProtocols : undefined
    const choose = alpnSelect ??
      (serverAlpn === undefined ?
        undefined :
        (offered: ReadonlyArray<string>) => serverAlpn.find((p) => offered.includes(p)))
    return {
      verify,
      keylog,
      newSession: (session) => {
        if (this.#detached) return false
        const previous = this.#latestSession
        this.#latestSession = session
        this.#sessionsSeen++
        if (previous !== undefined) capability(this.openssl, "sessions", "newSession").free(previous)
        this.#onSession?.()
        return true
      },
      clientHello: clientHello === undefined && sni === undefined ? undefined : (hello) => this.#onClientHello(hello),
      sni: sni === undefined ? undefined : () => {
        const context = this.#decision?.context
        if (context === "refuse") return "reject"
        // Checked and installed in this one call (SSL_set_SSL_CTX takes its own reference).
        return context === undefined ? undefined : contextLease(context).unsafeRef("sni")
      },
      alpnSelect: choose === undefined ? undefined : (offered) => {
        const chosen = choose(offered)
        if (chosen !== undefined) return chosen
        return alpnMismatch === "continue" ? undefined : false
      }
    }
  }

  /** Unbind the callbacks and free the retained session; stop pending ClientHello work. */
  detach(): void {
    if (this.#detached) return
    this.#detached = true
    this.#onSession = undefined
    // Unbinding touches no native memory (the binding keeps callbacks by id), so it is safe
    // whether or not the SSL went first.
    this.#io.setCallbacks(this.#ref, undefined)
    if (this.#latestSession !== undefined) capability(this.openssl, "sessions", "detach").free(this.#latestSession)
    this.#latestSession = undefined
  }
}

/** A synchronous engine step as one Effect operation (`SslError`s fail it; nothing else escapes). */
const step = <A>(name: string, f: () => A): Effect.Effect<A, SslError> =>
  Effect.suspend(() => {
    try {
      return Effect.succeed(f())
    } catch (e) {
      return Effect.fail(toSslError(`TlsEngine.${name}`, e))
    }
  })

/**
 * The server's decision for a ClientHello from the `clientHello` and `sni` options: a value when
 * both answer synchronously, an Effect when either needs to run one.
 */
const decide = (
  options: TlsEngine.Options,
  hello: ClientHelloInfo
): HelloDecision | Effect.Effect<HelloDecision, unknown> => {
  const { clientHello, sni } = options
  const verdict = clientHello === undefined ? true : clientHello(hello)
  const afterVerdict = (ok: boolean) => {
    if (!ok) return rejected
    if (sni === undefined) return accepted
    const choice = sni(hello.serverName)
    // An Option is an Effect too: test for the plain answers first.
    return choice === "refuse" || Option.isOption(choice) ? toDecision(choice) : Effect.map(choice, toDecision)
  }
  return Effect.isEffect(verdict) ? Effect.flatMap(verdict, (ok) => lift(afterVerdict(ok))) : afterVerdict(verdict)
}

const toDecision = (choice: TlsEngine.SniChoice): HelloDecision =>
  choice === "refuse"
    ? { verdict: "accept", context: "refuse" }
    : { verdict: "accept", context: Option.getOrUndefined(choice) }

const lift = <A>(value: A | Effect.Effect<A, unknown>): Effect.Effect<A, unknown> =>
  Effect.isEffect(value) ? value : Effect.succeed(value)

/**
 * Attach memory BIOs and callbacks to `ssl` and become its only driver, until the scope closes.
 * Acquire and release are synchronous, held in the scope's leases list (see `acquireSync`):
 * this is on the path of every connection.
 */
export const attach = (ssl: Ssl, options: TlsEngine.Options): Effect.Effect<Engine, SslError, Scope.Scope> => {
  const engine = Effect.flatMap(
    Effect.runtime<never>(),
    (runtime) => acquireSync("TlsEngine.attach", () => unsafeAttach(ssl, options, runtime), (engine) => engine.detach())
  )
  if (options.clientHello === undefined && options.sni === undefined) return engine
  // ClientHello work nobody waits for any more (a handshake timed out or was interrupted) stops
  // with the engine, and the scope waits for it to stop, instead of it running on unsupervised.
  return Effect.tap(
    engine,
    (e) =>
      Effect.addFinalizer(() =>
        Effect.suspend(() => e.pendingHello === undefined ? Effect.void : Fiber.interrupt(e.pendingHello))
      )
  )
}

/**
 * `attach`'s synchronous step (throws `SslError`): the caller releases the engine with
 * `detach`, and stops its pending ClientHello work (`pendingHello`) if it has any.
 */
export const unsafeAttach = (ssl: Ssl, options: TlsEngine.Options, runtime: Runtime.Runtime<never>): Engine => {
  const lease = sslLease(ssl)
  const ref = lease.unsafeRef("TlsEngine.attach")
  const openssl = lease.openssl
  const engine = new Engine(openssl, ssl, lease, options, runtime)
  openssl.handshake.attachMemory(ref)
  openssl.handles.sslSetRole(ref, options.role)
  capability(openssl, "io", "TlsEngine.attach").setCallbacks(ref, engine.callbacks())
  return engine
}
