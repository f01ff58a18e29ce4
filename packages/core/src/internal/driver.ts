import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import type { SslError } from "../SslError.js"
import { TlsError } from "../SslError.js"
import type { SslSession } from "../SslSession.js"
import type { Consumer, Subscription, TlsConnectionError } from "../TlsConnection.js"
import type { PushSink, PushTransport } from "../Transport.js"
import { TransportError } from "../Transport.js"
import type { Engine } from "./engine.js"
import { toSslError } from "./native.js"
import { within } from "./timeout.js"

/** Plaintext bytes queued for `read` before the transport is paused (input backpressure). */
const QUEUE_HIGH_WATER = 256 * 1024
/**
 * Plaintext handed to one `SSL_write`. A larger write goes out in slices, each flushed to the
 * transport, so a write that meets backpressure stops between slices instead of encrypting
 * everything into memory first.
 */
const WRITE_SLICE = 256 * 1024

type Done = (error: TlsConnectionError | undefined) => void

/** A write (or the close of the writing side) waiting its turn, or part-written. */
interface PendingWrite {
  readonly data: Uint8Array
  offset: number
  /** Send close_notify and end the transport once the data is out. */
  readonly end: boolean
  readonly done: Done
}

/**
 * Moves bytes between an engine and a push transport. Everything happens in synchronous steps
 * when the transport reports an event: a chunk is fed, the handshake advanced or every record
 * that is complete read, and all the output taken and sent as one chunk, with no Effect
 * operation, fiber or promise in between. Effects appear only where a caller waits (`read` with
 * nothing queued, a `write` held by backpressure, the handshake, `close`).
 *
 * Reading is eager: records are read as they arrive (tickets and alerts are processed whether
 * or not anyone reads) and their plaintext queued, up to `QUEUE_HIGH_WATER`, above which the
 * transport is paused. A subscribed consumer (`unsafe.subscribe`) gets plaintext directly
 * instead, and pauses the same way.
 *
 * Writes run in order, one at a time: a write completes (its ciphertext handed to the
 * transport) before the next one starts, so concurrent writes never interleave.
 *
 * The first failure (a TLS error, or the transport's) ends the connection. Whoever was waiting
 * gets it as it is, and so does the first caller after it; later calls fail with `TlsError`
 * `"Closed"` carrying it, since OpenSSL answers any call on a failed `SSL` with an empty
 * error queue that would read as something else.
 */
export class Driver {
  #established = false
  #failure: SslError | TransportError | undefined
  #failureReported = false
  #peerClosed = false
  #inputEnded = false
  /** No more writes are accepted (a close of the writing side is queued or done). */
  #writeClosed = false
  #closeNotifySent = false
  #disposed = false
  #discardInput = false

  readonly #queue: Array<Uint8Array> = []
  #queued = 0
  readonly #readers: Array<(result: Effect.Effect<Option.Option<Uint8Array>, TlsConnectionError>) => void> = []
  #consumer: Consumer | undefined
  #consumerPaused = false
  #transportPaused = false

  readonly #writes: Array<PendingWrite> = []
  #sendBlocked = false

  /** Woken when the handshake completes, the peer closes or the connection fails. */
  readonly #watchers = new Set<() => void>()

  /** TLS bytes received and sent (for metrics). */
  #bytesReceived = 0
  #bytesSent = 0
  #idleTimer: ReturnType<typeof setTimeout> | undefined
  /** Handshake timers still running (`onHandshake`), stopped by `dispose`. */
  readonly #timers = new Set<ReturnType<typeof setTimeout>>()

  constructor(
    readonly engine: Engine,
    readonly transport: PushTransport,
    readonly closeTimeout: Duration.Duration,
    /** Close the connection after this long with no data either way (undefined: never). */
    readonly idleTimeout: Duration.Duration | undefined
  ) {}

