/**
 * A TCP server on the scope, handing its sockets to whoever serves them: `NodeTransport.listen`
 * (a fiber per connection) and `NodeTlsDuplex.listen` (callbacks only).
 */
import { TransportError } from "@effect-openssl/core/Transport"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as net from "node:net"
import type { ListenOptions } from "../NodeTransport.js"

export interface TcpListener {
  readonly address: net.AddressInfo
  /**
   * Hand each accepted socket to `onSocket` (those accepted meanwhile first); undefined holds
   * them until the next call. Sockets still held when the scope closes are destroyed.
   */
  readonly serve: (onSocket: ((socket: net.Socket) => void) | undefined) => void
  /** Stop accepting (the scope's close does too). */
  readonly stop: Effect.Effect<void>
}

export const listenTcp = (options: ListenOptions): Effect.Effect<TcpListener, TransportError, Scope.Scope> =>
  Effect.gen(function*() {
    const pending: Array<net.Socket> = []
    const hold = (socket: net.Socket) => void pending.push(socket)
    let onConnection: (socket: net.Socket) => void = hold
    const tcp = net.createServer({ noDelay: true }, (socket) => onConnection(socket))
    if (options.maxConnections !== undefined) tcp.maxConnections = options.maxConnections
    const onRefused = options.onRefused
    if (onRefused !== undefined) tcp.on("drop", () => onRefused())
    yield* Effect.acquireRelease(
      Effect.async<void, TransportError>((resume) => {
        const onError = (cause: Error) => resume(Effect.fail(new TransportError({ reason: "Failed", cause })))
        tcp.once("error", onError)
        tcp.listen({ port: options.port ?? 0, host: options.host, backlog: options.backlog }, () => {
          tcp.off("error", onError)
          resume(Effect.void)
        })
      }),
      () =>
        Effect.async<void>((resume) => {
          for (const socket of pending.splice(0)) socket.destroy()
          if (tcp.listening) tcp.close(() => resume(Effect.void))
          else resume(Effect.void)
        })
    )
    return {
      address: tcp.address() as net.AddressInfo,
      serve: (onSocket) => {
        if (onSocket === undefined) {
          onConnection = hold
          return
        }
        onConnection = onSocket
        for (const socket of pending.splice(0)) onSocket(socket)
      },
      stop: Effect.sync(() => {
        if (tcp.listening) tcp.close()
      })
    }
  })
