import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { execFile } from "node:child_process"
import { fileURLToPath } from "node:url"
import { sourceCondition } from "../../../vitest.shared.js"

const root = fileURLToPath(new URL("../../..", import.meta.url))

/** `pnpm start`'s program, run as it runs (from the sources): its output, or its failure. */
const runDemo = (env: Record<string, string> = {}) =>
  Effect.async<string, Error>((resume) => {
    const child = execFile(
      process.execPath,
      [`--conditions=${sourceCondition}`, "--import", "tsx", "packages/node/src/bin.ts", "demo"],
      { cwd: root, timeout: 60_000, env: { ...process.env, ...env } },
      (error, stdout, stderr) => resume(error === null ? Effect.succeed(stdout) : Effect.fail(new Error(stderr)))
    )
    return Effect.sync(() => child.kill())
  })

/** What every run of the tour prints, whichever OpenSSL it is on. */
const everySection = [
  "Duplicated: Ssl(#3)",
  "Shared: same object? true",
  "ReleasedHandleError",
  "second connection resumed: true",
  "VerifyError: certificate verification failed at depth 0: hostname mismatch (X509 code 62)",
  "node:https GET / → 200 \"hello from node:http\""
]

describe("demo tour", () => {
  it.live(
    "runs every section and exits 0; on the system's OpenSSL it shows the native frees",
    () =>
      Effect.gen(function*() {
        const out = yield* runDemo()
        for (const line of everySection) assert.include(out, line)
        assert.include(out, "(library binding)")
        assert.include(out, "released the copy → freed: SSL#3")
        assert.include(out, "closed the last holder's scope → freed: SSL#2")
      }),
    60_000
  )

  it.live(
    "without an OpenSSL of its own it runs on Node's, and shows the released leases instead",
    () =>
      Effect.gen(function*() {
        const out = yield* runDemo({ EFFECT_OPENSSL_LIBSSL: "/nonexistent/libssl.so.3" })
        for (const line of everySection) assert.include(out, line)
        assert.include(out, "(node binding)")
        assert.include(out, "native frees are observed only on an OpenSSL of the binding's own")
        assert.include(out, "released the copy → released: SSL#3")
        assert.include(out, "closed the last holder's scope → released: SSL#2")
      }),
    60_000
  )
})
