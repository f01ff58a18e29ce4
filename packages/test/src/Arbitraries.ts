/**
 * fast-check arbitraries (through `effect/FastCheck`) for property tests of TLS code: context
 * options OpenSSL accepts, options it must reject (with the option that must be named), the
 * lifecycle programs of `LifecycleProgram`, and byte-stream mutations.
 *
 * @since 0.1.0
 */
import type { ProtocolVersion, Role, SessionCacheMode, VerifyMode } from "@effect-openssl/core/OpenSsl"
import type * as SslContext from "@effect-openssl/core/SslContext"
import * as Duration from "effect/Duration"
import * as FastCheck from "effect/FastCheck"
import * as Redacted from "effect/Redacted"
import { features } from "./internal/model.js"
import * as LifecycleProgram from "./LifecycleProgram.js"
import type * as Mutation from "./Mutation.js"

const protocols: ReadonlyArray<ProtocolVersion> = ["TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"]

/**
 * @since 0.1.0
 * @category arbitraries
 */
export const role: FastCheck.Arbitrary<Role> = FastCheck.constantFrom("client", "server", "any")

const sslRole = FastCheck.constantFrom("client" as const, "server" as const)

/** Cipher names and strings every supported OpenSSL (1.1.1 to 3.5) knows. */
const cipherEntries = [
  "ECDHE-ECDSA-AES256-GCM-SHA384",
  "ECDHE-RSA-AES256-GCM-SHA384",
  "ECDHE-ECDSA-CHACHA20-POLY1305",
  "ECDHE-RSA-CHACHA20-POLY1305",
  "ECDHE-ECDSA-AES128-GCM-SHA256",
  "ECDHE-RSA-AES128-GCM-SHA256",
  "AES256-GCM-SHA384",
  "HIGH",
  "ECDHE+AESGCM",
  "DEFAULT"
]
const suites = ["TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256", "TLS_AES_128_GCM_SHA256"]
const groupNames = ["X25519", "P-256", "P-384", "P-521"]

const nonEmptySubset = <A>(values: ReadonlyArray<A>) =>
  FastCheck.uniqueArray(FastCheck.constantFrom(...values), { minLength: 1, maxLength: values.length })

const protocolRange = FastCheck.tuple(FastCheck.nat(3), FastCheck.nat(3), FastCheck.boolean()).map(
  ([a, b, bounded]) => ({
    minProtocol: protocols[Math.min(a, b)]!,
    maxProtocol: bounded ? protocols[Math.max(a, b)]! : undefined
  })
)

const alpnName = FastCheck.stringMatching(/^[a-z0-9][a-z0-9./-]{0,15}$/)

const sessionTimeout: FastCheck.Arbitrary<Duration.DurationInput> = FastCheck.oneof(
  FastCheck.integer({ min: 1, max: 2 ** 31 - 1 }).map(Duration.seconds),
  FastCheck.integer({ min: 1, max: 10_000_000 }).map((ms) => `${ms} millis` as const),
  FastCheck.integer({ min: 1, max: 24 * 60 }).map((m) => `${m} minutes` as const)
)

/**
 * Context options that the core, the lifecycle model and OpenSSL (3.0 or later: some option flags
 * are new in 3.0) all accept. No certificates (they need real keys: see `TestPki`). ALPN only on
 * clients, the side that offers it.
 *
 * @since 0.1.0
 * @category arbitraries
 */
