/**
 * The program `scripts/memcheck.sh` runs under valgrind: a focused, bounded tour of what touches
 * native memory. Lifecycle (contexts, handles, up-refs, dups, early releases), sessions (capture,
 * bytes, resumption), the engine (handshakes, exchanges, bad input, fuzz cases of every kind) and
 * the racing patterns of the race properties. It prints what it did and exits 1 when one of its
 * own checks found a problem; valgrind judges the memory accesses.
 *
 *   node memcheck.cjs [--scale N] [--time-scale T]
 *
 * N multiplies every count (default 1); T every time bound of the race runs (default 1).
 */
import * as Diagnostics from "@effect-openssl/core/Diagnostics"
import * as Ssl from "@effect-openssl/core/Ssl"
import * as SslContext from "@effect-openssl/core/SslContext"
import * as SslSession from "@effect-openssl/core/SslSession"
import * as TlsConnection from "@effect-openssl/core/TlsConnection"
import * as Transport from "@effect-openssl/core/Transport"
import * as Effect from "effect/Effect"
import * as FastCheck from "effect/FastCheck"
import * as Option from "effect/Option"
import { parseArgs } from "node:util"
import * as Audit from "../audit.js"
import * as Fuzz from "../fuzz.js"
import { contexts, ObservedOpenSsl, versions } from "../peers.js"
import * as Races from "../races.js"
import { integer } from "./args.js"

const { values } = parseArgs({
  options: { scale: { type: "string", default: "1" }, "time-scale": { type: "string", default: "1" } }
})
const scale = integer("memcheck", "scale", values.scale, 1, 1000)
/** Valgrind slows everything some 20 to 50 times: the race runs' time bounds scale with it. */
const timeScale = integer("memcheck", "time-scale", values["time-scale"], 1, 1000)

const problems: Array<string> = []

const section = <A, E, R>(name: string, effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const started = Date.now()
    const exit = yield* Effect.exit(effect)
    const took = ((Date.now() - started) / 1000).toFixed(1)
    if (exit._tag === "Failure") problems.push(`${name}: ${String(exit.cause)}`)
    console.log(`memcheck: ${name} ${exit._tag === "Success" ? "done" : "FAILED"} in ${took} s`)
  })

/** Handles made, shared, duplicated and released in every order, audited. */
const lifecycle = Effect.scoped(Effect.gen(function*() {
  const audit = yield* Audit.start
  for (let i = 0; i < 20 * scale; i++) {
    yield* Effect.scoped(Effect.gen(function*() {
      const { client, server } = yield* contexts(versions[i % 2]!)
      const fresh = yield* Ssl.make(i % 3 === 0 ? server : client)
      const copy = yield* Ssl.dup(fresh)
      const extra = yield* Ssl.upRef(fresh)
      if (i % 2 === 0) yield* Ssl.release(fresh)
      if (i % 3 === 1) yield* Ssl.release(copy.ssl)
      yield* Ssl.settings(extra)
      if (i % 4 === 0) yield* SslContext.release(client)
    }))
  }
  const violations = yield* audit.finish
  problems.push(...violations.map((v) => `lifecycle: ${Audit.describeViolation(v)}`))
}))

/** Sessions captured, serialized, read back and resumed, for both versions. */
const sessions = Effect.scoped(Effect.gen(function*() {
  const audit = yield* Audit.start
  for (let i = 0; i < 6 * scale; i++) {
    yield* Effect.scoped(Effect.gen(function*() {
      const { client, server } = yield* contexts(versions[i % 2]!)
      let session: Option.Option<SslSession.SslSession> = Option.none()
      for (let round = 0; round < 3; round++) {
        const next = yield* Effect.scoped(Effect.gen(function*() {
          const [a, b] = yield* Transport.memoryPair
          const [c, s] = yield* Effect.all([
            TlsConnection.connect(a, client, { hostName: "localhost", session: Option.getOrUndefined(session) }),
            TlsConnection.accept(b, server)
          ], { concurrency: 2 })
          yield* s.write(new TextEncoder().encode("ticket first, then this"))
          yield* c.read
          // A TLS 1.2 session is there at the end of the handshake; a TLS 1.3 ticket comes after it.
          const received = yield* (versions[i % 2] === "TLSv1.2" ? c.session : c.awaitSession("2 seconds"))
          yield* Effect.all([c.close, s.close], { concurrency: 2 })
          if (Option.isNone(received)) return Option.none<Uint8Array>()
          return Option.some(yield* SslSession.toBytes(received.value))
        }))
        if (Option.isNone(next)) break
        const restored = yield* SslSession.fromBytes(client, next.value)
        yield* SslSession.isResumable(restored)
        session = Option.some(restored)
      }
    }))
  }
  const violations = yield* audit.finish
  problems.push(...violations.map((v) => `sessions: ${Audit.describeViolation(v)}`))
}))

/** Fuzz cases of every kind (fixed seed): the engine on bad input, sessions, PEM and DER. */
const fuzz = Effect.gen(function*() {
  for (const kind of Fuzz.kinds) {
    for (const c of FastCheck.sample(Fuzz.cases[kind], { seed: 4_242, numRuns: 8 * scale })) {
      const outcome = yield* Fuzz.run(c)
      problems.push(...outcome.problems.map((p) => `fuzz ${kind}: ${p} (case ${Fuzz.describeCase(c)})`))
    }
  }
})

/**
 * The race properties' plans (fixed seeds): operations racing scope closes and interruptions.
 * Plans that split records into chunks of a few bytes are left out: under valgrind a handshake
 * fed byte by byte takes minutes.
 */
const races = Effect.gen(function*() {
  const affordable = (plan: Races.Plan) => plan.maxChunk === undefined || plan.maxChunk >= 64
  const plans = [
    ...FastCheck.sample(Races.referencePlan, { seed: 1, numRuns: 20 * scale }).filter(affordable).slice(0, 5 * scale),
    ...FastCheck.sample(Races.plan, { seed: 1, numRuns: 10 * scale }).filter(affordable).slice(0, 1 * scale)
  ]
  for (const plan of plans) {
    const found = Races.describeOutcome(yield* Races.run(plan, { timeScale }))
    if (found !== "") problems.push(`races: ${found} (plan ${JSON.stringify(plan)})`)
  }
})

const program = Effect.gen(function*() {
  yield* section("lifecycle", lifecycle)
  yield* section("sessions", sessions)
  yield* section("fuzz", fuzz)
  yield* section("races", races)
  const held = yield* Diagnostics.counts
  if (held.SSL + held.SSL_CTX + held.SSL_SESSION > 0) problems.push(`still held at the end: ${JSON.stringify(held)}`)
})

Effect.runPromise(program.pipe(Effect.provide(ObservedOpenSsl))).then(
  () => {
    for (const problem of problems) console.log(`memcheck: problem: ${problem}`)
    console.log(`memcheck: program done, ${problems.length} problem(s)`)
    process.exit(problems.length === 0 ? 0 : 1)
  },
  (error) => {
    console.error(error)
    process.exit(2)
  }
)
