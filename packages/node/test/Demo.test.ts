import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { execFile } from "node:child_process"
import { fileURLToPath } from "node:url"
import { sourceCondition } from "../../../vitest.shared.js"

const root = fileURLToPath(new URL("../../..", import.meta.url))

/** `pnpm start`'s program, run as it runs (from the sources): its output, or its failure. */
const runDemo = Effect.async<string, Error>((resume) => {
  const child = execFile(
    process.execPath,
    [`--conditions=${sourceCondition}`, "--import", "tsx", "packages/node/src/bin.ts", "demo"],
    { cwd: root, timeout: 60_000 },
    (error, stdout, stderr) => resume(error === null ? Effect.succeed(stdout) : Effect.fail(new Error(stderr)))
  )
  return Effect.sync(() => child.kill())
})

describe("demo tour", () => {
  it.live("runs every section and exits 0", () =>
    Effect.gen(function*() {
      const out = yield* runDemo
      for (
        const line of [
          "Duplicated: Ssl(#3)",
          "Shared: same object? true",
          "ReleasedHandleError",
          "second connection resumed: true",
          "VerifyError: certificate verification failed at depth 0: hostname mismatch (X509 code 62)",
          "node:https GET / → 200 \"hello from node:http\""
        ]
      ) assert.include(out, line)
    }), 60_000)
})
