/**
 * Race and interruption programs over one connected client/server pair: several fibers per side
 * run the public operations of a connection (and of the handles it hands out) in a random
 * order, with random yields, while other fibers close each side's scope and interrupt actors at
 * random points. The whole run is shuffled by a seeded `RandomScheduler` (yields at random
 * operation boundaries, a `MaxOpsBeforeYield` down to 10, ready fibers resumed in random order)
 * and audited against observed native frees (see `audit.ts`).
 *
 * Written against the public API only (`TlsConnection`, `Ssl`, `SslSession`, `Diagnostics`), so
 * it holds whatever drives the connection underneath.
 */
import type { OpenSsl } from "@effect-openssl/core/OpenSsl"
import * as Ssl from "@effect-openssl/core/Ssl"
import type { SslError } from "@effect-openssl/core/SslError"
import * as SslSession from "@effect-openssl/core/SslSession"
import * as TlsConnection from "@effect-openssl/core/TlsConnection"
import * as Cause from "effect/Cause"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Exit from "effect/Exit"
import * as FastCheck from "effect/FastCheck"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import * as MemoryTransport from "../src/MemoryTransport.js"
import * as RandomScheduler from "../src/RandomScheduler.js"
import * as Audit from "./audit.js"
import { contexts, type Version, versions } from "./peers.js"

/** Operations on a connection, and on the references it hands out. */
export const operations = [
  "read",
  "write",
  "awaitSession",
  "session",
  "engineSession",
  "info",
  "exportKeyingMaterial",
  "close",
  "closeWrite",
  "sslUpRef",
  "sslDup",
  "sessionToBytes",
  "sessionFromBytes",
  "sessionUpRef",
  "releaseHeld"
] as const

export type Operation = typeof operations[number]

export interface Step {
  readonly op: Operation
  /** `Effect.yieldNow` calls before the operation. */
  readonly yields: number
  /** How many times in a row (a loop widens the window in which it meets a close). */
  readonly repeat: number
  /** Which held reference an operation on one takes (modulo how many are held). */
  readonly pick: number
  /** Keep a reference the operation hands out until the end of the run, or release it at once. */
  readonly keep: boolean
}

export interface Actor {
  readonly side: "client" | "server"
  readonly steps: ReadonlyArray<Step>
}

/**
 * A point in the run: once `operations` operations of the actors have started (or the actors are
 * done or stalled, waiting for what no one sends), then after `yields` more yields. Counting
 * operations lands closes and interruptions among the operations rather than before or after
 * all of them.
 */
export interface Moment {
  readonly operations: number
  readonly yields: number
}

export interface Plan {
  readonly version: Version
  /** Seed of the scheduler's yields and resumption order. */
  readonly seed: number
  readonly maxOpsBeforeYield: number
  readonly yieldProbability: number
  /**
   * Split every send into chunks of at most this many bytes (`MemoryTransport`): records, and the
   * TLS 1.3 tickets sent together, then arrive one read at a time.
   */
  readonly maxChunk: number | undefined
  readonly actors: ReadonlyArray<Actor>
  /** When each side's connection scope is closed (`undefined`: at the end). */
  readonly closeClient: Moment | undefined
  readonly closeServer: Moment | undefined
  /** Actors interrupted at some moment. */
  readonly interrupts: ReadonlyArray<{ readonly actor: number; readonly at: Moment }>
}

/** Operations that hand out a reference the connection also holds: drawn more often. */
const referenceTaking: ReadonlyArray<Operation> = ["session", "awaitSession", "engineSession", "sslUpRef"]

const step: FastCheck.Arbitrary<Step> = FastCheck.record({
  op: FastCheck.oneof(
    { weight: 2, arbitrary: FastCheck.constantFrom(...operations) },
    { weight: 1, arbitrary: FastCheck.constantFrom(...referenceTaking) }
  ),
  yields: FastCheck.oneof(FastCheck.constant(0), FastCheck.integer({ min: 0, max: 8 })),
  repeat: FastCheck.oneof(FastCheck.constant(1), FastCheck.integer({ min: 1, max: 16 })),
  pick: FastCheck.nat(7),
  keep: FastCheck.boolean()
})

