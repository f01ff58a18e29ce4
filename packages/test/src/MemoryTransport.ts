/**
 * A connected in-memory pair of `Transport`s (built on `Transport.memoryPair`) that injects
 * network faults into what each side sends: tiny chunks, delays, drops, duplicates, flipped
 * bytes, truncation, and the connection closing mid-stream. Faults are drawn from a seeded
 * generator: the same seed, options and sends give the same faults, so a failing property
 * replays exactly. Every fault applied is logged.
 *
 * Delays sleep on the Effect clock: run tests with delays under `it.live`, or advance the
 * `TestClock`.
 *
 * @since 0.1.0
 */
import type { Transport } from "@effect-openssl/core/Transport"
import { memoryPair, TransportError } from "@effect-openssl/core/Transport"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { Prng } from "./internal/prng.js"

/**
 * Faults for one direction. Probabilities (0 to 1) apply to each chunk independently.
 *
 * @since 0.1.0
 * @category models
 */
export interface Faults {
  readonly seed: number
  /** Split every send into chunks of 1 to `maxChunk` bytes. */
  readonly maxChunk?: number | undefined
  /** Lose a chunk. */
  readonly drop?: number | undefined
  /** Deliver only a prefix of a chunk (possibly none of it). */
  readonly truncate?: number | undefined
  /** XOR one byte of a chunk with a non-zero mask. */
  readonly corrupt?: number | undefined
  /** Hold a chunk back for up to `max` before delivering it. */
  readonly delay?: { readonly probability: number; readonly max: Duration.DurationInput } | undefined
  /** Deliver a chunk twice. */
  readonly duplicate?: number | undefined
  /**
   * The connection breaks after this many bytes were sent in this direction: the peer receives
   * them, then end of stream; the send that crossed the limit (if it had more) and every later
   * send fail with `TransportError` `"Closed"`. The other direction is not affected.
   */
  readonly closeAfter?: number | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export type Direction = "aToB" | "bToA"

/**
 * A fault that was applied. `offset` is where in the sender's byte stream it happened (for
 * `Corrupt`, the flipped byte; otherwise the start of the chunk).
 *
 * @since 0.1.0
 * @category models
 */
export type Fault =
  | {
    readonly _tag: "Split"
    readonly direction: Direction
    readonly offset: number
    readonly sizes: ReadonlyArray<number>
  }
  | { readonly _tag: "Drop"; readonly direction: Direction; readonly offset: number; readonly length: number }
  | {
    readonly _tag: "Truncate"
    readonly direction: Direction
    readonly offset: number
    readonly kept: number
    readonly dropped: number
  }
  | { readonly _tag: "Corrupt"; readonly direction: Direction; readonly offset: number; readonly mask: number }
  | { readonly _tag: "Delay"; readonly direction: Direction; readonly offset: number; readonly millis: number }
  | { readonly _tag: "Duplicate"; readonly direction: Direction; readonly offset: number; readonly length: number }
  | { readonly _tag: "Close"; readonly direction: Direction; readonly offset: number }

/**
 * The two connected ends, and the log of faults applied so far (both directions, in order).
 *
 * @since 0.1.0
 * @category models
 */
export interface MemoryTransport {
  readonly a: Transport
  readonly b: Transport
  readonly faults: Effect.Effect<ReadonlyArray<Fault>>
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Faults on what `a` sends. */
  readonly aToB?: Faults | undefined
  /** Faults on what `b` sends. */
  readonly bToA?: Faults | undefined
}

/**
 * A connected pair with the given faults (none by default: then it is `Transport.memoryPair`).
 * Shut down with the scope.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options = {}): Effect.Effect<MemoryTransport, never, Scope.Scope> =>
  Effect.gen(function*() {
    const [a, b] = yield* memoryPair
    const log: Array<Fault> = []
    return {
      a: options.aToB === undefined ? a : yield* faulty(a, "aToB", options.aToB, log),
      b: options.bToA === undefined ? b : yield* faulty(b, "bToA", options.bToA, log),
      faults: Effect.sync(() => log.slice())
    }
  })

// The same Faults may be given for both directions; a salt keeps their sequences apart.
const salt: Record<Direction, number> = { aToB: 0, bToA: 0x5bd1e995 }

const faulty = (inner: Transport, direction: Direction, faults: Faults, log: Array<Fault>) =>
  Effect.map(Effect.makeSemaphore(1), (lock): Transport => {
    const prng = new Prng(faults.seed ^ salt[direction])
    const maxDelay = faults.delay === undefined ? 0 : Duration.toMillis(Duration.decode(faults.delay.max))
    let sent = 0
    let closed = false

    const chunksOf = (bytes: Uint8Array): Array<Uint8Array> => {
      if (bytes.length === 0) return []
      if (faults.maxChunk === undefined) return [bytes]
      const chunks: Array<Uint8Array> = []
      for (let at = 0; at < bytes.length;) {
        const size = prng.int(1, Math.max(1, faults.maxChunk))
        chunks.push(bytes.subarray(at, at + size))
        at += size
      }
      return chunks
    }

    // One chunk through the faults, in a fixed order of draws so a seed replays exactly.
    const deliver = (chunk: Uint8Array, offset: number) =>
      Effect.gen(function*() {
        if (prng.chance(faults.drop ?? 0)) {
          log.push({ _tag: "Drop", direction, offset, length: chunk.length })
          return
        }
        let out = chunk
        if (prng.chance(faults.truncate ?? 0)) {
          const kept = prng.int(0, out.length - 1)
          log.push({ _tag: "Truncate", direction, offset, kept, dropped: out.length - kept })
          out = out.subarray(0, kept)
        }
        if (out.length > 0 && prng.chance(faults.corrupt ?? 0)) {
          const at = prng.int(0, out.length - 1)
          const mask = prng.int(1, 255)
          out = out.slice()
          out[at] ^= mask
          log.push({ _tag: "Corrupt", direction, offset: offset + at, mask })
        }
        if (faults.delay !== undefined && prng.chance(faults.delay.probability)) {
          const millis = prng.int(0, Math.floor(maxDelay))
          log.push({ _tag: "Delay", direction, offset, millis })
          yield* Effect.sleep(Duration.millis(millis))
        }
        if (out.length === 0) return
        yield* inner.send(out)
        if (prng.chance(faults.duplicate ?? 0)) {
          log.push({ _tag: "Duplicate", direction, offset, length: out.length })
          yield* inner.send(out.slice())
        }
      })

    const send = (bytes: Uint8Array) =>
      Effect.gen(function*() {
        if (closed) return yield* new TransportError({ reason: "Closed" })
        if (bytes.length === 0) return yield* inner.send(bytes)
        const room = faults.closeAfter === undefined ? bytes.length : Math.max(0, faults.closeAfter - sent)
        const data = bytes.subarray(0, room)
        const chunks = chunksOf(data)
        if (chunks.length > 1) log.push({ _tag: "Split", direction, offset: sent, sizes: chunks.map((c) => c.length) })
        let offset = sent
        for (const chunk of chunks) {
          yield* deliver(chunk, offset)
          offset += chunk.length
        }
        sent += data.length
        if (faults.closeAfter !== undefined && sent >= faults.closeAfter) {
          closed = true
          log.push({ _tag: "Close", direction, offset: sent })
          yield* inner.end
          if (data.length < bytes.length) return yield* new TransportError({ reason: "Closed" })
        }
      })

    return {
      send: (bytes) => lock.withPermits(1)(send(bytes)),
      receive: inner.receive,
      end: inner.end
    }
  })
