/**
 * Soak: connect/exchange/close churn through a loopback TCP server for a while, with many
 * connections at once, interruptions and failing peers, measuring throughput, connection times
 * and RSS, and checking that the library gives every native object back.
 *
 * The server is a `net.createServer` whose sockets go to `TlsConnection.accept` (one fiber per
 * connection: read requests and answer each until the client's close_notify). Clients are
 * workers, each running one connection after another until the time is up, drawn from a mix:
 *
 * - `exchange`: `TlsConnection.connect` over `NodeTransport.connectTcp`, a request, its
 *   response, a clean close;
 * - `interrupted`: the same, interrupted after a random delay (mid-handshake or mid-exchange);
 * - `garbage`: a plain socket that sends random bytes, then ends;
 * - `vanishing`: a plain socket that sends a real ClientHello, waits for the server's first
 *   flight, and is destroyed.
 *
 * RSS is flat when, after warm-up (the first third of the run unless told), the median RSS of the
 * second half of the rest exceeds the median of its first half by at most 10 % + 8 MiB (allocator
 * and GC noise). RSS climbs for the first 15 to 20 s of churn at 200 clients (V8's heap and the
 * allocator growing to the load; `pnpm soak` shows it level off there and stay level for minutes),
 * so a short run needs a warm-up at least that long.
 */
import * as Diagnostics from "@effect-openssl/core/Diagnostics"
import type { OpenSsl } from "@effect-openssl/core/OpenSsl"
import type { SslError } from "@effect-openssl/core/SslError"
import * as TlsConnection from "@effect-openssl/core/TlsConnection"
import type { TransportError } from "@effect-openssl/core/Transport"
import * as NodeTransport from "@effect-openssl/node/NodeTransport"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as FiberSet from "effect/FiberSet"
import * as Option from "effect/Option"
import * as net from "node:net"
import { Prng } from "../src/internal/prng.js"
import { corpus, request } from "./corpus.js"
import { contexts } from "./peers.js"

export type ClientKind = "exchange" | "interrupted" | "garbage" | "vanishing"

export interface SoakOptions {
  readonly durationMillis: number
  /** Client workers, each with one connection at a time. */
  readonly concurrency: number
  /** Share of each failing kind among connections (the rest are `exchange`). */
  readonly mix?: { readonly interrupted: number; readonly garbage: number; readonly vanishing: number } | undefined
  readonly seed?: number | undefined
  /** The start of the run that the RSS rule leaves out (default: a third of the run). */
  readonly warmupMillis?: number | undefined
  readonly sampleEveryMillis?: number | undefined
  /** Called with every sample, e.g. to print progress. */
  readonly onSample?: ((sample: Sample) => void) | undefined
}

export interface Sample {
  readonly seconds: number
  readonly rssMiB: number
  readonly heapMiB: number
  /** Native objects the library holds (all kinds). */
  readonly live: number
  /** Connections the server is handling. */
  readonly serving: number
  readonly completed: number
}

export interface SoakReport {
  readonly seconds: number
  readonly concurrency: number
  /** Client connections by kind and how they ended (`success`, or the error's tag and reason). */
  readonly clients: Readonly<Record<string, number>>
  /** Server connections by how they ended. */
  readonly server: Readonly<Record<string, number>>
  /** Completed exchanges per second. */
  readonly throughput: number
  /** TCP connect to handshake done, for `exchange` clients, milliseconds. */
  readonly connect: { readonly p50: number; readonly p99: number; readonly max: number }
  readonly samples: ReadonlyArray<Sample>
  readonly rss: { readonly warmMiB: number; readonly lateMiB: number; readonly flat: boolean; readonly rule: string }
  /** Native objects still held once every connection ended (the contexts excepted). */
  readonly liveAfter: Readonly<Record<string, number>>
  /** What must not happen: defects, unexpected errors, objects left, RSS growth. */
  readonly problems: ReadonlyArray<string>
}