const actor: FastCheck.Arbitrary<Actor> = FastCheck.record({
  side: FastCheck.constantFrom("client" as const, "server" as const),
  steps: FastCheck.array(step, { minLength: 1, maxLength: 8 })
})

const moment: FastCheck.Arbitrary<Moment> = FastCheck.record({
  operations: FastCheck.integer({ min: 0, max: 40 }),
  yields: FastCheck.oneof(FastCheck.constant(0), FastCheck.integer({ min: 0, max: 30 }))
})

const sometimes = FastCheck.option(moment, { nil: undefined, freq: 4 })

export const plan: FastCheck.Arbitrary<Plan> = FastCheck.record({
  version: FastCheck.constantFrom(...versions),
  seed: FastCheck.integer(),
  maxOpsBeforeYield: FastCheck.constantFrom(10, 12, 16, 32, 2048),
  yieldProbability: FastCheck.constantFrom(0, 0.02, 0.1, 0.25),
  maxChunk: FastCheck.option(FastCheck.integer({ min: 1, max: 300 }), { nil: undefined }),
  actors: FastCheck.array(actor, { minLength: 1, maxLength: 5 }),
  closeClient: sometimes,
  closeServer: sometimes,
  interrupts: FastCheck.array(FastCheck.record({ actor: FastCheck.nat(4), at: moment }), { maxLength: 2 })
})

/**
 * Plans that concentrate on one pattern: operations handing out a reference the connection also
 * holds (sessions, the `SSL`), looped and released at once, while a reader processes what
 * arrives (TLS 1.3 tickets) and the connection scopes close among them.
 */
export const referencePlan: FastCheck.Arbitrary<Plan> = FastCheck.record({
  version: FastCheck.constantFrom(...versions),
  seed: FastCheck.integer(),
  maxOpsBeforeYield: FastCheck.constantFrom(10, 12, 16, 32),
  yieldProbability: FastCheck.constantFrom(0.1, 0.25),
  maxChunk: FastCheck.option(FastCheck.integer({ min: 1, max: 300 }), { nil: undefined }),
  actors: FastCheck.tuple(
    FastCheck.array(
      FastCheck.record({
        side: FastCheck.constantFrom("client" as const, "server" as const),
        steps: FastCheck.tuple(FastCheck.record({
          op: FastCheck.constantFrom(...referenceTaking),
          yields: FastCheck.integer({ min: 0, max: 8 }),
          repeat: FastCheck.integer({ min: 10, max: 40 }),
          pick: FastCheck.constant(0),
          keep: FastCheck.constant(false)
        }))
      }),
      { minLength: 1, maxLength: 3 }
    ),
    FastCheck.constantFrom("client" as const, "server" as const)
  ).map(([takers, readerSide]): ReadonlyArray<Actor> => [
    ...takers,
    { side: readerSide, steps: [{ op: "read", yields: 0, repeat: 2, pick: 0, keep: false }] }
  ]),
  closeClient: FastCheck.record({ operations: FastCheck.integer({ min: 0, max: 60 }), yields: FastCheck.nat(10) }),
  closeServer: sometimes,
  interrupts: FastCheck.constant([])
})

export interface Outcome {
  readonly violations: ReadonlyArray<Audit.Violation>
  /** Operations that died (a defect instead of success or a typed error), with the cause. */
  readonly defects: ReadonlyArray<string>
  /** Operations that completed, by result. */
  readonly succeeded: number
  readonly failed: number
  readonly interrupted: number
}

export const describeOutcome = (outcome: Outcome): string =>
  [...outcome.violations.map(Audit.describeViolation), ...outcome.defects].join("\n")

type Held =
  | { readonly _tag: "Session"; readonly session: SslSession.SslSession }
  | { readonly _tag: "Ssl"; readonly ssl: Ssl.Ssl }

