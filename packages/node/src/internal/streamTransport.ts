/**
 * The stream side of `NodeTransport`: a `Transport` over a Node `Duplex`, and the graceful close
 * every stream transport gets (see the module note of `NodeTransport`).
 */
import * as OptionCheck from "@effect-openssl/core/OptionCheck"
import type { InvalidOptionError } from "@effect-openssl/core/SslError"
import type { PushSink, PushTransport, Transport } from "@effect-openssl/core/Transport"
import { TransportError } from "@effect-openssl/core/Transport"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type { Duplex } from "node:stream"

/** Decoded once: `fromDuplex` runs per connection. */
const DEFAULT_LINGER = Duration.seconds(2)

/** The `linger` option of every stream transport, checked once, before any stream is touched. */
export const checkLinger = (
  linger: Duration.DurationInput | undefined
): Effect.Effect<Duration.Duration, InvalidOptionError> =>
  OptionCheck.check(() => OptionCheck.duration("linger", linger, DEFAULT_LINGER))

/** End the sending side, drop what still comes for `linger`, then destroy. */
export const closeGracefully = (stream: Duplex, linger: Duration.Duration): void => {
  if (stream.destroyed) return
  const timer = setTimeout(() => stream.destroy(), Duration.toMillis(linger))
  timer.unref()
  stream.once("close", () => clearTimeout(timer))
  // Errors now (a reset by a peer that went away first) have nobody to tell.
  stream.on("error", () => {})
  stream.removeAllListeners("data")
  stream.on("data", () => {})
  stream.resume()
  if (!stream.writableEnded) stream.end()
}

/** Chunks the Effect form buffers before the stream is paused. */
const HIGH_WATER = 64

/** A transport over `stream`: its push form (the stream itself) and its Effect form. */
export const streamTransport = (stream: Duplex): Transport => ({
  ...effectForm(stream),
  pushForm: streamPushTransport(stream)
})

const failure = (cause: unknown) => new TransportError({ reason: "Failed", cause })

/** The push form alone: the stream itself, each `data` event to the sink as it is. */
export const streamPushTransport = (stream: Duplex): PushTransport => ({
  open: (sink: PushSink) => {
    let ended = false
    const end = () => {
      if (ended) return
      ended = true
      sink.end()
    }
    stream.on("data", (chunk: Uint8Array) => sink.data(chunk))
    stream.once("end", end)
    // A stream destroyed without an end (a reset) still ends the input: the engine tells a
    // truncation (no close_notify) from a clean close.
    stream.once("close", end)
    stream.on("error", (cause) => {
      if (ended) return
      ended = true
      sink.error(failure(cause))
    })
    stream.on("drain", () => sink.drain())
    if (stream.isPaused()) stream.resume()
  },
  send: (bytes) => {
    if (stream.destroyed || stream.writableEnded) return false
    return stream.write(bytes)
  },
  pause: () => stream.pause(),
  resume: () => stream.resume(),
  end: () => {
    if (!stream.writableEnded) stream.end()
  }
})

/**
 * The Effect form over the same stream, for code that receives and sends chunks itself (test
 * peers): listening starts at the first `receive`.
 */
const effectForm = (stream: Duplex): Omit<Transport, "pushForm"> => {
  const chunks: Array<Uint8Array> = []
  let listening = false
  let ended = false
  let error: TransportError | undefined
  // Every receive waiting: each wakes on a change and takes its turn (concurrent receives queue).
  const waiters = new Set<() => void>()
  const wake = () => {
    const woken = Array.from(waiters)
    waiters.clear()
    for (const w of woken) w()
  }
  const listen = () => {
    if (listening) return
    listening = true
    stream.on("data", (chunk: Uint8Array) => {
      chunks.push(chunk)
      if (chunks.length >= HIGH_WATER) stream.pause()
      wake()
    })
    stream.once("end", () => {
      ended = true
      wake()
    })
    stream.once("close", () => {
      ended = true
      wake()
    })
    stream.on("error", (cause) => {
      error ??= failure(cause)
      wake()
    })
  }
  const receive: Effect.Effect<Option.Option<Uint8Array>, TransportError> = Effect.suspend(() => {
    listen()
    const chunk = chunks.shift()
    if (chunk !== undefined) {
      if (chunks.length < HIGH_WATER / 2 && stream.isPaused()) stream.resume()
      return Effect.succeed(Option.some(chunk))
    }
    if (error !== undefined) return Effect.fail(error)
    if (ended) return Effect.succeed(Option.none())
    return Effect.zipRight(
      Effect.async<void>((resume) => {
        const waiter = () => resume(Effect.void)
        waiters.add(waiter)
        return Effect.sync(() => waiters.delete(waiter))
      }),
      receive
    )
  })
  return {
    send: (bytes) =>
      Effect.async<void, TransportError>((resume) => {
        if (stream.destroyed || stream.writableEnded) {
          return resume(Effect.fail(new TransportError({ reason: "Closed" })))
        }
        // Resolve once the chunk is handed to the kernel: natural backpressure for bulk writes.
        stream.write(bytes, (cause) => resume(cause ? Effect.fail(failure(cause)) : Effect.void))
      }),
    receive,
    end: Effect.sync(() => {
      if (!stream.writableEnded) stream.end()
    })
  }
}
