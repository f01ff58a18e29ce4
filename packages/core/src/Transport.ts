/**
 * A byte transport under TLS: where ciphertext goes and comes from. The engine is sans-IO; a
 * `Transport` is how the drivers in `TlsConnection` move its bytes over anything: a TCP socket,
 * an `@effect/platform` `Socket`, a Node stream, or memory.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
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
    return `transport ${this.reason === "Closed" ? "closed" : "failed"}${
      this.cause === undefined ? "" : `: ${String(this.cause)}`
    }`
  }
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
}

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
