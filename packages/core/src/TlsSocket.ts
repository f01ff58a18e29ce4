/**
 * TLS over any `@effect/platform` `Socket` (TCP, WebSocket, a transform stream…), presented as
 * a `Socket` of plaintext, so code written against `Socket` (channels, RPC protocols, your own
 * handlers) runs over this library's TLS unchanged.
 *
 * ```ts
 * const socket = yield* NodeSocket.makeNet({ host: "example.com", port: 443 })
 * const tls = yield* TlsSocket.makeClient(socket, context, { hostName: "example.com" })
 * yield* tls.run((chunk) => Console.log(chunk.length))
 * ```
 *
 * Unlike a platform socket, a `TlsSocket` is connected when it is made: the handshake runs in
 * `makeClient` / `makeServer` (so a certificate that does not verify fails there, with a
 * `VerifyError`), and the connection lives until the scope closes, which sends close_notify.
 * `run` reads plaintext until the peer's close_notify; the writer sends plaintext, and releasing
 * it (or writing a `CloseEvent`) sends close_notify.
 *
 * @since 0.1.0
 */
import * as Socket from "@effect/platform/Socket"
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Exit from "effect/Exit"
import type * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"
import * as FiberSet from "effect/FiberSet"
import { dual } from "effect/Function"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import * as Runtime from "effect/Runtime"
import * as Scope from "effect/Scope"
import type { SslContext } from "./SslContext.js"
import * as TlsConnection from "./TlsConnection.js"
import { type PushSink, type PushTransport, type Transport, TransportError } from "./Transport.js"

/**
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: unique symbol = Symbol.for("@effect-openssl/core/TlsSocket")

/**
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

/**
 * A `Socket` of plaintext over an established TLS connection.
 *
 * - `run` / `runRaw` deliver plaintext until the peer's close_notify, then succeed. Handler
 *   effects are forked, as in `@effect/platform`'s sockets. A TLS failure (including the
 *   transport ending without close_notify, a possible truncation) fails the run with
 *   `SocketGenericError` `"Read"` whose `cause` is the TLS error.
 * - The writer's function sends plaintext; TLS failures become `SocketGenericError` `"Write"`.
 *   A `CloseEvent` sends close_notify and ends the current run (failing it with
 *   `SocketCloseError` if the code is an error code). Releasing the writer sends close_notify
 *   and half-closes: `run` still reads the peer's answer.
 *
 * One run at a time: the TLS stream is one stream of records. `connection` gives the TLS side
 * (`info`, sessions, keying material).
 *
 * @since 0.1.0
 * @category models
 */
export interface TlsSocket extends Socket.Socket {
  readonly [TypeId]: TypeId
  readonly connection: TlsConnection.TlsConnection
}

/**
 * @since 0.1.0
 * @category guards
 */
export const isTlsSocket = (u: unknown): u is TlsSocket => Predicate.hasProperty(u, TypeId)

/** A handshake (`connect` or `accept`) run over a platform socket, the result as a `TlsSocket`. */
const overSocket = <Options>(
  handshake: (
    transport: Transport,
    context: SslContext,
    options?: Options
  ) => Effect.Effect<TlsConnection.TlsConnection, TlsConnection.TlsConnectionError, Scope.Scope>
) =>
(socket: Socket.Socket, context: SslContext, options?: Options) =>
  Effect.flatMap(
    toTransport(socket),
    (transport) => Effect.map(handshake(transport, context, options), fromConnection)
  )

