/**
 * `pnpm fuzz`: hunt with the fuzz cases of the suite, for longer and with any seed.
 *
 *   pnpm fuzz [--duration 60s] [--seed N] [--kinds Replay,InFlight,Session,Pem,Der]
 *   pnpm fuzz --seed N --case I       replay case I of seed N (printed with every problem)
 *
 * Case I of seed N is always the same case: cases are drawn in batches, batch B from seed N + B.
 * Exits 1 when a case had a problem.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as FastCheck from "effect/FastCheck"
import { parseArgs } from "node:util"
import * as Fuzz from "../fuzz.js"
import { ObservedOpenSsl } from "../peers.js"
import { duration, integer, usageError } from "./args.js"

const BATCH = 50

const { values } = parseArgs({
  options: {
    duration: { type: "string", default: "60 seconds" },
    seed: { type: "string" },
    kinds: { type: "string", default: Fuzz.kinds.join(",") },
    case: { type: "string" }
  }
})

const kinds = values.kinds.split(",").map((k) => k.trim()) as Array<Fuzz.Kind>
for (const kind of kinds) {
  if (!Fuzz.kinds.includes(kind)) usageError("fuzz", `unknown kind ${kind} (kinds: ${Fuzz.kinds.join(", ")})`)
}
const seed = values.seed === undefined ?
  Math.floor(Math.random() * 2 ** 31) :
  integer("fuzz", "seed", values.seed, -(2 ** 31), 2 ** 31 - 1)
const budget = Duration.toMillis(duration("fuzz", "duration", values.duration))

const arbitrary = FastCheck.oneof(...kinds.map((kind) => Fuzz.cases[kind]))
const caseAt = (index: number): Fuzz.Case =>
  FastCheck.sample(arbitrary, { seed: seed + Math.floor(index / BATCH), numRuns: BATCH })[index % BATCH]!

const replayLine = (index: number) =>
  `pnpm fuzz --seed ${seed} --case ${index}${values.kinds === Fuzz.kinds.join(",") ? "" : ` --kinds ${values.kinds}`}`

const program = Effect.gen(function*() {
  if (values.case !== undefined) {
    const index = integer("fuzz", "case", values.case, 0, Number.MAX_SAFE_INTEGER)
    const c = caseAt(index)
    const outcome = yield* Fuzz.run(c)
    console.log(`case: ${Fuzz.describeCase(c)}`)
    console.log(`results: ${outcome.results.join("; ")}`)
    console.log(outcome.problems.length === 0 ? "no problem" : `problems:\n  ${outcome.problems.join("\n  ")}`)
    return outcome.problems.length === 0
  }
  console.log(`fuzz: seed ${seed}, ${Duration.format(Duration.millis(budget))}, kinds ${kinds.join(", ")}`)
  const started = Date.now()
  const tally = new Map<string, number>()
  let problems = 0
  let index = 0
  let lastReport = started
  for (; Date.now() - started < budget; index++) {
    const c = caseAt(index)
    const outcome = yield* Fuzz.run(c)
    for (const result of outcome.results) tally.set(`${c._tag} ${result}`, (tally.get(`${c._tag} ${result}`) ?? 0) + 1)
    if (outcome.problems.length > 0) {
      problems++
      console.log(`\nPROBLEM in case ${index} (${replayLine(index)}):\n  ${outcome.problems.join("\n  ")}`)
      console.log(`  case: ${Fuzz.describeCase(c)}`)
    }
    if (Date.now() - lastReport > 10_000) {
      lastReport = Date.now()
      console.log(
        `  ${index + 1} cases, ${
          Math.round((index + 1) / ((lastReport - started) / 1000))
        }/s, ${problems} with problems`
      )
    }
  }
  const seconds = (Date.now() - started) / 1000
  console.log(
    `\n${index} cases in ${seconds.toFixed(1)} s (${(index / seconds).toFixed(1)}/s), ${problems} with problems`
  )
  console.log("outcomes:")
  for (const [outcome, count] of [...tally].sort((x, y) => y[1] - x[1])) {
    console.log(`  ${String(count).padStart(7)}  ${outcome}`)
  }
  return problems === 0
})

Effect.runPromise(program.pipe(Effect.provide(ObservedOpenSsl))).then(
  (ok) => process.exit(ok ? 0 : 1),
  (error) => {
    console.error(error)
    process.exit(2)
  }
)
