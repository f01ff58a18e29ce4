/**
 * Race and interruption properties: the public operations of a connection, on both sides, from
 * several fibers at once, shuffled by a seeded scheduler, while the connection scopes close and
 * actors are interrupted. No native object may be freed while a lease holds it, none freed twice,
 * no reference taken on a freed object; every operation ends in success or a typed error about
 * the connection; everything is freed at the end.
 *
 * A failing case prints its plan: `Races.run(plan)` replays it (the scheduler is seeded; timers
 * and the order of native callbacks still run in real time, so a replay is likely, not certain).
 */
import { assert, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import type * as FastCheck from "effect/FastCheck"
import { ObservedOpenSsl } from "./peers.js"
import * as Races from "./races.js"

const holds = (plan: Races.Plan) =>
  Effect.map(Races.run(plan), (outcome) => {
    const problems = Races.describeOutcome(outcome)
    if (problems !== "") assert.fail(`${problems}\nplan: ${JSON.stringify(plan)}`)
  })

// A failing plan is reported as found: shrinking reruns hundreds of plans, each up to seconds.
const parameters = (numRuns: number, seed: number): FastCheck.Parameters<[Races.Plan]> => ({
  numRuns,
  seed,
  endOnFailure: true
})

layer(ObservedOpenSsl, { excludeTestServices: true })("races", (it) => {
  it.effect.prop(
    "every operation, scope closes and interruptions interleaved: frees match leases, typed outcomes only",
    [Races.plan],
    ([plan]) => holds(plan),
    { timeout: 120_000, fastCheck: parameters(40, 20_261_204) }
  )

  it.effect.prop(
    "references taken (sessions, the SSL) while the connection closes and tickets arrive: none on a freed object",
    [Races.referencePlan],
    ([plan]) => holds(plan),
    { timeout: 120_000, fastCheck: parameters(60, 20_261_204) }
  )
})
