/**
 * `Transport`s over Node streams: a `net.Socket` (TCP), or any `Duplex`. Incoming chunks are
 * queued as they arrive (with backpressure: the stream is paused while the queue is full) and
 * handed to the TLS engine as they are, without copying.
 *
 * @since 0.1.0
 */
import { TransportError } from "@effect-openssl/core/Transport"
import type { Transport } from "@effect-openssl/core/Transport"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as net from "node:net"
import type { Duplex } from "node:stream"

/** Chunks buffered before the stream is paused. */
const HIGH_WATER = 64

/**
 * A transport over a Duplex stream. The stream is destroyed when the scope closes.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromDuplex = (stream: Duplex): Effect.Effect<Transport, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => make(stream)),
    () => Effect.sync(() => stream.destroy())
  )

/**
 * Connect over TCP and give the socket as a transport (closed with the scope).
 *
 * @since 0.1.0
 * @category constructors
 */
export const connectTcp = (
  options: { readonly host: string; readonly port: number }
): Effect.Effect<Transport, TransportError, Scope.Scope> =>
  Effect.flatMap(
    Effect.acquireRelease(
      Effect.async<net.Socket, TransportError>((resume) => {
        const socket = net.connect({ host: options.host, port: options.port })
        const onError = (cause: Error) => resume(Effect.fail(new TransportError({ reason: "Failed", cause })))
        socket.once("error", onError)
        socket.once("connect", () => {
          socket.off("error", onError)
          socket.setNoDelay(true)
          resume(Effect.succeed(socket))
        })
        return Effect.sync(() => socket.destroy())
      }),
      (socket) => Effect.sync(() => socket.destroy())
    ),
    fromDuplex
  )

const make = (stream: Duplex): Transport => {
  const chunks: Array<Uint8Array> = []
  let ended = false
  let failure: TransportError | undefined
  let waiter: (() => void) | undefined
  const wake = () => {
    const w = waiter
    waiter = undefined
    w?.()
  }
  stream.on("data", (chunk: Buffer) => {
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
    failure ??= new TransportError({ reason: "Failed", cause })
    wake()
  })

  const receive: Effect.Effect<Option.Option<Uint8Array>, TransportError> = Effect.suspend(() => {
    const chunk = chunks.shift()
    if (chunk !== undefined) {
      if (chunks.length < HIGH_WATER / 2 && stream.isPaused()) stream.resume()
      return Effect.succeed(Option.some(chunk))
    }
    if (failure !== undefined) return Effect.fail(failure)
    if (ended) return Effect.succeed(Option.none())
    return Effect.zipRight(
      Effect.async<void>((resume) => {
        waiter = () => resume(Effect.void)
        return Effect.sync(() => {
          waiter = undefined
        })
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
        stream.write(bytes, (error) =>
          resume(error ? Effect.fail(new TransportError({ reason: "Failed", cause: error })) : Effect.void))
      }),
    receive,
    end: Effect.sync(() => {
      if (!stream.writableEnded) stream.end()
    })
  }
}
