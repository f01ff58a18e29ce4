import { assert, describe, it } from "@effect/vitest"
import * as FastCheck from "effect/FastCheck"
import { NameTable, normalize, parsePattern } from "../src/internal/serverNames.js"

const label = FastCheck.stringMatching(/^[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?$/)
const domain = FastCheck.array(label, { minLength: 2, maxLength: 4 }).map((labels) => labels.join("."))

/** Flip the case of some letters, as a client may send the name. */
const recase = (name: string, mask: number) =>
  Array.from(name, (c, i) => (mask >> (i % 30)) & 1 ? c.toUpperCase() : c).join("")

const tableOf = (entries: ReadonlyArray<readonly [string, string]>) => {
  const table = new NameTable<string>()
  for (const [pattern, value] of entries) table.add(parsePattern("serverNames", pattern), value)
  return table
}

describe("SNI name matching (RFC 6125)", () => {
  it.prop(
    "a wildcard stands for exactly one label, in any case",
    { sub: label, parent: domain, deeper: label, mask: FastCheck.nat() },
    ({ deeper, mask, parent, sub }) => {
      const table = tableOf([[`*.${parent}`, "wildcard"]])
      assert.strictEqual(table.lookup(recase(`${sub}.${parent}`, mask)), "wildcard")
      assert.strictEqual(table.lookup(`${sub}.${parent}.`), "wildcard")
      assert.isUndefined(table.lookup(parent))
      assert.isUndefined(table.lookup(`${deeper}.${sub}.${parent}`))
      assert.isUndefined(table.lookup(`.${parent}`))
    }
  )

  it.prop("an exact name wins over a wildcard, whatever the order they were added", {
    sub: label,
    parent: domain,
    exactFirst: FastCheck.boolean()
  }, ({ exactFirst, parent, sub }) => {
    const exact = [`${sub}.${parent}`, "exact"] as const
    const wildcard = [`*.${parent}`, "wildcard"] as const
    const table = tableOf(exactFirst ? [exact, wildcard] : [wildcard, exact])
    assert.strictEqual(table.lookup(`${sub}.${parent}`), "exact")
    assert.strictEqual(table.lookup(`other-${sub}.${parent}`), "wildcard")
  })

  it("the first value to claim a name keeps it", () => {
    const table = tableOf([["a.example.org", "first"], ["A.EXAMPLE.ORG.", "second"], ["*.example.org", "w1"], [
      "*.Example.org",
      "w2"
    ]])
    assert.strictEqual(table.lookup("a.example.org"), "first")
    assert.strictEqual(table.lookup("b.example.org"), "w1")
  })

  it("rejects patterns a certificate could not be matched by, naming the option", () => {
    const rejects = (pattern: unknown, reason: RegExp) =>
      assert.throws(() => parsePattern("sni.certificates[0].serverNames[2]", pattern), reason)
    rejects("f*.example.org", /wildcard is only allowed as the whole leftmost label/)
    rejects("api.*.example.org", /wildcard is only allowed as the whole leftmost label/)
    rejects("*.org", /at least two labels after it/)
    rejects("*", /at least two labels after it/)
    rejects("", /non-empty/)
    rejects(42, /non-empty/)
    rejects("bad name.example.org", /not a valid DNS name/)
    rejects("a..example.org", /not a valid DNS name/)
    rejects("-a.example.org", /not a valid DNS name/)
    rejects("*.org", /^invalid option sni\.certificates\[0\]\.serverNames\[2\]: /)
  })

  it("normalizes to lower case without the trailing dot", () => {
    assert.strictEqual(normalize("API.Example.ORG."), "api.example.org")
    assert.strictEqual(parsePattern("n", "*.Example.ORG"), "*.example.org")
  })
})