const response = new TextEncoder().encode(`HTTP/1.1 200 OK\r\ncontent-length: 1024\r\n\r\n${"x".repeat(1024)}`)

/** How a connection ended, for the tallies. */
const outcomeOf = (exit: Exit.Exit<unknown, SslError | TransportError>): string => {
  if (Exit.isSuccess(exit)) return "success"
  if (Cause.isInterruptedOnly(exit.cause)) return "interrupted"
  const failure = Cause.failureOption(exit.cause)
  if (Option.isNone(failure)) return "defect"
  const error = failure.value
  return "reason" in error && typeof error.reason === "string" ? `${error._tag} ${error.reason}` : error._tag
}

const percentile = (sorted: ReadonlyArray<number>, p: number) =>
  sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!

const median = (values: ReadonlyArray<number>) => percentile([...values].sort((a, b) => a - b), 0.5)

const MiB = 1024 * 1024

export const RSS_RULE = "after warm-up, median RSS of the second half <= median of the first half x 1.10 + 8 MiB"

/** A plain socket to the server, closed with the scope. */
const rawSocket = (port: number) =>
  Effect.acquireRelease(
    Effect.async<net.Socket, Error>((resume) => {
      const socket = net.connect({ host: "127.0.0.1", port })
      socket.once("error", (e) => resume(Effect.fail(e)))
      socket.once("connect", () => resume(Effect.succeed(socket)))
    }),
    (socket) => Effect.sync(() => socket.destroy())
  )

/** Resolves when the socket delivers data or closes. */
const firstData = (socket: net.Socket) =>
  Effect.async<void>((resume) => {
    const done = () => resume(Effect.void)
    socket.once("data", done)
    socket.once("close", done)
    return Effect.sync(() => {
      socket.off("data", done)
      socket.off("close", done)
    })
  })

