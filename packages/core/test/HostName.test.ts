import * as HostName from "@effect-openssl/core/HostName"
import { assert, describe, it } from "@effect/vitest"
import * as Either from "effect/Either"
import * as FastCheck from "effect/FastCheck"
import { isIP } from "node:net"

const parsed = (input: string) => Either.getOrUndefined(HostName.parse(input))
const reason = (input: string) =>
  Either.match(HostName.parse(input, "verifyHost"), {
    onLeft: (e) => `${e.option}: ${e.reason}`,
    onRight: () => undefined
  })

describe("HostName.parse", () => {
  it("reads names and addresses", () => {
    assert.deepStrictEqual(parsed("localhost"), { _tag: "DnsName", name: "localhost" })
    assert.deepStrictEqual(parsed("Example.ORG."), { _tag: "DnsName", name: "Example.ORG" })
    assert.deepStrictEqual(parsed("_acme.example.org"), { _tag: "DnsName", name: "_acme.example.org" })
    assert.deepStrictEqual(parsed("1.2.3.com"), { _tag: "DnsName", name: "1.2.3.com" })
    assert.deepStrictEqual(parsed("127.0.0.1"), { _tag: "IpAddress", address: "127.0.0.1", family: 4 })
    assert.deepStrictEqual(parsed("::1"), { _tag: "IpAddress", address: "::1", family: 6 })
    assert.deepStrictEqual(parsed("::ffff:10.0.0.1"), { _tag: "IpAddress", address: "::ffff:10.0.0.1", family: 6 })
    assert.deepStrictEqual(parsed("1:2:3:4:5:6:7:8"), { _tag: "IpAddress", address: "1:2:3:4:5:6:7:8", family: 6 })
  })

  it("refuses what OpenSSL would read differently, naming the option and why", () => {
    // A C string ends at the NUL: these would be checked as "localhost".
    assert.strictEqual(reason("localhost\0:attacker"), "verifyHost: must not contain NUL or other control characters")
    assert.strictEqual(
      reason("localhost\0.attacker.example"),
      "verifyHost: must not contain NUL or other control characters"
    )
    assert.strictEqual(reason("host\n"), "verifyHost: must not contain NUL or other control characters")
    assert.strictEqual(
      reason("example.org:443"),
      "verifyHost: a host name has no port (give the port to the transport)"
    )
    assert.strictEqual(reason("[::1]"), "verifyHost: an IPv6 address is written without brackets")
    assert.strictEqual(reason("fe80::1%eth0"), "verifyHost: an IPv6 zone index cannot be checked against a certificate")
    assert.strictEqual(reason("1.2.3"), "verifyHost: not a valid IPv4 address")
    assert.strictEqual(reason("256.1.1.1"), "verifyHost: not a valid IPv4 address")
    assert.strictEqual(reason("010.0.0.1"), "verifyHost: not a valid IPv4 address")
    assert.strictEqual(reason("1::2::3"), "verifyHost: not a valid IPv6 address")
    assert.strictEqual(reason("1.2.3.4::"), "verifyHost: not a valid IPv6 address")
    assert.strictEqual(reason(""), "verifyHost: expected a non-empty host name")
    assert.strictEqual(reason("."), "verifyHost: expected a non-empty host name")
    assert.strictEqual(reason("a..b"), "verifyHost: a host name has no empty labels")
    assert.strictEqual(reason("*.example.org"), "verifyHost: a wildcard is not a host name")
    assert.strictEqual(
      reason("-a.example"),
      `verifyHost: invalid label "-a": letters, digits, '-' and '_' only, no '-' at either end`
    )
    assert.strictEqual(
      reason("bücher.example"),
      "verifyHost: give an internationalized name in its A-label (punycode) form"
    )
    assert.strictEqual(
      reason(`${"a".repeat(64)}.example`),
      "verifyHost: a label of a host name is at most 63 characters"
    )
    assert.strictEqual(reason(`${"a.".repeat(127)}ab`), "verifyHost: a host name is at most 253 characters")
  })

  it.prop(
    "an address is an address exactly when node:net says so; nothing with a control character parses",
    [FastCheck.oneof(
      FastCheck.ipV4(),
      FastCheck.ipV4Extended(),
      FastCheck.ipV6(),
      FastCheck.domain(),
      FastCheck.string({ unit: FastCheck.constantFrom(..."0123456789abcdefABCDEF:.[]%\0 -_") }),
      FastCheck.string({ unit: "grapheme-ascii" }),
      FastCheck.tuple(FastCheck.domain(), FastCheck.string()).map(([d, s]) => d + s)
    )],
    ([input]) => {
      const result = Either.getOrUndefined(HostName.parse(input))
      const family = isIP(input)
      if (result?._tag === "IpAddress") assert.strictEqual(result.family, family)
      else if (!input.includes("%")) {
        assert.strictEqual(family, 0, `node:net reads ${JSON.stringify(input)} as an address`)
      }

      if (/[\u0000-\u001f\u007f]/.test(input)) assert.isUndefined(result)
    },
    { fastCheck: { numRuns: 2000 } }
  )
})
