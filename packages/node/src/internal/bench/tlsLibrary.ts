/**
 * The library column of the TLS benchmark: the public sans-IO engine (`TlsEngine.make`),
 * both ends in one process, bytes moved between the two engines' memory BIOs by the same kind
 * of loop as the C reference, through reused buffers. Every connection verifies the chain and host name, reads the
 * tickets, and sends close_notify before it is released.
 */
import type { OpenSsl } from "@effect-openssl/core/OpenSsl"
import * as Ssl from "@effect-openssl/core/Ssl"
import * as SslContext from "@effect-openssl/core/SslContext"
import type * as SslSession from "@effect-openssl/core/SslSession"
import * as TlsEngine from "@effect-openssl/core/TlsEngine"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Scope from "effect/Scope"
import * as NodeOpenSsl from "../../NodeOpenSsl.js"
import type { TlsColumn, TlsFixture } from "./tls.js"

type Engine = TlsEngine.TlsEngine

/** Larger than anything one end writes between two pumps (a handshake flight, a 16 KiB record). */
const WIRE = 65536

/**
 * The engine's buffer-reusing forms (`takeOutputInto`, `readInto`), as a memory pair would use
 * them and as the C reference and the raw koffi column do: no allocation per record.
 */
const makePump = () => {
  const wire = new Uint8Array(WIRE)
  const plaintext = new Uint8Array(16 * 1024)
  /** Move everything `from` has for its peer into `to`. */
  const move = (from: Engine, to: Engine) =>
    Effect.flatMap(from.takeOutputInto(wire), (n) => n === 0 ? Effect.void : to.feed(wire.subarray(0, n)))
  /** Read until the engine wants more input (processes tickets): the plaintext byte count. */
  const readAll = (engine: Engine) =>
    Effect.gen(function*() {
      let bytes = 0
      for (;;) {
        const step = yield* engine.readInto(plaintext)
        if (typeof step === "number") bytes += step
        else return bytes
      }
    })
  return { move, readAll }
}

export const libraryColumn = async (fixture: TlsFixture): Promise<TlsColumn> => {
  const { move, readAll } = makePump()
  const runtime = await Effect.runPromise(
    Layer.toRuntime(NodeOpenSsl.layer).pipe(Scope.extend(Effect.runSync(Scope.make())))
  )
  const run = <A>(effect: Effect.Effect<A, unknown, OpenSsl | Scope.Scope>): A =>
    Effect.runSync(Effect.scoped(effect).pipe(Effect.provide(runtime)) as Effect.Effect<A>)

  const contexts = run(Effect.gen(function*() {
    const scope = yield* Scope.make()
    const common = { minProtocol: "TLSv1.3", ciphersuites: fixture.cipher } as const
    const server = yield* Scope.extend(
      SslContext.make({
        role: "server",
        ...common,
        certificate: { chain: fixture.certPem, key: Redacted.make(fixture.keyPem) }
      }),
      scope
    )
    const client = yield* Scope.extend(
      SslContext.make({ role: "client", ...common, trust: { certificates: fixture.caPem } }),
      scope
    )
    return { server, client, scope }
  }))

  /** One connection: handshake, tickets, close_notify; returns the client engine's info. */
  const connection = (session: SslSession.SslSession | undefined, keepSession: boolean) =>
    Effect.gen(function*() {
      const clientSsl = yield* Ssl.make(contexts.client, {
        hostName: fixture.host,
        verifyHost: fixture.host,
        session
      })
      const serverSsl = yield* Ssl.make(contexts.server)
      const c = yield* TlsEngine.make(clientSsl, { role: "client" })
      const s = yield* TlsEngine.make(serverSsl, { role: "server" })
      let clientDone = false
      let serverDone = false
      while (!clientDone || !serverDone) {
        if (!clientDone) clientDone = (yield* c.handshakeStep) === "done"
        yield* move(c, s)
        if (!serverDone) serverDone = (yield* s.handshakeStep) === "done"
        yield* move(s, c)
      }
      yield* readAll(c) // the NewSessionTicket(s)
      const reused = (yield* c.info).sessionReused
      if (reused !== (session !== undefined)) throw new Error(`resumption mismatch: reused=${reused}`)
      yield* c.shutdownStep
      yield* move(c, s)
      return keepSession ? yield* c.session : Option.none<SslSession.SslSession>()
    })

  const check = Effect.gen(function*() {
    const info = yield* Effect.gen(function*() {
      const clientSsl = yield* Ssl.make(contexts.client, { hostName: fixture.host, verifyHost: fixture.host })
      const serverSsl = yield* Ssl.make(contexts.server)
      const c = yield* TlsEngine.make(clientSsl, { role: "client" })
      const s = yield* TlsEngine.make(serverSsl, { role: "server" })
      for (let i = 0; i < 10; i++) {
        yield* c.handshakeStep
        yield* move(c, s)
        yield* s.handshakeStep
        yield* move(s, c)
      }
      return yield* c.info
    })
    if (info.protocol !== "TLSv1.3" || info.cipher !== fixture.cipher) {
      throw new Error(`negotiated ${info.protocol} ${info.cipher}`)
    }
  })
  run(check)

  return {
    fullHandshake: (n) =>
      run(Effect.gen(function*() {
        const start = performance.now()
        for (let i = 0; i < n; i++) yield* Effect.scoped(connection(undefined, false))
        return n / ((performance.now() - start) / 1000)
      })),
    // A TLS 1.3 ticket resumes once: each resumed connection hands over the renewed one.
    resumed: (n) =>
      run(Effect.gen(function*() {
        let session = Option.getOrThrow(yield* connection(undefined, true))
        const start = performance.now()
        for (let i = 0; i < n; i++) session = Option.getOrThrow(yield* connection(session, true))
        return n / ((performance.now() - start) / 1000)
      })),
    bulk: (total) =>
      run(Effect.gen(function*() {
        const clientSsl = yield* Ssl.make(contexts.client, { hostName: fixture.host, verifyHost: fixture.host })
        const serverSsl = yield* Ssl.make(contexts.server)
        const c = yield* TlsEngine.make(clientSsl, { role: "client" })
        const s = yield* TlsEngine.make(serverSsl, { role: "server" })
        for (let i = 0; i < 10; i++) {
          yield* c.handshakeStep
          yield* move(c, s)
          yield* s.handshakeStep
          yield* move(s, c)
        }
        yield* readAll(c)
        const record = new Uint8Array(fixture.recordSize).fill(7)
        const wire = new Uint8Array(WIRE)
        const plaintext = new Uint8Array(fixture.recordSize)
        let received = 0
        const start = performance.now()
        // One fused step per side and record: write + take the ciphertext, feed + read the plaintext.
        for (let sent = 0; sent < total; sent += record.length) {
          const written = yield* c.writeAndTakeInto(record, wire)
          if (written.written !== record.length) throw new Error(`short write: ${written.written}`)
          received += (yield* s.feedAndReadInto(wire.subarray(0, written.output), plaintext)).read
        }
        const seconds = (performance.now() - start) / 1000
        if (received !== total) throw new Error(`received ${received} of ${total} bytes`)
        return total / 1e6 / seconds
      })),
    close: () => Effect.runSync(Scope.close(contexts.scope, Exit.void))
  }
}
