/**
 * The lifecycle model against the real library: random lifecycle programs must leave the same
 * observable trace on both (results, dup tags, which operations fail and how, native frees in
 * order). Object ids are numbered by first appearance, so runs and processes compare.
 */
import { OpenSsl } from "@effect-openssl/core/OpenSsl"
import * as Ssl from "@effect-openssl/core/Ssl"
import * as SslContext from "@effect-openssl/core/SslContext"
import * as SslSession from "@effect-openssl/core/SslSession"
import * as TlsEngine from "@effect-openssl/core/TlsEngine"
import { assert, describe, it, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { execFile } from "node:child_process"
import { fileURLToPath } from "node:url"
import { sourceCondition } from "../../../vitest.shared.js"
import { ObservedOpenSsl } from "../hardening/peers.js"
import * as Arbitraries from "../src/Arbitraries.js"
import * as LifecycleProgram from "../src/LifecycleProgram.js"
import * as OpenSslModel from "../src/OpenSslModel.js"
import * as TestPki from "../src/TestPki.js"

/** Every object the trace mentions, and how often each was freed. */
const objectsOf = (trace: LifecycleProgram.Trace) => {
  const seen = new Set<string>()
  const freed = new Map<string, number>()
  for (const step of trace) {
    if (step.outcome._tag === "Succeeded") {
      const value = step.outcome.value
      if (value._tag === "Object" || value._tag === "Dup") seen.add(String(value.object))
    }
    for (const free of step.frees) {
      const object = free.split(" ")[1]!
      seen.add(object)
      freed.set(object, (freed.get(object) ?? 0) + 1)
    }
  }
  return { seen, freed }
}

/** The first differing step, for a readable failure. */
const firstDifference = (
  program: LifecycleProgram.Program,
  model: LifecycleProgram.Trace,
  real: LifecycleProgram.Trace
) => {
  const i = real.findIndex((step, i) => JSON.stringify(step) !== JSON.stringify(model[i]))
  return `step ${i} ${JSON.stringify(program.ops[i] ?? "End")}:\n  real  ${JSON.stringify(real[i])}\n  model ${
    JSON.stringify(model[i])
  }`
}

const onModel = (program: LifecycleProgram.Program) =>
  LifecycleProgram.run(program).pipe(Effect.provide(OpenSslModel.layer))

layer(ObservedOpenSsl)("model vs real OpenSSL", (it) => {
  it.effect.prop(
    "every lifecycle program leaves the same trace on the model and on the real library",
    [Arbitraries.lifecycleProgram()],
    ([program]) =>
      Effect.gen(function*() {
        const real = yield* LifecycleProgram.run(program)
        const model = yield* onModel(program)
        assert.deepStrictEqual(model, real, firstDifference(program, model, real))
        // And the shared trace is a sound one: every object freed exactly once by the end.
        const { freed, seen } = objectsOf(real)
        assert.deepStrictEqual([...seen].sort(), [...freed.keys()].sort())
        assert.isTrue([...freed.values()].every((n) => n === 1))
      }),
    { fastCheck: { numRuns: 300 } }
  )
})

// The programs the arbitrary leaves out: the model says the real library dies on them.
const crashing: LifecycleProgram.Program = {
  ops: [
    { _tag: "NewContext", role: "server" },
    { _tag: "Make", context: 0, role: "server", hostName: undefined },
    { _tag: "Handshake", handle: 0 },
    { _tag: "Handshake", handle: 0 }
  ]
}

describe("where the model predicts a crash", () => {
  it.effect("the model fails with WouldCrash instead", () =>
    Effect.gen(function*() {
      assert.isTrue(LifecycleProgram.crashesOpenSsl(crashing))
      const trace = yield* onModel(crashing)
      assert.deepStrictEqual(trace[3]!.outcome, {
        _tag: "Failed",
        error: "OpenSslError",
        detail: "SSL_do_handshake: WouldCrash"
      })
      assert.isFalse(LifecycleProgram.crashesOpenSsl({ ops: crashing.ops.slice(0, 3) }))
    }))

  it.live("the real library does crash the process (run in a child process)", () =>
    Effect.gen(function*() {
      const script = fileURLToPath(new URL("./fixtures/runProgram.ts", import.meta.url))
      const run = (program: LifecycleProgram.Program) =>
        Effect.async<{ readonly code: number | null; readonly signal: string | null; readonly stdout: string }>(
          (resume) => {
            execFile(process.execPath, [
              `--conditions=${sourceCondition}`,
              "--import",
              "tsx",
              script,
              JSON.stringify(program)
            ], (error, stdout) =>
              resume(Effect.succeed({
                code: error === null ? 0 : (typeof error.code === "number" ? error.code : null),
                signal: error?.signal ?? null,
                stdout
              })))
          }
        )
      const survived = yield* run({ ops: crashing.ops.slice(0, 3) })
      assert.deepStrictEqual([survived.code, survived.signal], [0, null])
      assert.deepStrictEqual(JSON.parse(survived.stdout), yield* onModel({ ops: crashing.ops.slice(0, 3) }))
      const crashed = yield* run(crashing)
      assert.strictEqual(crashed.signal, "SIGSEGV")
    }), 60_000)
})

describe("what the model cannot do", () => {
  it.effect("it provides only the capabilities it models; the rest fail with UnsupportedError naming the operation", () =>
    Effect.gen(function*() {
      const model = yield* OpenSslModel.make
      assert.deepStrictEqual(OpenSslModel.capabilities, ["handles", "handshake", "frees"])
      assert.deepStrictEqual([model.io, model.sessions, model.pki], [undefined, undefined, undefined])
      const failures = yield* Effect.gen(function*() {
        const ctx = yield* SslContext.make({ role: "client", verify: { mode: "none" } })
        const ssl = yield* Ssl.make(ctx)
        return yield* Effect.all([
          Effect.flip(TlsEngine.make(ssl, { role: "client" })),
          Effect.flip(SslSession.fromBytes(ctx, new Uint8Array([0x30, 0]))),
          Effect.flip(TestPki.make())
        ])
      }).pipe(Effect.scoped, Effect.provideService(OpenSsl, model))
      assert.deepStrictEqual(
        failures.map((e) => [e._tag, e._tag === "UnsupportedError" ? e.operation : ""]),
        [
          ["UnsupportedError", "TlsEngine"],
          ["UnsupportedError", "SslSession.fromBytes"],
          ["UnsupportedError", "generateKey"]
        ]
      )
    }))
})