export const contextOptions: FastCheck.Arbitrary<SslContext.Options> = FastCheck.record({
  role,
  protocols: protocolRange,
  options: FastCheck.uniqueArray(FastCheck.constantFrom(...features.optionFlags), { maxLength: 6 }),
  verifyMode: FastCheck.constantFrom<VerifyMode>("none", "peer", "require"),
  verifyDepth: FastCheck.option(FastCheck.integer({ min: 0, max: 100 }), { nil: undefined }),
  sessionTimeout: FastCheck.option(sessionTimeout, { nil: undefined }),
  sessionCacheMode: FastCheck.option(
    FastCheck.constantFrom<SessionCacheMode>("off", "client", "server", "both"),
    { nil: undefined }
  ),
  systemDefaults: FastCheck.option(FastCheck.boolean(), { nil: undefined }),
  allowRenegotiation: FastCheck.option(FastCheck.boolean(), { nil: undefined }),
  ciphers: FastCheck.option(nonEmptySubset(cipherEntries).map((c) => c.join(":")), { nil: undefined }),
  ciphersuites: FastCheck.option(nonEmptySubset(suites).map((s) => s.join(":")), { nil: undefined }),
  groups: FastCheck.option(
    FastCheck.oneof(nonEmptySubset(groupNames), nonEmptySubset(groupNames).map((g) => g.join(":"))),
    { nil: undefined }
  ),
  alpnProtocols: FastCheck.option(FastCheck.array(alpnName, { minLength: 1, maxLength: 4 }), { nil: undefined })
}).map((r): SslContext.Options => ({
  role: r.role,
  ...r.protocols,
  // allowRenegotiation contradicts the flag that refuses it.
  options: r.allowRenegotiation === true ? r.options.filter((flag) => flag !== "NO_RENEGOTIATION") : r.options,
  allowRenegotiation: r.allowRenegotiation,
  verify: { mode: r.verifyMode, depth: r.verifyDepth },
  sessionTimeout: r.sessionTimeout,
  sessionCacheMode: r.sessionCacheMode,
  // A context that verifies needs something to trust: the system store, implied only for a
  // client given no trust option.
  trust: r.verifyMode === "none" || r.systemDefaults === true
    ? { systemDefaults: r.systemDefaults }
    : r.role === "client" && r.systemDefaults === undefined
    ? undefined
    : { systemDefaults: true },
  ciphers: r.ciphers,
  ciphersuites: r.ciphersuites,
  groups: r.groups,
  alpnProtocols: r.role === "client" ? r.alpnProtocols : undefined
}))

/**
 * Options that must be rejected, with the dotted path of the option the `InvalidOptionError`
 * must name. Typed as `SslContext.Options` because that is what reaches `SslContext.make` from
 * untyped configuration.
 *
 * @since 0.1.0
 * @category models
 */
export interface InvalidOptions {
  readonly options: SslContext.Options
  readonly option: string
}

// Core checks the PEM markers only; the content is OpenSSL's business, after the checks these
// cases are about.
const pemLike = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
const notAString = FastCheck.constantFrom<unknown>(42, null, true, {}, ["client"])
const badText = FastCheck.constantFrom("", "   ", "\t\n", "AES\0GCM")
const badFlag = FastCheck.constantFrom("NO_TLSv1_4", "no_ticket", "", "SSL_OP_NO_TICKET", "ALL")
/** A damaged PEM block (what OpenSSL's reader would skip without a word). */
const badPem = FastCheck.constantFrom(
  "-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n",
  "----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
  "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE----\n",
  "-----BEGIN CERTIFICATE-----\nMI!B\n-----END CERTIFICATE-----\n",
  "-----BEGIN CERTIFICATE-----\nMIIB\n"
)