  get traffic(): { readonly received: number; readonly sent: number } {
    return { received: this.#bytesReceived, sent: this.#bytesSent }
  }

  /** Open the transport and start the handshake (a client's first flight goes out at once). */
  start(): void {
    const sink: PushSink = {
      data: (chunk) => this.#onData(chunk),
      end: () => this.#onEnd(),
      error: (error) => this.#onError(error),
      drain: () => this.#onDrain()
    }
    this.engine.onSession = () => this.#notify()
    this.transport.open(sink)
    if (this.engine.role === "client") this.#pump()
  }

  // -------------------------------------------------------------------------------------------
  // Transport events

  #onData(chunk: Uint8Array): void {
    if (this.#disposed || this.#failure !== undefined) return
    this.#bytesReceived += chunk.length
    this.#idleTimer?.refresh()
    try {
      this.engine.unsafeFeed(chunk)
    } catch (e) {
      return this.#fail(toSslError("feed", e))
    }
    this.#pump()
  }

  #onEnd(): void {
    if (this.#disposed || this.#failure !== undefined) return
    this.#inputEnded = true
    try {
      this.engine.unsafeEndInput()
    } catch (e) {
      return this.#fail(toSslError("endInput", e))
    }
    this.#pump()
    this.#notify()
  }

  /**
   * The transport failed. What the peer sent before (an alert explaining why, say) was fed and
   * read as it arrived; read what may still be waiting, so that a TLS failure it carries is the
   * one reported rather than the transport's.
   */
  #onError(error: TransportError): void {
    if (this.#disposed || this.#failure !== undefined) return
    this.#sendBlocked = true // nothing more can be sent
    if (this.#established) {
      this.#discardInput = false
      this.#tryRead(true)
    }
    this.#fail(error)
  }

  #onDrain(): void {
    if (this.#disposed || this.#failure !== undefined) return
    this.#sendBlocked = false
    this.#continueWrites()
  }

  // -------------------------------------------------------------------------------------------
  // The synchronous step

  #pump(): void {
    if (this.#disposed || this.#failure !== undefined) return
    try {
      if (!this.#established && !this.#advanceHandshake()) return this.#flush()
      this.#readAvailable(false)
      this.#flush()
      this.#continueWrites()
    } catch (e) {
      this.#fail(toSslError("read", e))
    }
  }

  /** Step the handshake as far as the input allows: true once it is done. */
  #advanceHandshake(): boolean {
    for (;;) {
      const step = this.engine.unsafeHandshakeStep()
      if (step === "done") {
        this.#established = true
        this.#startIdleTimer()
        this.#notify()
        return true
      }
      this.#flush()
      if (step === "want-read") return false
      if (step === "want-client-hello") {
        this.engine.whenHelloDecided((failure) =>
          // Not within the observer: it may run inside the fiber that just finished.
          queueMicrotask(() => failure === undefined ? this.#pump() : this.#refuseHello(failure))
        )
        return false
      }
    }
  }

  /** ClientHello work failed: one more step queues OpenSSL's alert for the peer, then fail. */
  #refuseHello(failure: TlsError): void {
    if (this.#disposed || this.#failure !== undefined) return
    try {
      this.engine.unsafeHandshakeStep()
    } catch {
      // the step fails: that is the point, its alert is what we send
    }
    this.#fail(failure)
  }

  /** Read every complete record now (unless input backpressure says to wait), queue or deliver. */
  #readAvailable(ignoreBackpressure: boolean): void {
    while (!this.#peerClosed && (ignoreBackpressure || !this.#backpressured())) {
      const step = this.engine.unsafeReadChunk()
      if (step instanceof Uint8Array) this.#deliver(step)
      else if (step === "closed") this.#peerCloses()
      else if (step === "want-write") this.#flush()
      else break
    }
    if (!ignoreBackpressure && this.#backpressured() && !this.#transportPaused) {
      this.#transportPaused = true
      this.transport.pause()
    }
  }

  /** As `#readAvailable`, recording a failure instead of throwing it. */
  #tryRead(ignoreBackpressure: boolean): void {
    try {
      this.#readAvailable(ignoreBackpressure)
      this.#flush()
    } catch (e) {
      this.#fail(toSslError("read", e))
    }
  }

