import * as Diagnostics from "@effect-openssl/core/Diagnostics"
import * as Ssl from "@effect-openssl/core/Ssl"
import * as SslContext from "@effect-openssl/core/SslContext"
import { assert, describe, it, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as FastCheck from "effect/FastCheck"
import { ObservedOpenSsl } from "../hardening/peers.js"
import * as Arbitraries from "../src/Arbitraries.js"
import * as LifecycleProgram from "../src/LifecycleProgram.js"
import * as OpenSslModel from "../src/OpenSslModel.js"

/** Settings of a context and of a handle made from it, without what the model cannot know. */
const settingsOf = (options: SslContext.Options) =>
  Effect.scoped(Effect.gen(function*() {
    const ctx = yield* SslContext.make(options)
    const { ciphers: _, ...context } = yield* SslContext.settings(ctx)
    const { ciphers: __, ...ssl } = yield* Ssl.settings(yield* Ssl.make(ctx))
    return { context, ssl }
  }))

layer(ObservedOpenSsl)(
  "Arbitraries against real OpenSSL",
  (it) => {
    it.effect.prop(
      "contextOptions: OpenSSL and the model accept them and read back the same settings",
      [Arbitraries.contextOptions],
      ([options]) =>
        Effect.gen(function*() {
          const real = yield* settingsOf(options)
          const model = yield* settingsOf(options).pipe(Effect.provide(OpenSslModel.layer))
          assert.deepStrictEqual(model, real)
        }),
      { fastCheck: { numRuns: 150 } }
    )

    it.effect.prop(
      "invalidContextOptions: rejected naming the option, before anything is allocated",
      [Arbitraries.invalidContextOptions],
      ([{ option, options }]) =>
        Effect.gen(function*() {
          const error = yield* Effect.flip(Effect.scoped(SslContext.make(options)))
          assert.deepStrictEqual([error._tag, error._tag === "InvalidOptionError" && error.option], [
            "InvalidOptionError",
            option
          ])
          assert.deepStrictEqual(yield* Diagnostics.counts, { SSL_CTX: 0, SSL: 0, SSL_SESSION: 0 })
        }),
      { fastCheck: { numRuns: 200 } }
    )
  }
)

describe("Arbitraries on the model", () => {
  it.effect.prop(
    "invalidContextOptions: every one fails with InvalidOptionError naming its option",
    [Arbitraries.invalidContextOptions],
    ([{ option, options }]) =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(Effect.scoped(SslContext.make(options)))
        assert.strictEqual(error._tag === "InvalidOptionError" && error.option, option)
      }).pipe(Effect.provide(OpenSslModel.layer)),
    { fastCheck: { numRuns: 500 } }
  )

  it("invalidContextOptions reach every kind of option", () => {
    const paths = new Set(
      FastCheck.sample(Arbitraries.invalidContextOptions, { numRuns: 2_000, seed: 1 }).map(({ option }) =>
        option.replace(/\[\d+\]$/, "[i]")
      )
    )
    assert.deepStrictEqual(
      [...paths].sort(),
      [
        "allowRenegotiation",
        "alpnProtocols",
        "alpnProtocols[i]",
        "certificate.chain",
        "certificate.chain[i]",
        "certificate.key",
        "certificate.passphrase",
        "ciphers",
        "ciphersuites",
        "groups",
        "groups[i]",
        "maxProtocol",
        "minProtocol",
        "options",
        "options[i]",
        "role",
        "sessionTimeout",
        "sessionCacheMode",
        "trust",
        "trust.certificates",
        "trust.certificates[i]",
        "trust.systemDefaults",
        "verify.depth",
        "verify.mode"
      ].sort()
    )
  })

  it("hostName: mostly names the binding accepts, some it must reject", () => {
    const names = FastCheck.sample(Arbitraries.hostName, { numRuns: 600, seed: 2 })
    const valid = (name: string) =>
      name.length > 0 && new TextEncoder().encode(name).length <= 255 && !name.includes("\0")
    const accepted = names.filter(valid).length
    assert.isAbove(accepted, 400)
    assert.isBelow(accepted, 600)
  })

  it("lifecycleProgram: programs start with a context and reach every outcome that matters", () => {
    const programs = FastCheck.sample(Arbitraries.lifecycleProgram(), { numRuns: 300, seed: 3 })
    assert.isTrue(programs.every((p) => p.ops[0]!._tag === "NewContext"))
    assert.isTrue(programs.every((p) => !LifecycleProgram.crashesOpenSsl(p)))
    const outcomes = new Set<string>()
    for (const program of programs) {
      for (const step of Effect.runSync(LifecycleProgram.run(program).pipe(Effect.provide(OpenSslModel.layer)))) {
        const o = step.outcome
        outcomes.add(
          o._tag === "Failed"
            ? `${step.op} failed: ${o.error}`
            : o._tag === "Succeeded" && o.value._tag === "Dup"
            ? `Dup: ${o.value.result}`
            : o._tag === "Succeeded" && o.value._tag === "Step"
            ? `${step.op}: ${o.value.step}`
            : `${step.op}: ${o._tag}`
        )
      }
    }
    for (
      const expected of [
        "Dup: Duplicated",
        "Dup: Shared",
        "Start: want-read",
        "Handshake: want-read",
        "Handshake failed: TlsError",
        "AttachMemory failed: TlsError",
        "Make failed: InvalidOptionError",
        "SetHostName failed: InvalidOptionError",
        "UpRef failed: ReleasedHandleError",
        "Dup failed: ReleasedHandleError",
        "Inspect failed: ReleasedHandleError",
        "Make failed: ReleasedHandleError",
        "Release: Succeeded",
        "ReleaseContext: Succeeded",
        "SetRole: Succeeded"
      ]
    ) assert.isTrue(outcomes.has(expected), expected)
  })

  it("lifecycleProgram: maxLength bounds the operations after the first context", () => {
    const programs = FastCheck.sample(Arbitraries.lifecycleProgram({ maxLength: 5 }), { numRuns: 100, seed: 4 })
    assert.isTrue(programs.every((p) => p.ops.length >= 1 && p.ops.length <= 6))
  })
})
