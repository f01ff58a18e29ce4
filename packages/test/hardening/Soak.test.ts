/**
 * The short soak (the long one is `pnpm soak`): 25 seconds of connect/exchange/close churn over
 * loopback TCP with 200 concurrent clients, interruptions, garbage and vanishing peers. Every
 * connection ends in success or a typed error, every native object but the two contexts is
 * given back when the clients are done (all of them once the contexts go), and RSS is flat after
 * a warm-up of 15 s (see `RSS_RULE`: RSS climbs for that long before it levels off).
 */
import { assert, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { ObservedOpenSsl } from "./peers.js"
import { describeReport, soak } from "./soak.js"

layer(ObservedOpenSsl, { excludeTestServices: true })("soak", (it) => {
  it.effect(
    "25 s of churn with 200 concurrent clients: typed outcomes, every native object back, flat RSS after warm-up",
    () =>
      Effect.gen(function*() {
        const report = yield* soak({ durationMillis: 25_000, warmupMillis: 15_000, concurrency: 200, seed: 15 })
        const text = describeReport(report)
        assert.deepStrictEqual(report.problems, [], text)
        assert.deepStrictEqual(report.liveAfter, { SSL_CTX: 2, SSL: 0, SSL_SESSION: 0 }, text)
        assert.isTrue(report.rss.flat, text)
        // Every kind of client ran, and the failing ones failed the server's handshakes.
        for (
          const kind of ["exchange: success", "interrupted: interrupted", "garbage: Success", "vanishing: Success"]
        ) {
          assert.isAbove(report.clients[kind] ?? 0, 0, `no ${kind}\n${text}`)
        }
        assert.isAbove(report.server["TlsError Protocol"] ?? 0, 0, text)
        assert.isAbove(report.server["TlsError UnexpectedEof"] ?? 0, 0, text)
      }),
    90_000
  )
})
