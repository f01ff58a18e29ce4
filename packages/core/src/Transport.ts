/**
 * A byte transport under TLS: where ciphertext goes and comes from. The engine is sans-IO; a
 * `Transport` is how the drivers in `TlsConnection` move its bytes over anything: a TCP socket,
 * an `@effect/platform` `Socket`, a Node stream, or memory.
 *
 * A transport has two forms of the same byte stream:
 *
 * - the Effect form, `send` / `receive` / `end`: what you implement for a transport of your
 *   own, and what test peers use to play raw bytes;
 * - the push form, `PushTransport`: received chunks are handed to a sink as they arrive and
 *   sends are plain calls, so a driver moves each chunk through the engine in one synchronous
 *   step, with no fiber or promise per chunk. Node sockets have it natively (`NodeTransport`);
 *   `push` derives it from the Effect form for any other transport.
 *
 * Use one form or the other on a given transport, not both.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Runtime from "effect/Runtime"
import type * as Scope from "effect/Scope"

/**
 * The transport failed or was closed under the connection.
 *
 * @since 0.1.0
 * @category errors
 */
export class TransportError extends Data.TaggedError("TransportError")<{
  readonly reason: "Closed" | "Failed"
  readonly cause?: unknown
}> {
  /** @since 0.1.0 */
  override get message(): string {
    const cause = this.cause instanceof Error ? this.cause.message : this.cause
    return `transport ${this.reason === "Closed" ? "closed" : "failed"}${
      cause === undefined ? "" : `: ${String(cause)}`
    }`
  }
}

/**
 * Where a push transport delivers what it receives. Each method is called synchronously, in
 * order; `end` or `error` comes at most once, and nothing after it.
 *
 * @since 0.1.0
 * @category models
 */
export interface PushSink {
  /** The next chunk from the peer; the sink owns it from now on. */
  readonly data: (chunk: Uint8Array) => void
  /** The peer ended its direction (end of stream). */
  readonly end: () => void
  /** The transport failed; nothing more will be delivered or sent. */
  readonly error: (error: TransportError) => void
  /** Sends may go on: what `send` buffered went below its high-water mark. */
  readonly drain: () => void
}

/**
 * The push form of a transport.
 *
 * @since 0.1.0
 * @category models
 */
export interface PushTransport {
  /** Start delivering to `sink` (once). */
  readonly open: (sink: PushSink) => void
  /**
   * Send `bytes` (the transport owns them from now on). `false`: the transport buffers more than
   * it wants to; hold further sends until `drain`. A failure arrives at the sink's `error`.
   */
  readonly send: (bytes: Uint8Array) => boolean
  /** Stop delivering (the peer is slowed down by the transport's own flow control), and go on. */
  readonly pause: () => void
  readonly resume: () => void
  /** End the sending direction once everything sent went out. */
  readonly end: () => void
}

/**
 * A bidirectional byte stream.
 *
 * @since 0.1.0
 * @category models
 */
export interface Transport {
  /** Send bytes to the peer. The transport owns `bytes` after the call (callers pass a fresh copy). */
  readonly send: (bytes: Uint8Array) => Effect.Effect<void, TransportError>
  /** The next chunk from the peer, or `None` at end of stream. */
  readonly receive: Effect.Effect<Option.Option<Uint8Array>, TransportError>
  /** End the sending direction; the peer's `receive` then reports end of stream. */
  readonly end: Effect.Effect<void>
  /** The same stream in push form, when the transport has one of its own (see `push`). */
  readonly pushForm?: PushTransport | undefined
}

/** Bytes `push` lets queue for sending before `send` says to wait. */
const SEND_HIGH_WATER = 256 * 1024

/**
 * The push form of `transport`: its own, or one run over its Effect form by two fibers of the
 * scope (one receives and delivers, one sends what was queued, in order). Closing the scope
 * lets the queued sends go out first, for at most `linger` (default 5 seconds), then stops both.
 *
 * @since 0.1.0
 * @category conversions
 */
export const push = (
  transport: Transport,
  options: { readonly linger?: Duration.DurationInput | undefined } = {}
): Effect.Effect<PushTransport, never, Scope.Scope> =>
  transport.pushForm !== undefined ?
    Effect.succeed(transport.pushForm) :
    overEffects(transport, Duration.decode(options.linger ?? "5 seconds"))

