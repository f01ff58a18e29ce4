import * as NodeOpenSsl from "@effect-openssl/node/NodeOpenSsl"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as LifecycleProgram from "../src/LifecycleProgram.js"
import * as OpenSslModel from "../src/OpenSslModel.js"

const done = { _tag: "Succeeded", value: { _tag: "Done" } } as const

describe("LifecycleProgram.run", () => {
  it.effect("numbers objects by first appearance and records each step's frees", () =>
    Effect.gen(function*() {
      const trace = yield* LifecycleProgram.run({
        ops: [
          { _tag: "UpRef", handle: 0 },
          { _tag: "NewContext", role: "client" },
          { _tag: "Make", context: 0, role: "client", hostName: "a.example" },
          { _tag: "Dup", handle: 0 },
          { _tag: "Start", handle: 0, role: "client" },
          { _tag: "Dup", handle: 0 },
          { _tag: "Release", handle: 0 },
          { _tag: "Inspect", handle: 0 },
          { _tag: "Inspect", handle: 2 },
          { _tag: "ReleaseContext", context: 0 },
          { _tag: "Release", handle: 1 },
          { _tag: "Make", context: 0, role: undefined, hostName: undefined }
        ]
      }).pipe(Effect.provide(OpenSslModel.layer))
      assert.deepStrictEqual(trace, [
        { op: "UpRef", outcome: { _tag: "Skipped" }, frees: [] },
        { op: "NewContext", outcome: { _tag: "Succeeded", value: { _tag: "Object", object: 1 } }, frees: [] },
        { op: "Make", outcome: { _tag: "Succeeded", value: { _tag: "Object", object: 2 } }, frees: [] },
        {
          op: "Dup",
          outcome: { _tag: "Succeeded", value: { _tag: "Dup", result: "Duplicated", object: 3 } },
          frees: []
        },
        { op: "Start", outcome: { _tag: "Succeeded", value: { _tag: "Step", step: "want-read" } }, frees: [] },
        { op: "Dup", outcome: { _tag: "Succeeded", value: { _tag: "Dup", result: "Shared", object: 2 } }, frees: [] },
        { op: "Release", outcome: done, frees: [] },
        {
          op: "Inspect",
          outcome: { _tag: "Failed", error: "ReleasedHandleError", detail: "SSL Ssl.settings" },
          frees: []
        },
        {
          op: "Inspect",
          outcome: {
            _tag: "Succeeded",
            value: {
              _tag: "Settings",
              role: "client",
              isServer: false,
              hostName: "a.example",
              inBefore: false,
              mode: 7
            }
          },
          frees: []
        },
        { op: "ReleaseContext", outcome: done, frees: [] },
        { op: "Release", outcome: done, frees: ["SSL 3"] },
        {
          op: "Make",
          outcome: { _tag: "Failed", error: "ReleasedHandleError", detail: "SSL_CTX Ssl.make" },
          frees: []
        },
        // Closing every scope: the shared object's last reference, then its context.
        { op: "End", outcome: done, frees: ["SSL 2", "SSL_CTX 1"] }
      ])
    }))

  it.effect("fails with UnsupportedError on a binding that does not observe frees", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(LifecycleProgram.run({ ops: [{ _tag: "NewContext", role: "any" }] }))
      assert.deepStrictEqual([error._tag, error.operation], ["UnsupportedError", "observeFrees"])
    }).pipe(Effect.provide(NodeOpenSsl.layer)))
})
