/**
 * `pnpm soak`: connect/exchange/close churn through a loopback TCP server (see `soak.ts`).
 *
 *   pnpm soak [--duration 3m] [--concurrency 1000] [--seed N]
 *
 * Prints a sample every 5 seconds (RSS, heap, native objects held, server connections, exchanges
 * done) and the report. Exits 1 when the run found a problem.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { parseArgs } from "node:util"
import { ObservedOpenSsl } from "../peers.js"
import { describeReport, soak } from "../soak.js"
import { duration, integer } from "./args.js"

const { values } = parseArgs({
  options: {
    duration: { type: "string", default: "3m" },
    concurrency: { type: "string", default: "1000" },
    seed: { type: "string", default: "1" }
  }
})

const durationMillis = Duration.toMillis(duration("soak", "duration", values.duration))
const concurrency = integer("soak", "concurrency", values.concurrency, 1, 10_000)
const seed = integer("soak", "seed", values.seed, 0, 2 ** 31 - 1)

console.log(`soak: ${durationMillis / 1000} s, ${concurrency} concurrent clients, seed ${seed}`)
const program = Effect.map(
  soak({
    durationMillis,
    concurrency,
    seed,
    sampleEveryMillis: 5000,
    onSample: (s) =>
      console.log(
        `  ${
          String(s.seconds).padStart(6)
        } s  rss ${s.rssMiB} MiB  heap ${s.heapMiB} MiB  native ${s.live}  serving ${s.serving}  done ${s.completed}`
      )
  }),
  (report) => {
    console.log(describeReport(report))
    return report.problems.length === 0
  }
)

Effect.runPromise(program.pipe(Effect.provide(ObservedOpenSsl))).then(
  (ok) => process.exit(ok ? 0 : 1),
  (error) => {
    console.error(error)
    process.exit(2)
  }
)
