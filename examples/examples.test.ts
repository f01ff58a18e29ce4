/**
 * The README's code: every TypeScript block is one of the programs here, word for word (named
 * in a comment above it), or says in its first line that it is a fragment. Each program runs as
 * a process of its own, from the sources, and prints what the README says it does.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { execFile } from "node:child_process"
import { readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { sourceCondition } from "../vitest.shared.js"

const root = fileURLToPath(new URL("..", import.meta.url))

/** Run `examples/<file>` with tsx from the sources: its output, or its failure. */
const runExample = (file: string) =>
  Effect.async<string, Error>((resume) => {
    const child = execFile(
      process.execPath,
      [`--conditions=${sourceCondition}`, "--import", "tsx", `examples/${file}`],
      { cwd: root, timeout: 60_000 },
      (error, stdout, stderr) => resume(error === null ? Effect.succeed(stdout) : Effect.fail(new Error(stderr)))
    )
    return Effect.sync(() => child.kill())
  })

/** The TypeScript blocks of a Markdown file, each with the line above its fence. */
const typescriptBlocks = (markdown: string) =>
  Array.from(
    markdown.matchAll(/^(.*)\n```ts\n([\s\S]*?)^```$/gm),
    ([, above, code]) => ({ above: above!, code: code! })
  )

describe("README", () => {
  it("every TypeScript block is an example program, word for word, or marked as a fragment", () => {
    const blocks = typescriptBlocks(readFileSync(new URL("../README.md", import.meta.url), "utf8"))
    assert.isAbove(blocks.length, 0)
    const programs: Array<string> = []
    for (const { above, code } of blocks) {
      const named = /^<!-- (examples\/[\w.-]+\.ts) -->$/.exec(above)
      if (named === null) {
        assert.match(code, /^\/\/ Fragment: /, `a block that is not an example says so:\n${code}`)
        continue
      }
      programs.push(named[1]!)
      assert.strictEqual(code, readFileSync(new URL(`../${named[1]}`, import.meta.url), "utf8"), named[1])
    }
    assert.includeMembers(programs, [
      "examples/tour.ts",
      "examples/tls-over-tcp.ts",
      "examples/node-streams.ts",
      "examples/contexts.ts",
      "examples/https-app.ts",
      "examples/toolkit.test.ts"
    ])
  })
})

describe("example programs", () => {
  it.live("tour: a context, SSL_new, SSL_up_ref, SSL_dup, and what is held", () =>
    Effect.gen(function*() {
      const out = yield* runExample("tour.ts")
      assert.strictEqual(
        out.replace(/#\d+/g, "#n"),
        [
          "upRef: the same SSL? true",
          "dup before the handshake: a new handle, the same SSL? false",
          "held: SSL_CTX #n ×1",
          "held: SSL #n ×2",
          "held: SSL #n ×1",
          ""
        ].join("\n")
      )
    }))

  it.live("TLS over TCP: a verified request and answer, then the session resumed", () =>
    Effect.gen(function*() {
      const lines = (yield* runExample("tls-over-tcp.ts")).trimEnd().split("\n")
      assert.strictEqual(lines.length, 2)
      for (const [i, line] of lines.entries()) {
        assert.match(
          line,
          /^HTTP\/1\.1 200 OK over TLSv1\.3 \S+, ALPN http\/1\.1, from CN=localhost, resumed: (true|false)$/
        )
        assert.isTrue(line.endsWith(`resumed: ${i === 1}`), line)
      }
    }))

  it.live("node streams: node:http over NodeTlsDuplex, asked through a TlsSocket", () =>
    Effect.gen(function*() {
      assert.strictEqual(yield* runExample("node-streams.ts"), "HTTP/1.1 200 OK: hello over TLSv1.3\n")
    }))

  it.live("contexts: certificates chosen by SNI name from files, trust from Config, an unknown name refused", () =>
    Effect.gen(function*() {
      const lines = (yield* runExample("contexts.ts")).trimEnd().split("\n")
      assert.deepStrictEqual(lines.slice(0, 2), [
        "localhost: served CN=localhost",
        "api.example.test: served CN=api.example.test"
      ])
      assert.match(lines[2]!, /^other\.example\.test: refused \(.*\(tlsv1 unrecognized name\)\)$/)
      assert.strictEqual(lines[3], "after a reload: certificate set 1")
    }))

  it.live("https app: an HttpApi on two SNI names, a typed client, metrics, a refused name, a certificate rotated", () =>
    Effect.gen(function*() {
      const expected = [
        `POST /items: {"id":1,"name":"pen"}`,
        `GET /items: [{"id":1,"name":"pen"}]`,
        "GET /connection: SNI api.example.test, TLSv1.3, ALPN http/1.1, certificate set 1",
        "other.example.test: TlsError: SSL_do_handshake (SSL_ERROR_SSL): Protocol (tlsv1 unrecognized name)",
        "GET /connection: SNI admin.example.test, TLSv1.3, ALPN http/1.1, certificate set 1",
        "handshakes: 2 succeeded, 1 failed (reason Protocol); connections open: 2",
        "files replaced: certificate set 2; a new connection gets serial 02 (was 01), fingerprint changed: true",
        "GET /items: 1 item, nothing restarted",
        ""
      ].join("\n")
      assert.strictEqual(yield* runExample("https-app.ts"), expected)
      // The README shows this output under the program.
      assert.include(readFileSync(new URL("../README.md", import.meta.url), "utf8"), "```text\n" + expected + "```")
    }))
})