export const soak = (options: SoakOptions): Effect.Effect<SoakReport, SslError | TransportError, OpenSsl> =>
  Effect.gen(function*() {
    const mix = options.mix ?? { interrupted: 0.1, garbage: 0.05, vanishing: 0.05 }
    const prng = new Prng(options.seed ?? 1)
    const clientHello = (yield* corpus).transcripts["TLSv1.3"].toServer[0]!
    const problems: Array<string> = []
    const clients: Record<string, number> = {}
    const server: Record<string, number> = {}
    const count = (tally: Record<string, number>, key: string) => (tally[key] = (tally[key] ?? 0) + 1)
    const noteDefect = (who: string, exit: Exit.Exit<unknown, unknown>) => {
      if (Exit.isFailure(exit) && outcomeOf(exit as Exit.Exit<unknown, never>) === "defect") {
        problems.push(`${who} died: ${Cause.pretty(exit.cause)}`)
      }
    }
    const connectTimes: Array<number> = []
    const samples: Array<Sample> = []
    let completed = 0

    const report = yield* Effect.scoped(Effect.gen(function*() {
      const { client, server: serverContext } = yield* contexts("TLSv1.3")

      // The server: every accepted socket becomes a fiber of `connections`.
      const connections = yield* FiberSet.make<void>()
      const run = yield* FiberSet.runtime(connections)<OpenSsl>()
      const serve = (socket: net.Socket) =>
        Effect.scoped(Effect.gen(function*() {
          const transport = yield* NodeTransport.fromDuplex(socket)
          const conn = yield* TlsConnection.accept(transport, serverContext, {
            handshakeTimeout: "10 seconds",
            closeTimeout: "2 seconds"
          })
          for (;;) {
            const chunk = yield* conn.read
            if (Option.isNone(chunk)) return
            yield* conn.write(response)
          }
        })).pipe(
          Effect.exit,
          Effect.map((exit) => {
            count(server, outcomeOf(exit))
            noteDefect("a server connection", exit)
          })
        )
      const listener = yield* Effect.acquireRelease(
        Effect.async<net.Server, Error>((resume) => {
          const s = net.createServer({ noDelay: true }, (socket) => {
            // Errors before the transport listens (a peer resetting at once) must not go unheard.
            socket.on("error", () => {})
            run(serve(socket))
          })
          s.once("error", (e) => resume(Effect.fail(e)))
          s.listen({ host: "127.0.0.1", port: 0, backlog: 4096 }, () => resume(Effect.succeed(s)))
        }),
        (s) => Effect.async<void>((resume) => void s.close(() => resume(Effect.void)))
      ).pipe(Effect.orDie)
      const port = (listener.address() as net.AddressInfo).port

      const started = Date.now()
      const deadline = started + options.durationMillis
      const sampler = yield* Effect.forkScoped(Effect.forever(Effect.gen(function*() {
        const live = yield* Diagnostics.live
        const memory = process.memoryUsage()
        const sample: Sample = {
          seconds: Math.round((Date.now() - started) / 100) / 10,
          rssMiB: Math.round(memory.rss / MiB * 10) / 10,
          heapMiB: Math.round(memory.heapUsed / MiB * 10) / 10,
          live: live.length,
          serving: yield* FiberSet.size(connections),
          completed
        }
        samples.push(sample)
        options.onSample?.(sample)
        yield* Effect.sleep(options.sampleEveryMillis ?? 1000)
      })))

      const exchange = Effect.scoped(Effect.gen(function*() {
        const begin = performance.now()
        const transport = yield* NodeTransport.connectTcp({ host: "127.0.0.1", port })
        const conn = yield* TlsConnection.connect(transport, client, {
          hostName: "localhost",
          handshakeTimeout: "10 seconds",
          closeTimeout: "2 seconds"
        })
        const connected = performance.now() - begin
        yield* conn.write(request)
        let got = 0
        while (got < response.length) {
          const chunk = yield* conn.read
          if (Option.isNone(chunk)) break
          got += chunk.value.length
        }
        if (got !== response.length) problems.push(`a client received ${got} of ${response.length} bytes`)
        yield* conn.close
        return connected
      }))

      const one = (kind: ClientKind): Effect.Effect<void> => {
        switch (kind) {
          case "exchange":
            return Effect.map(Effect.exit(exchange), (exit) => {
              count(clients, `exchange: ${outcomeOf(exit)}`)
              noteDefect("an exchange client", exit)
              if (Exit.isSuccess(exit)) {
                completed++
                connectTimes.push(exit.value)
              }
            })
          case "interrupted":
            return Effect.gen(function*() {
              const fiber = yield* Effect.fork(exchange)
              yield* Effect.sleep(prng.int(0, 30))
              const exit = yield* Fiber.interrupt(fiber)
              count(clients, `interrupted: ${outcomeOf(exit)}`)
              noteDefect("an interrupted client", exit)
            })
          case "garbage":
            return Effect.scoped(Effect.gen(function*() {
              const socket = yield* rawSocket(port)
              const bytes = new Uint8Array(prng.int(1, 4096)).map(() => prng.int(0, 255))
              socket.end(bytes)
              yield* firstData(socket).pipe(Effect.timeout("5 seconds"), Effect.ignore)
            })).pipe(Effect.exit, Effect.map((exit) => count(clients, `garbage: ${exit._tag}`)))
          case "vanishing":
            return Effect.scoped(Effect.gen(function*() {
              const socket = yield* rawSocket(port)
              socket.write(clientHello)
              yield* firstData(socket).pipe(Effect.timeout("5 seconds"), Effect.ignore)
            })).pipe(Effect.exit, Effect.map((exit) => count(clients, `vanishing: ${exit._tag}`)))
        }
      }

      const draw = (): ClientKind => {
        const x = prng.next()
        if (x < mix.interrupted) return "interrupted"
        if (x < mix.interrupted + mix.garbage) return "garbage"
        if (x < mix.interrupted + mix.garbage + mix.vanishing) return "vanishing"
        return "exchange"
      }
      // Workers start over the first second, not all at once (a thousand SYNs at once only
      // measure the listen backlog).
      const worker = (index: number) =>
        Effect.gen(function*() {
          yield* Effect.sleep(Math.floor(index * 1000 / options.concurrency))
          while (Date.now() < deadline) yield* one(draw())
        })
      yield* Effect.forEach(Array.from({ length: options.concurrency }, (_, i) => i), worker, {
        concurrency: "unbounded",
        discard: true
      })
      const seconds = (Date.now() - started) / 1000

      // Every client is done: the server's connections end too (bounded), then nothing may be held
      // but the two contexts.
      yield* FiberSet.awaitEmpty(connections).pipe(Effect.timeout("30 seconds"), Effect.ignore)
      const serving = yield* FiberSet.size(connections)
      if (serving > 0) problems.push(`${serving} server connections still running 30 s after the last client`)
      yield* Fiber.interrupt(sampler)
      const liveAfter = yield* Diagnostics.counts
      if (liveAfter.SSL !== 0 || liveAfter.SSL_SESSION !== 0 || liveAfter.SSL_CTX !== 2) {
        problems.push(`native objects left after the run: ${JSON.stringify(liveAfter)} (expected the 2 contexts)`)
      }
      return { seconds, liveAfter }
    }))

    const afterAll = yield* Diagnostics.counts
    if (afterAll.SSL + afterAll.SSL_CTX + afterAll.SSL_SESSION !== 0) {
      problems.push(`native objects left after the contexts' release: ${JSON.stringify(afterAll)}`)
    }

    const warmedUp = (options.warmupMillis ?? options.durationMillis / 3) / 1000
    const halfway = (warmedUp + report.seconds) / 2
    const middle = samples.filter((s) => s.seconds >= warmedUp && s.seconds < halfway).map((s) => s.rssMiB)
    const late = samples.filter((s) => s.seconds >= halfway).map((s) => s.rssMiB)
    const warmMiB = median(middle)
    const lateMiB = median(late)
    const flat = middle.length > 0 && late.length > 0 && lateMiB <= warmMiB * 1.1 + 8
    if (!flat) problems.push(`RSS grew after warm-up: ${warmMiB} MiB -> ${lateMiB} MiB (rule: ${RSS_RULE})`)
    if (completed === 0) problems.push("no exchange completed")

    const sorted = connectTimes.sort((a, b) => a - b)
    return {
      seconds: report.seconds,
      concurrency: options.concurrency,
      clients,
      server,
      throughput: completed / report.seconds,
      connect: { p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99), max: sorted[sorted.length - 1] ?? 0 },
      samples,
      rss: { warmMiB, lateMiB, flat, rule: RSS_RULE },
      liveAfter: report.liveAfter,
      problems
    }
  })