  #backpressured(): boolean {
    return this.#consumer !== undefined ? this.#consumerPaused : this.#queued >= QUEUE_HIGH_WATER
  }

  #deliver(chunk: Uint8Array): void {
    if (this.#discardInput) return
    if (this.#consumer !== undefined) {
      if (!this.#consumer.data(chunk)) this.#consumerPaused = true
      return
    }
    const reader = this.#readers.shift()
    if (reader !== undefined) return reader(Effect.succeed(Option.some(chunk)))
    this.#queue.push(chunk)
    this.#queued += chunk.length
  }

  #peerCloses(): void {
    this.#peerClosed = true
    this.#consumer?.end()
    for (const reader of this.#readers.splice(0)) reader(Effect.succeed(Option.none()))
    this.#notify()
  }

  /** Send everything the engine has for the peer as one chunk. */
  #flush(): void {
    const out = this.engine.unsafeTakeOutput()
    if (out === undefined) return
    this.#bytesSent += out.length
    this.#idleTimer?.refresh()
    if (!this.transport.send(out)) this.#sendBlocked = true
  }

  #startIdleTimer(): void {
    if (this.idleTimeout === undefined) return
    this.#idleTimer = setTimeout(() => this.#idle(), Duration.toMillis(this.idleTimeout))
  }

  /** Nothing either way for the idle timeout: close_notify, and the connection ends. */
  #idle(): void {
    if (this.#disposed || this.#failure !== undefined) return
    try {
      this.#writeClosed = true
      this.#sendCloseNotify()
    } catch {
      // the engine is gone: nothing to send
    }
    this.#fail(
      new TlsError({
        reason: "Timeout",
        operation: `idle: no data either way for ${Duration.format(this.idleTimeout!)}`
      })
    )
  }

  /** Resume reading after the queue (or the consumer) took enough. */
  #relieve(): void {
    if (!this.#transportPaused || this.#backpressured() || this.#disposed) return
    this.#transportPaused = false
    this.#tryRead(false)
    if (!this.#transportPaused && this.#failure === undefined) this.transport.resume()
  }

  // -------------------------------------------------------------------------------------------
  // Failure

  #fail(error: SslError | TransportError): void {
    if (this.#failure !== undefined) return
    this.#failure = error
    clearTimeout(this.#idleTimer)
    // A failing step may have queued a fatal alert for the peer: send it, or the peer waits for
    // bytes that never come until the transport closes.
    if (!(error instanceof TransportError)) {
      try {
        this.#flush()
      } catch {
        // the engine is gone: nothing to send
      }
    }
    const waiting = this.#readers.length + this.#writes.length > 0 || this.#consumer !== undefined
    if (waiting) this.#failureReported = true
    for (const reader of this.#readers.splice(0)) reader(Effect.fail(error))
    for (const write of this.#writes.splice(0)) write.done(error)
    this.#consumer?.error(error)
    this.#notify()
  }

  /** The failure as the next caller should see it: itself the first time, then as `"Closed"`. */
  #failed(operation: string): TlsConnectionError {
    const failure = this.#failure!
    if (!this.#failureReported) {
      this.#failureReported = true
      return failure
    }
    return new TlsError({ reason: "Closed", operation: `${operation}: the connection failed`, cause: failure })
  }

  #notify(): void {
    for (const watcher of this.#watchers) watcher()
  }

  /** Wait until `ready` holds (checked now and after every event), then run `then`. */
  #until<A, E>(
    ready: () => boolean,
    then: () => Effect.Effect<A, E>
  ): Effect.Effect<A, E> {
    return Effect.suspend(() =>
      ready() ? then() : Effect.flatMap(
        Effect.async<void>((resume) => {
          // Checked again: an event may have come between the check above and now.
          if (ready()) return resume(Effect.void)
          const watcher = () => {
            if (!ready()) return
            this.#watchers.delete(watcher)
            resume(Effect.void)
          }
          this.#watchers.add(watcher)
          return Effect.sync(() => this.#watchers.delete(watcher))
        }),
        then
      )
    )
  }

  // -------------------------------------------------------------------------------------------
  // Writing

  #writeRefusal(operation: string): TlsConnectionError | undefined {
    if (this.#failure !== undefined) return this.#failed(operation)
    if (this.#writeClosed || this.#disposed) {
      return new TlsError({ reason: "Closed", operation: `${operation} after close` })
    }
    return undefined
  }

  /**
   * Write `data` (and with `end`, then close the writing side): returns true when it completed
   * at once, otherwise `done` is called when it completes or fails.
   */
  #write(data: Uint8Array, end: boolean, operation: string, done: Done): boolean {
    const refused = this.#writeRefusal(operation)
    if (refused !== undefined) {
      done(refused)
      return false
    }
    if (end) this.#writeClosed = true
    const write: PendingWrite = { data, offset: 0, end, done }
    this.#writes.push(write)
    if (this.#writes.length === 1 && this.#established) {
      try {
        if (this.#advance(write)) {
          this.#writes.shift()
          return true
        }
      } catch (e) {
        this.#writes.shift()
        this.#fail(toSslError(operation, e))
        done(this.#failed(operation))
        return false
      }
    }
    return false
  }

  /** Take as much of `write` as the transport allows: true when all of it went out. */
  #advance(write: PendingWrite): boolean {
    const { data } = write
    while (write.offset < data.length && !this.#sendBlocked) {
      const end = Math.min(data.length, write.offset + WRITE_SLICE)
      const step = this.engine.unsafeWrite(
        write.offset === 0 && end === data.length ? data : data.subarray(write.offset, end)
      )
      if (typeof step !== "number") {
        this.#flush()
        if (step === "want-read") return false // the next input continues it
        continue
      }
      write.offset += step
      this.#flush()
    }
    if (write.offset < data.length) return false
    if (write.end) this.#sendCloseNotify()
    return true
  }

  /** close_notify, and the end of the transport's sending side, once. */
  #sendCloseNotify(): void {
    if (this.#closeNotifySent) return
    this.#closeNotifySent = true
    this.engine.unsafeShutdown()
    this.#flush()
    this.transport.end()
  }

  #continueWrites(): void {
    while (this.#writes.length > 0 && this.#established && this.#failure === undefined) {
      const write = this.#writes[0]!
      try {
        if (!this.#advance(write)) return
      } catch (e) {
        return this.#fail(toSslError("write", e))
      }
      this.#writes.shift()
      write.done(undefined)
    }
  }

  // -------------------------------------------------------------------------------------------
  // The connection's operations

  /**
   * Call `then` once the handshake completed (with undefined) or the connection failed (with
   * the failure), at once if either already happened; past `timeout` the connection fails with
   * `TlsError` `"Timeout"`. A timer of the driver's own, not a race of fibers: this is on the
   * path of every connection. Returns the cancel (the timer stops, `then` is not called).
   */
  onHandshake(timeout: Duration.Duration, then: (failure: TlsConnectionError | undefined) => void): () => void {
    const outcome = () => this.#failure !== undefined ? this.#failed("handshake") : undefined
    if (this.#established || this.#failure !== undefined) {
      then(outcome())
      return () => {}
    }
    const timer = setTimeout(
      () => this.#fail(new TlsError({ reason: "Timeout", operation: "handshake" })),
      Duration.toMillis(timeout)
    )
    // A driver disposed before the handshake ends stops the timer too (nobody is told).
    this.#timers.add(timer)
    const cancel = () => {
      clearTimeout(timer)
      this.#timers.delete(timer)
      this.#watchers.delete(watcher)
    }
    const watcher = () => {
      if (!this.#established && this.#failure === undefined) return
      cancel()
      then(outcome())
    }
    this.#watchers.add(watcher)
    return cancel
  }

  /** `onHandshake` as an Effect. */
  awaitHandshake(timeout: Duration.Duration): Effect.Effect<void, TlsConnectionError> {
    return Effect.async((resume) => {
      const cancel = this.onHandshake(
        timeout,
        (failure) => resume(failure === undefined ? Effect.void : Effect.fail(failure))
      )
      return Effect.sync(cancel)
    })
  }

  /** A read that can be answered now, or undefined. */
  #readNow(): Effect.Effect<Option.Option<Uint8Array>, TlsConnectionError> | undefined {
    const chunk = this.#queue.shift()
    if (chunk !== undefined) {
      this.#queued -= chunk.length
      this.#relieve()
      return Effect.succeed(Option.some(chunk))
    }
    if (this.#peerClosed) return Effect.succeed(Option.none())
    if (this.#failure !== undefined) return Effect.fail(this.#failed("read"))
    if (this.#disposed) return Effect.fail(new TlsError({ reason: "Closed", operation: "read after close" }))
    return undefined
  }

  readonly read: Effect.Effect<Option.Option<Uint8Array>, TlsConnectionError> = Effect.suspend(() =>
    this.#readNow() ?? Effect.async<Option.Option<Uint8Array>, TlsConnectionError>((resume) => {
      // Checked again: a record may have come between the check above and now.
      const now = this.#readNow()
      if (now !== undefined) return resume(now)
      this.#readers.push(resume)
      return Effect.sync(() => {
        const at = this.#readers.indexOf(resume)
        if (at >= 0) this.#readers.splice(at, 1)
      })
    })
  )

  write(data: Uint8Array): Effect.Effect<void, TlsConnectionError> {
    return this.#writeEffect(data, false, "write")
  }

  #writeEffect(data: Uint8Array, end: boolean, operation: string): Effect.Effect<void, TlsConnectionError> {
    return Effect.suspend(() => {
      let outcome: { error: TlsConnectionError | undefined } | undefined
      let resume: ((effect: Effect.Effect<void, TlsConnectionError>) => void) | undefined
      const done: Done = (error) => {
        if (resume !== undefined) resume(error === undefined ? Effect.void : Effect.fail(error))
        else outcome = { error }
      }
      if (this.#write(data, end, operation, done)) return Effect.void
      if (outcome !== undefined) return outcome.error === undefined ? Effect.void : Effect.fail(outcome.error)
      return Effect.async<void, TlsConnectionError>((r) => {
        // Completed between the call above and now.
        if (outcome !== undefined) return r(outcome.error === undefined ? Effect.void : Effect.fail(outcome.error))
        resume = r
        // Interrupted while waiting: the write leaves the queue (what went out, went out whole
        // records; the rest is dropped).
        return Effect.sync(() => {
          const at = this.#writes.findIndex((w) => w.done === done)
          if (at >= 0) this.#writes.splice(at, 1)
        })
      })
    })
  }

  /** Send close_notify (once) after what is being written, and end the transport's sending side. */
  readonly closeWrite: Effect.Effect<void, TlsConnectionError> = Effect.suspend(() =>
    this.#writeClosed || this.#failure !== undefined
      ? Effect.void
      : this.#writeEffect(new Uint8Array(0), true, "closeWrite")
  )

  /** close_notify, then wait (bounded by the close timeout) for the peer's; plaintext still in flight is dropped. */
  readonly close: Effect.Effect<void, TlsConnectionError> = Effect.suspend(() => {
    this.#discardInput = true
    this.#queue.length = 0
    this.#queued = 0
    this.#relieve()
    return Effect.zipRight(
      this.closeWrite,
      within(
        this.#until(() => this.#peerClosed || this.#inputEnded || this.#failure !== undefined, () => Effect.void),
        this.closeTimeout,
        "close: no close_notify from the peer"
      )
    )
  })

  awaitSession(
    timeout: Duration.Duration
  ): Effect.Effect<Option.Option<SslSession>, TlsConnectionError, Scope.Scope> {
    const seen = this.engine.sessionsSeen
    const arrived = () => this.engine.sessionsSeen > seen || this.#peerClosed || this.#failure !== undefined
    const wait = seen > 0
      ? Effect.void
      : Effect.ignore(Effect.timeout(this.#until(arrived, () => Effect.void), timeout))
    return Effect.zipRight(wait, this.engine.session)
  }

  // -------------------------------------------------------------------------------------------
  // Callback forms, for adapters

  subscribe(consumer: Consumer): Subscription {
    this.#consumer = consumer
    this.#consumerPaused = false
    // What was queued before goes first, in order.
    for (let chunk = this.#queue.shift(); chunk !== undefined; chunk = this.#queue.shift()) {
      this.#queued -= chunk.length
      if (!consumer.data(chunk)) this.#consumerPaused = true
    }
    if (this.#peerClosed) consumer.end()
    else if (this.#failure !== undefined) consumer.error(this.#failed("read"))
    return {
      resume: () => {
        if (this.#consumer !== consumer || !this.#consumerPaused) return
        this.#consumerPaused = false
        if (this.#transportPaused) this.#relieve()
        else if (this.#established) this.#tryRead(false)
      },
      unsubscribe: () => {
        if (this.#consumer === consumer) this.#consumer = undefined
      }
    }
  }

  unsafeWrite(data: Uint8Array, done: Done): void {
    if (this.#write(data, false, "write", done)) done(undefined)
  }

  unsafeCloseWrite(done: Done): void {
    if (this.#writeClosed || this.#failure !== undefined) return done(undefined)
    if (this.#write(new Uint8Array(0), true, "closeWrite", done)) done(undefined)
  }

  // -------------------------------------------------------------------------------------------
  // Release

  /**
   * At scope close: an established connection that did not close its writing side sends
   * close_notify (so its session stays resumable), handed to the transport synchronously; the
   * transport's own release lets it out before closing. Everyone still waiting is told.
   */
  dispose(): void {
    if (this.#disposed) return
    if (this.#established && this.#failure === undefined) {
      try {
        this.#writeClosed = true
        this.#sendCloseNotify()
      } catch {
        // released under us: nothing to send
      }
    }
    this.#disposed = true
    clearTimeout(this.#idleTimer)
    for (const timer of this.#timers) clearTimeout(timer)
    this.#timers.clear()
    if (this.#readers.length + this.#writes.length > 0) {
      const closed = new TlsError({ reason: "Closed", operation: "the connection's scope closed" })
      for (const reader of this.#readers.splice(0)) reader(Effect.fail(closed))
      for (const write of this.#writes.splice(0)) write.done(closed)
    }
    this.#consumer = undefined
    this.#notify()
    this.#watchers.clear()
    this.engine.onSession = undefined
  }
}