/** One broken field, as a patch over valid options, and the path it must be reported at. */
const invalidPatch: FastCheck.Arbitrary<readonly [Record<string, unknown>, string]> = FastCheck.oneof(
  FastCheck.oneof(FastCheck.constantFrom<unknown>("peer", "", "CLIENT", undefined), notAString).map((v) =>
    [{ role: v }, "role"] as const
  ),
  FastCheck.constantFrom<unknown>("SSLv3", "TLSv1.4", "tls1.2", 0x303).map((v) =>
    [{ minProtocol: v }, "minProtocol"] as const
  ),
  FastCheck.constantFrom<unknown>("SSLv2", "TLSv1.0", "").map((v) => [{ maxProtocol: v }, "maxProtocol"] as const),
  FastCheck.tuple(FastCheck.nat(3), FastCheck.nat(3)).filter(([a, b]) => a !== b).map(([a, b]) =>
    [{ minProtocol: protocols[Math.max(a, b)], maxProtocol: protocols[Math.min(a, b)] }, "maxProtocol"] as const
  ),
  FastCheck.tuple(
    FastCheck.uniqueArray(FastCheck.constantFrom(...features.optionFlags), { maxLength: 4 }),
    FastCheck.nat(),
    badFlag
  ).map(([flags, at, bad]) => {
    const i = at % (flags.length + 1)
    return [{ options: [...flags.slice(0, i), bad, ...flags.slice(i)] }, `options[${i}]`] as const
  }),
  FastCheck.constantFrom<unknown>("NO_TICKET", 1).map((v) => [{ options: v }, "options"] as const),
  FastCheck.constantFrom<unknown>("optional", "strict", "").map((v) =>
    [{ verify: { mode: v } }, "verify.mode"] as const
  ),
  FastCheck.oneof(
    FastCheck.integer({ min: -1000, max: -1 }),
    FastCheck.integer({ min: 101, max: 10_000 }),
    FastCheck.constantFrom(1.5, Number.NaN, Number.POSITIVE_INFINITY)
  ).map((v) => [{ verify: { depth: v } }, "verify.depth"] as const),
  FastCheck.constantFrom<unknown>(
    0,
    "0 seconds",
    Duration.zero,
    Duration.infinity,
    "forever",
    Duration.seconds(2 ** 31)
  )
    .map((v) => [{ sessionTimeout: v }, "sessionTimeout"] as const),
  FastCheck.constantFrom<unknown>("all", "none", "").map((v) => [{ sessionCacheMode: v }, "sessionCacheMode"] as const),
  FastCheck.constantFrom<unknown>("", "not a certificate", []).map((v) =>
    [{ trust: { certificates: v } }, "trust.certificates"] as const
  ),
  FastCheck.tuple(FastCheck.nat(3), badText).map(([n, bad]) =>
    [{ trust: { certificates: [...Array(n).fill(pemLike), bad] } }, `trust.certificates[${n}]`] as const
  ),
  FastCheck.tuple(FastCheck.nat(3), badPem).map(([n, bad]) =>
    [{ trust: { certificates: pemLike.repeat(n) + bad + pemLike } }, `trust.certificates[${n}]`] as const
  ),
  FastCheck.constantFrom<unknown>("yes", 1, null).map((v) =>
    [{ trust: { systemDefaults: v } }, "trust.systemDefaults"] as const
  ),
  FastCheck.constantFrom<VerifyMode>("peer", "require").map((mode) =>
    [{ verify: { mode }, trust: { systemDefaults: false } }, "trust"] as const
  ),
  FastCheck.constantFrom("", "no PEM here").map((v) =>
    [{ certificate: { chain: v, key: Redacted.make("key") } }, "certificate.chain"] as const
  ),
  FastCheck.tuple(FastCheck.nat(3), badPem).map(([n, bad]) =>
    [
      { certificate: { chain: pemLike.repeat(n + 1) + bad + pemLike, key: Redacted.make("key") } },
      `certificate.chain[${n + 1}]`
    ] as const
  ),
  FastCheck.constantFrom<unknown>("yes", 1, null).map((v) =>
    [{ allowRenegotiation: v }, "allowRenegotiation"] as const
  ),
  FastCheck.uniqueArray(FastCheck.constantFrom(...features.optionFlags), { maxLength: 4 }).map((flags) => {
    const others = flags.filter((flag) => flag !== "NO_RENEGOTIATION")
    return [
      { allowRenegotiation: true, options: [...others, "NO_RENEGOTIATION"] },
      `options[${others.length}]`
    ] as const
  }),
  FastCheck.oneof(
    FastCheck.constant<unknown>("-----BEGIN PRIVATE KEY-----"),
    badText.map((t) => Redacted.make(t))
  ).map((key) => [{ certificate: { chain: pemLike, key } }, "certificate.key"] as const),
  FastCheck.constant(
    [
      { certificate: { chain: pemLike, key: Redacted.make("key"), passphrase: "secret" } },
      "certificate.passphrase"
    ] as const
  ),
  FastCheck.oneof(badText, notAString).map((v) => [{ ciphers: v }, "ciphers"] as const),
  FastCheck.oneof(badText, notAString).map((v) => [{ ciphersuites: v }, "ciphersuites"] as const),
  FastCheck.constant([{ groups: [] }, "groups"] as const),
  FastCheck.tuple(nonEmptySubset(groupNames), FastCheck.constantFrom("", "  ", "P 256", "X25519:P-256")).map((
    [good, bad]
  ) => [{ groups: [...good, bad] }, `groups[${good.length}]`] as const),
  FastCheck.constant([{ alpnProtocols: [] }, "alpnProtocols"] as const),
  FastCheck.tuple(FastCheck.array(alpnName, { maxLength: 3 }), FastCheck.constantFrom("", "x".repeat(256))).map((
    [good, bad]
  ) => [{ alpnProtocols: [...good, bad] }, `alpnProtocols[${good.length}]`] as const)
)

/**
 * Context options with exactly one invalid field (on top of valid ones), paired with the option
 * path the `InvalidOptionError` must name. The core rejects every one of them before any native
 * call, so nothing is allocated.
 *
 * @since 0.1.0
 * @category arbitraries
 */