/** The report as lines of text. */
export const describeReport = (r: SoakReport): string => {
  const lines = [
    `soak: ${r.seconds.toFixed(0)} s, ${r.concurrency} concurrent clients`,
    `throughput: ${r.throughput.toFixed(1)} exchanges/s`,
    `connection time (TCP connect to handshake done): p50 ${r.connect.p50.toFixed(1)} ms, p99 ${
      r.connect.p99.toFixed(1)
    } ms, max ${r.connect.max.toFixed(1)} ms`,
    `RSS after warm-up: ${r.rss.warmMiB} MiB -> ${r.rss.lateMiB} MiB (${
      r.rss.flat ? "flat" : "GROWING"
    }; ${r.rss.rule})`,
    `native objects after the run: ${JSON.stringify(r.liveAfter)}`,
    "clients:",
    ...Object.entries(r.clients).sort((a, b) => b[1] - a[1]).map(([k, v]) => `  ${String(v).padStart(7)}  ${k}`),
    "server connections:",
    ...Object.entries(r.server).sort((a, b) => b[1] - a[1]).map(([k, v]) => `  ${String(v).padStart(7)}  ${k}`),
    r.problems.length === 0 ? "no problem" : `PROBLEMS:\n  ${r.problems.join("\n  ")}`
  ]
  return lines.join("\n")
}