/**
 * Connect as a TLS client over `socket` and complete the handshake. The peer's certificate and
 * host name are verified unless the context or `verifyHost: false` says otherwise. The
 * connection, and the run of `socket` under it, last until the scope closes.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeClient: {
  (
    context: SslContext,
    options?: TlsConnection.ConnectOptions
  ): (socket: Socket.Socket) => Effect.Effect<TlsSocket, TlsConnection.TlsConnectionError, Scope.Scope>
  (
    socket: Socket.Socket,
    context: SslContext,
    options?: TlsConnection.ConnectOptions
  ): Effect.Effect<TlsSocket, TlsConnection.TlsConnectionError, Scope.Scope>
} = dual(
  (args) => Socket.isSocket(args[0]),
  overSocket(TlsConnection.connect)
)

/**
 * Accept a TLS client over `socket` (e.g. one handed out by a `SocketServer`) and complete the
 * handshake. The connection lasts until the scope closes.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeServer: {
  (
    context: SslContext,
    options?: TlsConnection.AcceptOptions
  ): (socket: Socket.Socket) => Effect.Effect<TlsSocket, TlsConnection.TlsConnectionError, Scope.Scope>
  (
    socket: Socket.Socket,
    context: SslContext,
    options?: TlsConnection.AcceptOptions
  ): Effect.Effect<TlsSocket, TlsConnection.TlsConnectionError, Scope.Scope>
} = dual(
  (args) => Socket.isSocket(args[0]),
  overSocket(TlsConnection.accept)
)

/**
 * Ciphertext over a platform `Socket`: `socket` is run for the rest of the scope. In push form
 * (what the drivers use) each chunk goes to the driver from the socket's handler, synchronously;
 * sends are queued for one writer fiber, which writes them in order. In Effect form chunks are
 * queued for `receive`. A run that ends cleanly (or with a close code that is not an error) is
 * the end of stream; any other failure fails with a `TransportError` whose cause is the
 * `SocketError`. `end` releases the writer (a half-close).
 *
 * A platform `Socket` cannot slow its peer down (its handler is called for each chunk as it
 * comes), so `pause` has no effect: what arrives is read at once.
 *
 * @since 0.1.0
 * @category constructors
 */
export const toTransport = (socket: Socket.Socket): Effect.Effect<Transport, never, Scope.Scope> =>
  Effect.gen(function*() {
    const scope = yield* Effect.scope
    const runFork = Runtime.runFork(yield* Effect.runtime<never>())
    let sink: PushSink | undefined
    /** The push form's writer fiber, once `open` started it. */
    let pushWriter: Fiber.RuntimeFiber<void> | undefined
    // Effect form: chunks buffered for `receive` (and, before `open`, for the push form).
    const buffered: Array<Uint8Array> = []
    let ended: TransportError | "clean" | undefined
    const waiters = new Set<() => void>()
    const wake = () => {
      const woken = Array.from(waiters)
      waiters.clear()
      for (const w of woken) w()
    }
    // Completed when the run ends: sends must fail from then on rather than wait for a socket
    // that will not open again (platform writers wait while their socket is not running).
    const finished = yield* Deferred.make<TransportError>()
    yield* socket.run((chunk) => {
      if (sink !== undefined) return sink.data(chunk)
      buffered.push(chunk)
      wake()
    }).pipe(
      Effect.catchIf(
        Socket.SocketCloseError.isClean((code) => !Socket.defaultCloseCodeIsError(code)),
        () => Effect.void
      ),
      Effect.onExit((exit) =>
        Effect.sync(() => {
          const failure = Exit.isSuccess(exit) ?
            undefined :
            new TransportError({ reason: "Failed", cause: Cause.squash(exit.cause) })
          ended = failure ?? "clean"
          wake()
          // A write waiting for the socket would wait for ever (platform writers wait while
          // their socket is not running): the writer stops, and the sink hears why below.
          pushWriter?.unsafeInterruptAsFork(FiberId.none)
          Deferred.unsafeDone(finished, Exit.succeed(failure ?? new TransportError({ reason: "Closed" })))
          if (failure === undefined) sink?.end()
          else sink?.error(failure)
        })
      ),
      Effect.forkIn(scope)
    )
    // The writer gets its own scope so that `end` can release it before the socket's scope closes.
    const writeScope = yield* Scope.fork(scope, ExecutionStrategy.sequential)
    const write = yield* Scope.extend(socket.writer, writeScope)
    const send = (bytes: Uint8Array) =>
      Effect.raceFirst(
        Effect.mapError(write(bytes), (cause) => new TransportError({ reason: "Failed", cause })),
        Effect.flatMap(Deferred.await(finished), Effect.fail)
      )
    const end = Scope.close(writeScope, Exit.void)

    const receive: Effect.Effect<Option.Option<Uint8Array>, TransportError> = Effect.suspend(() => {
      const chunk = buffered.shift()
      if (chunk !== undefined) return Effect.succeed(Option.some(chunk))
      if (ended === "clean") return Effect.succeed(Option.none())
      if (ended !== undefined) return Effect.fail(ended)
      return Effect.zipRight(
        Effect.async<void>((resume) => {
          const waiter = () => resume(Effect.void)
          waiters.add(waiter)
          return Effect.sync(() => waiters.delete(waiter))
        }),
        receive
      )
    })

    // Push-form sends: one fiber writes what was queued, in order. It is interrupted when the
    // run ends, so its writes need no race against the end (two fibers forked per send).
    const queue: Array<Uint8Array | "end"> = []
    const ready = Effect.unsafeMakeLatch(false)
    const writer = Effect.gen(function*() {
      for (;;) {
        yield* ready.await
        ready.unsafeClose()
        for (let item = queue.shift(); item !== undefined; item = queue.shift()) {
          if (item === "end") yield* end
          else yield* Effect.mapError(write(item), (cause) => new TransportError({ reason: "Failed", cause }))
        }
      }
    }).pipe(Effect.catchAll((error) => Effect.sync(() => sink?.error(error))))
    const enqueue = (item: Uint8Array | "end") => {
      queue.push(item)
      ready.unsafeOpen()
    }
    const pushForm: PushTransport = {
      open: (s) => {
        sink = s
        // What came before goes first.
        for (let chunk = buffered.shift(); chunk !== undefined; chunk = buffered.shift()) s.data(chunk)
        if (ended === "clean") return s.end()
        if (ended !== undefined) return s.error(ended)
        // Forked in the scope (stopped when it closes), and known here at once: `runFork` runs
        // the fork synchronously.
        runFork(Effect.tap(Effect.forkIn(writer, scope), (fiber) => Effect.sync(() => pushWriter = fiber)))
      },
      send: (bytes) => {
        enqueue(bytes)
        return true
      },
      pause: () => {},
      resume: () => {},
      end: () => enqueue("end")
    }
    return { send, receive, end, pushForm } satisfies Transport
  })