export const invalidContextOptions: FastCheck.Arbitrary<InvalidOptions> = FastCheck.tuple(
  contextOptions,
  invalidPatch
).map(([valid, [patch, option]]) => ({ options: { ...valid, ...patch } as SslContext.Options, option }))

/**
 * SNI host names, mostly valid; one in six is one the binding must reject (empty, over 255
 * bytes, or with a NUL).
 *
 * @since 0.1.0
 * @category arbitraries
 */
export const hostName: FastCheck.Arbitrary<string> = FastCheck.oneof(
  { arbitrary: FastCheck.domain(), weight: 5 },
  { arbitrary: FastCheck.constantFrom("", "x".repeat(256), "a\0b.example", "é".repeat(128)), weight: 1 }
)

const pick = FastCheck.nat(1_000)

/**
 * One lifecycle operation, weighted towards references (make, upRef, dup, release) and
 * starting handshakes.
 *
 * @since 0.1.0
 * @category arbitraries
 */
export const lifecycleOp: FastCheck.Arbitrary<LifecycleProgram.Op> = FastCheck.oneof(
  { arbitrary: FastCheck.record({ _tag: FastCheck.constant("NewContext" as const), role }), weight: 1 },
  {
    arbitrary: FastCheck.record({ _tag: FastCheck.constant("ReleaseContext" as const), context: pick }),
    weight: 1
  },
  {
    arbitrary: FastCheck.record({
      _tag: FastCheck.constant("Make" as const),
      context: pick,
      role: FastCheck.option(sslRole, { nil: undefined }),
      hostName: FastCheck.option(hostName, { nil: undefined, freq: 3 })
    }),
    weight: 4
  },
  {
    arbitrary: FastCheck.record({
      _tag: FastCheck.constantFrom("UpRef" as const, "Dup" as const, "Release" as const),
      handle: pick
    }),
    weight: 9
  },
  {
    arbitrary: FastCheck.record({ _tag: FastCheck.constant("Start" as const), handle: pick, role: sslRole }),
    weight: 2
  },
  {
    arbitrary: FastCheck.record({
      _tag: FastCheck.constantFrom("AttachMemory" as const, "Handshake" as const, "Inspect" as const),
      handle: pick
    }),
    weight: 3
  },
  {
    arbitrary: FastCheck.record({ _tag: FastCheck.constant("SetRole" as const), handle: pick, role: sslRole }),
    weight: 1
  },
  {
    arbitrary: FastCheck.record({ _tag: FastCheck.constant("SetHostName" as const), handle: pick, hostName }),
    weight: 1
  }
)

/**
 * A lifecycle program: a context first, then up to `maxLength` operations (default 40). Programs
 * that would crash real OpenSSL (where the model fails with `OpenSslModel.WouldCrash`) are left
 * out, so every program can run against the real library.
 *
 * @since 0.1.0
 * @category arbitraries
 */
export const lifecycleProgram = (
  options?: { readonly maxLength?: number | undefined }
): FastCheck.Arbitrary<LifecycleProgram.Program> =>
  FastCheck.tuple(
    role.map((r): LifecycleProgram.Op => ({ _tag: "NewContext", role: r })),
    FastCheck.array(lifecycleOp, { maxLength: options?.maxLength ?? 40 })
  ).map(([first, rest]): LifecycleProgram.Program => ({ ops: [first, ...rest] })).filter((program) =>
    !LifecycleProgram.crashesOpenSsl(program)
  )

/**
 * A byte-stream mutation (see `Mutation`).
 *
 * @since 0.1.0
 * @category arbitraries
 */
export const mutation: FastCheck.Arbitrary<Mutation.Mutation> = FastCheck.oneof(
  FastCheck.record({
    _tag: FastCheck.constant("Split" as const),
    cuts: FastCheck.array(FastCheck.nat(), { minLength: 1, maxLength: 16 })
  }),
  FastCheck.record({
    _tag: FastCheck.constant("FlipBits" as const),
    at: FastCheck.nat(),
    mask: FastCheck.integer({ min: 1, max: 255 })
  }),
  FastCheck.record({ _tag: FastCheck.constant("Truncate" as const), keep: FastCheck.nat() }),
  FastCheck.record({
    _tag: FastCheck.constant("Duplicate" as const),
    at: FastCheck.nat(),
    length: FastCheck.integer({ min: 1, max: 64 })
  }),
  FastCheck.record({
    _tag: FastCheck.constant("InsertGarbage" as const),
    at: FastCheck.nat(),
    garbage: FastCheck.uint8Array({ minLength: 1, maxLength: 32 })
  })
)