const payload = new TextEncoder().encode("racing ".repeat(40))

/**
 * Run one operation. A reference it hands out is kept in `scope` (the actor's, open until the
 * end of the run) when the step says `keep`, or released as soon as the operation returned: a
 * caller that only looks leaves the connection's own reference as the last one, which is what
 * lets a concurrent close free the object under a reference being taken.
 */
const perform = (
  conn: TlsConnection.TlsConnection,
  step: Step,
  held: Array<Held>,
  scope: Scope.Scope
): Effect.Effect<void, TlsConnection.TlsConnectionError> => {
  const hold = <E>(
    acquire: Effect.Effect<Held | undefined, E, Scope.Scope>
  ): Effect.Effect<void, E> =>
    step.keep
      ? Effect.map(Scope.extend(acquire, scope), (h) => {
        if (h !== undefined) held.push(h)
      })
      : Effect.scoped(Effect.asVoid(acquire))
  const aSession = (session: Option.Option<SslSession.SslSession>): Held | undefined =>
    Option.isSome(session) ? { _tag: "Session", session: session.value } : undefined
  const sessions = held.flatMap((h) => h._tag === "Session" ? [h.session] : [])
  const session = sessions.length === 0 ? undefined : sessions[step.pick % sessions.length]
  switch (step.op) {
    case "read":
      return Effect.asVoid(conn.read)
    case "write":
      return conn.write(payload)
    case "awaitSession":
      return hold(Effect.map(conn.awaitSession("100 millis"), aSession))
    case "session":
      return hold(Effect.map(conn.session, aSession))
    case "engineSession":
      return hold(Effect.map(conn.engine.session, aSession))
    case "info":
      // The lazy chain is parsed from bytes copied out while the handle was live.
      return Effect.map(conn.info, (info) => info.peerChain.length)
    case "exportKeyingMaterial":
      return Effect.asVoid(conn.exportKeyingMaterial("EXPERIMENTAL-races", 32))
    case "close":
      return conn.close
    case "closeWrite":
      return conn.closeWrite
    case "sslUpRef":
      return hold(Effect.map(Ssl.upRef(conn.ssl), (ssl): Held => ({ _tag: "Ssl", ssl })))
    case "sslDup":
      return hold(Effect.map(Ssl.dup(conn.ssl), (r): Held => ({ _tag: "Ssl", ssl: r.ssl })))
    case "sessionToBytes":
      return session === undefined ? Effect.void : Effect.asVoid(SslSession.toBytes(session))
    case "sessionFromBytes":
      return session === undefined ? Effect.void : hold(
        SslSession.toBytes(session).pipe(
          Effect.flatMap((bytes) => SslSession.fromBytes(session.context, bytes)),
          Effect.map((restored): Held => ({ _tag: "Session", session: restored }))
        )
      )
    case "sessionUpRef":
      return session === undefined ? Effect.void : hold(
        Effect.map(SslSession.upRef(session), (extra): Held => ({ _tag: "Session", session: extra }))
      )
    case "releaseHeld": {
      if (held.length === 0) return Effect.void
      const [released] = held.splice(step.pick % held.length, 1)
      return released!._tag === "Session" ? SslSession.release(released!.session) : Ssl.release(released!.ssl)
    }
  }
}

/**
 * The failures an operation may end with: what happened to the connection (`TlsError`: closed,
 * failed, timed out), a handle used after its scope closed (`ReleasedHandleError`), the
 * transport gone (`TransportError`). An `OpenSslError` here is a native call that should not
 * have failed.
 */
const expectedFailures: ReadonlySet<string> = new Set(["TlsError", "ReleasedHandleError", "TransportError"])

const unexpected = (error: TlsConnection.TlsConnectionError): string =>
  error._tag === "OpenSslError" && /_up_ref$/.test(error.operation)
    // *_up_ref fails when the count it raised was 0: the object had been freed.
    ? `${error.operation} found a count of 0: a reference taken on a freed object (${error.message})`
    : `unexpected ${error._tag}: ${error.message}`