/**
 * Present an established connection (over any transport) as a `Socket` of plaintext.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromConnection = (connection: TlsConnection.TlsConnection): TlsSocket => {
  // The deferred of the run in progress: a `CloseEvent` written meanwhile ends that run.
  let current: Deferred.Deferred<void, unknown> | undefined

  const runRaw = <_, E = never, R = never>(
    handler: (_: Uint8Array) => Effect.Effect<_, E, R> | void,
    options?: { readonly onOpen?: Effect.Effect<void> | undefined }
  ): Effect.Effect<void, Socket.SocketError | E, R> =>
    Effect.scopedWith((scope) =>
      Effect.gen(function*() {
        const fiberSet = yield* Scope.extend(FiberSet.make<unknown, E | Socket.SocketError>(), scope)
        const runFork = yield* FiberSet.runtime(fiberSet)<R>()
        // Plaintext comes from the driver's step that read it, synchronously and in order; only
        // the handler's effect is forked.
        const subscription = connection.unsafe.subscribe({
          data: (chunk) => {
            const result = handler(chunk)
            if (Effect.isEffect(result)) runFork(result)
            return true
          },
          end: () => Deferred.unsafeDone(fiberSet.deferred, Exit.void),
          error: (cause) =>
            Deferred.unsafeDone(fiberSet.deferred, Exit.fail(new Socket.SocketGenericError({ reason: "Read", cause })))
        })
        yield* Scope.addFinalizer(scope, Effect.sync(() => subscription.unsubscribe()))
        current = fiberSet.deferred
        yield* Scope.addFinalizer(
          scope,
          Effect.sync(() => {
            if (current === fiberSet.deferred) current = undefined
          })
        )
        if (options?.onOpen) yield* options.onOpen
        return yield* FiberSet.join(fiberSet).pipe(
          Effect.catchIf(
            Socket.SocketCloseError.isClean((code) => !Socket.defaultCloseCodeIsError(code)),
            () => Effect.void
          )
        )
      })
    ).pipe(Effect.interruptible)

  const encoder = new TextEncoder()
  const write = (chunk: Uint8Array | string | Socket.CloseEvent): Effect.Effect<void, Socket.SocketError> => {
    if (Socket.isCloseEvent(chunk)) {
      // Closing cannot fail for the writer: if close_notify cannot be sent, the transport is gone.
      return Effect.zipRight(
        Effect.ignore(connection.closeWrite),
        Effect.sync(() => {
          if (current === undefined) return
          Deferred.unsafeDone(
            current,
            Exit.fail(new Socket.SocketCloseError({ reason: "Close", code: chunk.code, closeReason: chunk.reason }))
          )
        })
      )
    }
    return Effect.mapError(
      connection.write(typeof chunk === "string" ? encoder.encode(chunk) : chunk),
      (cause) => new Socket.SocketGenericError({ reason: "Write", cause })
    )
  }

  return {
    [TypeId]: TypeId,
    [Socket.TypeId]: Socket.TypeId,
    connection,
    run: runRaw,
    runRaw,
    writer: Effect.acquireRelease(Effect.succeed(write), () => Effect.ignore(connection.closeWrite))
  }
}