const overEffects = (
  transport: Transport,
  linger: Duration.Duration
): Effect.Effect<PushTransport, never, Scope.Scope> =>
  Effect.gen(function*() {
    const runtime = yield* Effect.runtime<never>()
    const runFork = Runtime.runFork(runtime)
    let sink: PushSink | undefined
    let failed = false
    /** Open while nothing is queued for sending. */
    const idle = Effect.unsafeMakeLatch(true)
    const fail = (error: TransportError) => {
      if (failed) return
      failed = true
      idle.unsafeOpen() // nothing queued will go out any more
      sink?.error(error)
    }

    // Receiving: one fiber, paused by a latch.
    const flowing = Effect.unsafeMakeLatch(true)
    const receiving = Effect.gen(function*() {
      for (;;) {
        yield* flowing.await
        const chunk = yield* transport.receive
        if (Option.isNone(chunk)) return sink?.end()
        sink?.data(chunk.value)
      }
    }).pipe(Effect.catchAll((error) => Effect.sync(() => fail(error))))

    // Sending: a queue drained in order by one fiber, woken when sends arrive.
    const queue: Array<Uint8Array | "end"> = []
    let queued = 0
    let blocked = false
    const wake = Effect.unsafeMakeLatch(false)
    const sending = Effect.gen(function*() {
      for (;;) {
        yield* wake.await
        wake.unsafeClose()
        for (let item = queue[0]; item !== undefined; item = queue[0]) {
          if (item === "end") {
            yield* transport.end
            queue.shift()
            continue
          }
          yield* transport.send(item)
          queue.shift()
          queued -= item.length
          if (blocked && queued < SEND_HIGH_WATER / 2) {
            blocked = false
            sink?.drain()
          }
        }
        idle.unsafeOpen()
      }
    }).pipe(Effect.catchAll((error) => Effect.sync(() => fail(error))))

    let receiver: Fiber.RuntimeFiber<void> | undefined
    const sender = runFork(sending)
    // Let what was queued go out (a close_notify sent at scope close among it), for a bounded
    // time, then stop both fibers.
    yield* Effect.addFinalizer(() =>
      Effect.zipRight(
        Effect.ignore(Effect.timeout(Effect.interruptible(idle.await), linger)),
        Effect.suspend(() => Fiber.interruptAll(receiver === undefined ? [sender] : [sender, receiver]))
      )
    )
    return {
      open: (s) => {
        sink = s
        receiver = runFork(receiving)
      },
      send: (bytes) => {
        if (failed) return false
        idle.unsafeClose()
        queue.push(bytes)
        queued += bytes.length
        wake.unsafeOpen()
        if (queued >= SEND_HIGH_WATER) blocked = true
        return !blocked
      },
      pause: () => flowing.unsafeClose(),
      resume: () => flowing.unsafeOpen(),
      end: () => {
        idle.unsafeClose()
        queue.push("end")
        wake.unsafeOpen()
      }
    } satisfies PushTransport
  })

const END = Symbol("end")
type Item = Uint8Array | typeof END

/**
 * A connected in-memory pair: what one side sends, the other receives, in order. Unbounded
 * and lossless; `end` on one side is end of stream on the other. Shut down with the scope.
 *
 * @since 0.1.0
 * @category constructors
 */
export const memoryPair: Effect.Effect<readonly [Transport, Transport], never, Scope.Scope> = Effect.gen(function*() {
  const aToB = yield* Effect.acquireRelease(Queue.unbounded<Item>(), Queue.shutdown)
  const bToA = yield* Effect.acquireRelease(Queue.unbounded<Item>(), Queue.shutdown)
  return [side(bToA, aToB), side(aToB, bToA)] as const
})

const side = (incoming: Queue.Queue<Item>, outgoing: Queue.Queue<Item>): Transport => {
  let ended = false
  let peerEnded = false
  return {
    send: (bytes) =>
      Effect.suspend(() =>
        ended
          ? Effect.fail(new TransportError({ reason: "Closed" }))
          : Effect.asVoid(Queue.offer(outgoing, bytes))
      ),
    receive: Effect.suspend(() =>
      peerEnded
        ? Effect.succeed(Option.none())
        : Effect.map(Queue.take(incoming), (item) => {
          if (item === END) {
            peerEnded = true
            return Option.none()
          }
          return Option.some(item)
        })
    ),
    end: Effect.suspend(() => {
      if (ended) return Effect.void
      ended = true
      return Effect.asVoid(Queue.offer(outgoing, END))
    })
  }
}