/**
 * What is in flight: each actor's current operation and each closer, so that a run that hangs
 * says where.
 */
class Journal {
  /** Operations the actors started so far. */
  operations = 0
  /** Operations started or ended so far. */
  progress = 0
  readonly #pending = new Map<string, string>()
  readonly events: Array<string> = []
  begin(who: string, what: string): void {
    this.progress++
    this.#pending.set(who, what)
    this.events.push(`${who}: ${what}`)
  }
  end(who: string, how: string): void {
    this.progress++
    this.events.push(`${who}: ${this.#pending.get(who)} -> ${how}`)
    this.#pending.delete(who)
  }
  get pending(): string {
    return Array.from(this.#pending, ([who, what]) => `${who}: ${what}`).join("; ")
  }
  track<A, E, R>(who: string, what: string, effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> {
    return Effect.suspend(() => {
      this.begin(who, what)
      return Effect.onExit(effect, (exit) => Effect.sync(() => this.end(who, exit._tag)))
    })
  }
}

/** Yields without an operation starting or ending after which the actors count as stalled. */
const STALLED_AFTER_YIELDS = 200

/** How long a whole run may take (real time) before it counts as hung. */
const RUN_BOUND_MILLIS = 20_000

export interface RunOptions {
  /**
   * Multiplies the run's time bounds (the handshake and close timeouts, the bound that detects a
   * hang): for slow runs, such as under valgrind. Default 1. `awaitSession`'s wait is part of the
   * operation and stays as it is.
   */
  readonly timeScale?: number | undefined
}

/** Run a plan (under its own shuffling scheduler) and report what the audit and the operations saw. */
export const run = (
  plan: Plan,
  options: RunOptions = {}
): Effect.Effect<Outcome, SslError, OpenSsl> =>
  Effect.scoped(Effect.gen(function*() {
    const timeScale = options.timeScale ?? 1
    const audit = yield* Audit.start
    const journal = new Journal()
    const defects: Array<string> = []
    let succeeded = 0
    let failed = 0
    let interrupted = 0
    // Actors' references live here: until the end, unless the audit found a reference taken on
    // freed memory (releasing it would free freed memory: the run leaves it and reports).
    const actorScope = yield* Scope.make()
    const body = Effect.scoped(Effect.gen(function*() {
      const { client, server } = yield* contexts(plan.version)
      const { a, b } = yield* MemoryTransport.make(
        plan.maxChunk === undefined ? {} : {
          aToB: { seed: plan.seed, maxChunk: plan.maxChunk },
          bToA: { seed: plan.seed, maxChunk: plan.maxChunk }
        }
      )
      // Each side's scope closes at its moment, or with the run's at the latest.
      const runScope = yield* Effect.scope
      const clientScope = yield* Scope.fork(runScope, ExecutionStrategy.sequential)
      const serverScope = yield* Scope.fork(runScope, ExecutionStrategy.sequential)
      const options = { handshakeTimeout: 5_000 * timeScale, closeTimeout: 300 * timeScale }
      const pair = yield* Effect.either(journal.track(
        "pair",
        "handshake",
        Effect.all([
          Scope.extend(TlsConnection.connect(a, client, { ...options, hostName: "localhost" }), clientScope),
          Scope.extend(TlsConnection.accept(b, server, options), serverScope)
        ], { concurrency: 2 })
      ))
      // Nothing but the order of events differs from a plain connection: the handshake must succeed.
      if (pair._tag === "Left") {
        defects.push(`the handshake failed: ${pair.left.message}`)
        return
      }
      const [c, s] = pair.right

      const actors = yield* Effect.forEach(plan.actors, (actor, index) => {
        const who = `actor ${index} (${actor.side})`
        const conn = actor.side === "client" ? c : s
        const held: Array<Held> = []
        return Effect.fork(Effect.forEach(actor.steps, (step) =>
          Effect.gen(function*() {
            for (let i = 0; i < step.yields; i++) yield* Effect.yieldNow()
            for (let i = 0; i < step.repeat; i++) {
              journal.operations++
              const exit = yield* Effect.exit(journal.track(who, step.op, perform(conn, step, held, actorScope)))
              if (Exit.isSuccess(exit)) succeeded++
              else if (Cause.isInterruptedOnly(exit.cause)) interrupted++
              else if (Cause.isDie(exit.cause)) defects.push(`${who} ${step.op} died: ${Cause.pretty(exit.cause)}`)
              else {
                failed++
                for (const error of Cause.failures(exit.cause)) {
                  if (!expectedFailures.has(error._tag)) defects.push(`${who} ${step.op}: ${unexpected(error)}`)
                }
              }
              // Stop at the first reference on freed memory: using it would touch freed memory.
              if (!(yield* audit.checkHeld)) return yield* Effect.interrupt
            }
          }), { discard: true }))
      })
      const actorsDone = () => actors.every((fiber) => fiber.unsafePoll() !== null)
      const at = (moment: Moment | undefined, who: string, effect: Effect.Effect<void>) =>
        moment === undefined ? Effect.void : Effect.gen(function*() {
          let seen = journal.progress
          let idle = 0
          while (journal.operations < moment.operations && !actorsDone() && idle < STALLED_AFTER_YIELDS) {
            yield* Effect.yieldNow()
            idle = journal.progress === seen ? idle + 1 : 0
            seen = journal.progress
          }
          for (let i = 0; i < moment.yields; i++) yield* Effect.yieldNow()
          yield* journal.track(who, "run", effect)
        })
      const closers = yield* Effect.forkAll([
        at(plan.closeClient, "close client scope", Scope.close(clientScope, Exit.void)),
        at(plan.closeServer, "close server scope", Scope.close(serverScope, Exit.void)),
        ...plan.interrupts.map(({ actor, at: moment }) =>
          at(moment, `interrupt actor ${actor % actors.length}`, Fiber.interrupt(actors[actor % actors.length]!))
        )
      ])
      yield* Fiber.join(closers)
      // Operations still waiting for the peer end with the transports.
      yield* Effect.sleep("20 millis")
      yield* Effect.all([a.end, b.end])
      yield* Fiber.awaitAll(actors)
      yield* journal.track("close client scope", "at the end", Scope.close(clientScope, Exit.void))
      yield* journal.track("close server scope", "at the end", Scope.close(serverScope, Exit.void))
    }))
    const exit = yield* body.pipe(
      Effect.orDie,
      RandomScheduler.shuffled(plan),
      // A hung body is left behind (disconnected), so the report comes out.
      Effect.disconnect,
      Effect.timeoutFail({
        duration: RUN_BOUND_MILLIS * timeScale,
        onTimeout: () =>
          new RunHung({
            millis: RUN_BOUND_MILLIS * timeScale,
            pending: journal.pending,
            events: journal.events.slice(-20)
          })
      }),
      Effect.catchTag("RunHung", (hung) => Effect.sync(() => defects.push(hung.message))),
      Effect.exit
    )
    if (Exit.isFailure(exit)) defects.push(`the run died: ${Cause.pretty(exit.cause)}`)
    if (yield* audit.checkHeld) yield* Scope.close(actorScope, Exit.void)
    yield* audit.finish
    return { violations: audit.violations, defects, succeeded, failed, interrupted }
  }))

/** A run still going after `RUN_BOUND_MILLIS`: what was in flight, and the last events. */
class RunHung extends Data.TaggedError("RunHung")<{
  readonly millis: number
  readonly pending: string
  readonly events: ReadonlyArray<string>
}> {
  override get message(): string {
    return `hung after ${this.millis} ms; in flight: ${this.pending}\nlast events:\n  ${this.events.join("\n  ")}`
  }
}
