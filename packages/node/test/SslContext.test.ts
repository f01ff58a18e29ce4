import * as Diagnostics from "@effect-openssl/core/Diagnostics"
import { OpenSsl, type Settings } from "@effect-openssl/core/OpenSsl"
import * as Ssl from "@effect-openssl/core/Ssl"
import * as SslContext from "@effect-openssl/core/SslContext"
import type { InvalidOptionError } from "@effect-openssl/core/SslError"
import { assert, describe, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import { clientOptions, fixture, freesOf, recordFrees, serverOptions, TestOpenSsl } from "./util.js"

const rejected = (options: SslContext.Options) =>
  Effect.flatMap(Effect.flip(Effect.scoped(SslContext.make(options))), (error) =>
    error._tag === "InvalidOptionError"
      ? Effect.succeed(error)
      : Effect.dieMessage(`expected InvalidOptionError, got ${error._tag}: ${error.message}`))

layer(TestOpenSsl)("SslContext", (it) => {
  it.scoped("applies every option and reads it back from the native SSL_CTX", () =>
    Effect.gen(function*() {
      const ctx = yield* SslContext.make({
        role: "client",
        minProtocol: "TLSv1.2",
        maxProtocol: "TLSv1.3",
        options: ["NO_TICKET", "CIPHER_SERVER_PREFERENCE", "NO_RENEGOTIATION"],
        verify: { mode: "peer", depth: 4 },
        sessionTimeout: "90 seconds",
        sessionCacheMode: "client",
        trust: { certificates: fixture("ca.pem") },
        ciphers: "ECDHE-ECDSA-AES256-GCM-SHA384",
        ciphersuites: "TLS_AES_256_GCM_SHA384",
        groups: ["P-256", "X25519"],
        alpnProtocols: ["h2", "http/1.1"]
      })
      const s = yield* SslContext.settings(ctx)
      assert.strictEqual(s.role, "client")
      assert.strictEqual(s.minProtocol, "TLSv1.2")
      assert.strictEqual(s.maxProtocol, "TLSv1.3")
      for (const flag of ["NO_TICKET", "CIPHER_SERVER_PREFERENCE", "NO_RENEGOTIATION"] as const) {
        assert.include(s.options, flag)
      }
      assert.strictEqual(s.verifyMode, "peer")
      assert.strictEqual(s.verifyDepth, 4)
      assert.strictEqual(s.sessionTimeoutSeconds, 90)
      assert.strictEqual(s.sessionCacheMode, "client")
      assert.deepStrictEqual(s.ciphers, ["TLS_AES_256_GCM_SHA384", "ECDHE-ECDSA-AES256-GCM-SHA384"])
    }))

  it.scoped("is secure by default: TLS 1.2 minimum, clients verify, servers do not ask, no renegotiation", () =>
    Effect.gen(function*() {
      // The TLS 1.2 suites: ECDHE with AEAD only (OpenSSL lists the TLS 1.3 suites first).
      const tls12 = (s: Settings) => s.ciphers.filter((name) => !name.startsWith("TLS_")).join(":")
      const client = yield* SslContext.settings(yield* SslContext.make({ role: "client" }))
      assert.strictEqual(client.minProtocol, "TLSv1.2")
      assert.strictEqual(client.verifyMode, "peer")
      assert.strictEqual(client.role, "client")
      assert.include(client.options, "NO_RENEGOTIATION")
      assert.notInclude(client.options, "CIPHER_SERVER_PREFERENCE")
      assert.strictEqual(tls12(client), SslContext.defaultCiphers)
      const server = yield* SslContext.settings(yield* SslContext.make(serverOptions))
      assert.strictEqual(server.verifyMode, "none")
      assert.strictEqual(server.role, "server")
      assert.includeMembers([...server.options], ["NO_RENEGOTIATION", "CIPHER_SERVER_PREFERENCE"])
      assert.notInclude(server.options, "ALLOW_CLIENT_RENEGOTIATION")
      assert.strictEqual(tls12(server), SslContext.defaultCiphers)
      const any = yield* SslContext.settings(yield* SslContext.make({ role: "any", trust: { systemDefaults: true } }))
      assert.strictEqual(any.role, "any")
      assert.strictEqual(any.verifyMode, "peer")
      assert.includeMembers([...any.options], ["NO_RENEGOTIATION", "CIPHER_SERVER_PREFERENCE"])
    }))

  it.scoped("allowRenegotiation: no NO_RENEGOTIATION; a server (OpenSSL 3.0+) accepts a client's", () =>
    Effect.gen(function*() {
      const client = yield* SslContext.settings(yield* SslContext.make({ role: "client", allowRenegotiation: true }))
      assert.notInclude(client.options, "NO_RENEGOTIATION")
      assert.notInclude(client.options, "ALLOW_CLIENT_RENEGOTIATION")
      const server = yield* SslContext.settings(
        yield* SslContext.make({ ...serverOptions, allowRenegotiation: true })
      )
      assert.notInclude(server.options, "NO_RENEGOTIATION")
      assert.include(server.options, "ALLOW_CLIENT_RENEGOTIATION")
    }))

  it.scoped("servers can require client certificates", () =>
    Effect.gen(function*() {
      const s = yield* SslContext.settings(
        yield* SslContext.make({
          ...serverOptions,
          verify: { mode: "require" },
          trust: { certificates: fixture("ca.pem") }
        })
      )
      assert.strictEqual(s.verifyMode, "require")
      assert.strictEqual(s.verifyModeBits, 3)
    }))

  it.scoped("loads an encrypted key with its passphrase", () =>
    Effect.gen(function*() {
      yield* SslContext.make({
        role: "server",
        certificate: {
          chain: fixture("server.pem"),
          key: Redacted.make(fixture("server-encrypted.key")),
          passphrase: Redacted.make("hunter2")
        }
      })
    }))

  it.scoped("keeps the configuration frozen", () =>
    Effect.gen(function*() {
      const ctx = yield* SslContext.make(clientOptions)
      assert.isTrue(Object.isFrozen(ctx.config))
      assert.throws(() => {
        ;(ctx.config as { role: string }).role = "server"
      })
    }))

  describe("invalid options give typed errors", () => {
    const cases: ReadonlyArray<readonly [string, SslContext.Options, string]> = [
      ["unknown role", { role: "peer" as never }, "role"],
      ["unknown protocol", { role: "client", minProtocol: "SSLv3" as never }, "minProtocol"],
      ["max below min", { role: "client", minProtocol: "TLSv1.3", maxProtocol: "TLSv1.2" }, "maxProtocol"],
      ["unknown flag", { role: "client", options: ["NO_SUCH_FLAG" as never] }, "options[0]"],
      ["negative depth", { role: "client", verify: { depth: -1 } }, "verify.depth"],
      ["unknown verify mode", { role: "client", verify: { mode: "maybe" as never } }, "verify.mode"],
      ["infinite timeout", { role: "client", sessionTimeout: "Infinity" as never }, "sessionTimeout"],
      ["unknown cache mode", { role: "server", sessionCacheMode: "all" as never }, "sessionCacheMode"],
      ["no PEM in trust", { role: "client", trust: { certificates: "not a certificate" } }, "trust.certificates"],
      ["empty trust list", { role: "client", trust: { certificates: [] } }, "trust.certificates"],
      ["server verifying with no trust", { ...serverOptions, verify: { mode: "require" } }, "trust"],
      [
        "allowRenegotiation not a boolean",
        { role: "client", allowRenegotiation: "yes" as never },
        "allowRenegotiation"
      ],
      [
        "allowRenegotiation with NO_RENEGOTIATION",
        { role: "client", allowRenegotiation: true, options: ["NO_TICKET", "NO_RENEGOTIATION"] },
        "options[1]"
      ],
      ["empty cipher list", { role: "client", ciphers: "" }, "ciphers"],
      ["empty ALPN list", { role: "client", alpnProtocols: [] }, "alpnProtocols"],
      ["ALPN name too long", { role: "client", alpnProtocols: ["x".repeat(256)] }, "alpnProtocols[0]"],
      ["group with a colon", { role: "client", groups: ["P-256:X25519"] }, "groups[0]"],
      [
        "key not Redacted",
        { role: "server", certificate: { chain: fixture("server.pem"), key: fixture("server.key") as never } },
        "certificate.key"
      ]
    ]
    for (const [name, options, option] of cases) {
      it.effect(name, () =>
        Effect.gen(function*() {
          const error = yield* rejected(options)
          assert.strictEqual(error.option, option)
          assert.isUndefined(error.cause, "rejected before any native call")
        }))
    }

    // OpenSSL 3.5 rejects an unknown group without putting anything on its error queue.
    const silentOn35 = new Set(["unknown group"])
    const nativeCases: ReadonlyArray<readonly [string, SslContext.Options, string]> = [
      ["cipher list OpenSSL does not know", { role: "client", ciphers: "NO-SUCH-CIPHER" }, "ciphers"],
      ["TLS 1.3 suite OpenSSL does not know", { role: "client", ciphersuites: "TLS_NOPE" }, "ciphersuites"],
      ["unknown group", { role: "client", groups: ["P-999"] }, "groups"],
      [
        "malformed PEM certificate",
        { role: "client", trust: { certificates: "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----" } },
        "trust.certificates[0]"
      ],
      [
        "key that does not match the certificate",
        { role: "server", certificate: { chain: fixture("server.pem"), key: Redacted.make(fixture("ca.key")) } },
        "certificate.key"
      ],
      [
        "malformed key",
        {
          role: "server",
          certificate: {
            chain: fixture("server.pem"),
            key: Redacted.make("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----")
          }
        },
        "certificate.key"
      ],
      [
        "encrypted key without its passphrase (no terminal prompt)",
        {
          role: "server",
          certificate: { chain: fixture("server.pem"), key: Redacted.make(fixture("server-encrypted.key")) }
        },
        "certificate.key"
      ],
      [
        "encrypted key with a wrong passphrase",
        {
          role: "server",
          certificate: {
            chain: fixture("server.pem"),
            key: Redacted.make(fixture("server-encrypted.key")),
            passphrase: Redacted.make("wrong")
          }
        },
        "certificate.key"
      ]
    ]
    for (const [name, options, option] of nativeCases) {
      it.scoped(`${name}: OpenSSL's reasons, nothing leaked`, () =>
        Effect.gen(function*() {
          const frees = yield* recordFrees
          const error: InvalidOptionError = yield* rejected(options)
          assert.strictEqual(error.option, option)
          assert.strictEqual(error.cause?._tag, "OpenSslError")
          const openssl = yield* OpenSsl
          if (!(silentOn35.has(name) && openssl.version.number >= 0x30500000)) {
            assert.isAbove(error.cause?.entries.length ?? 0, 0, "OpenSSL's error queue is carried")
          }
          assert.deepStrictEqual(yield* Diagnostics.live, [])
          assert.strictEqual(frees.filter((e) => e.kind === "SSL_CTX").length, 1, "the half-built SSL_CTX was freed")
        }))
    }
  })

  it.scoped("frees the native context after its last SSL, not at its own release", () =>
    Effect.gen(function*() {
      const frees = yield* recordFrees
      const ctx = yield* SslContext.make(clientOptions)
      const ssl = yield* Ssl.make(ctx)
      const ctxId = (yield* Diagnostics.live).find((o) => o.kind === "SSL_CTX")!.id
      yield* SslContext.release(ctx)
      assert.isTrue(SslContext.isReleased(ctx))
      assert.strictEqual(freesOf(frees, ctxId), 0, "SSL_new holds its own reference to the context")
      yield* Ssl.release(ssl)
      assert.strictEqual(freesOf(frees, ctxId), 1)
    }))

  it.scoped("a released context fails with a typed error and is not touched", () =>
    Effect.gen(function*() {
      const ctx = yield* Effect.scoped(SslContext.make(clientOptions))
      const settings = yield* Effect.flip(SslContext.settings(ctx))
      assert.strictEqual(settings._tag, "ReleasedHandleError")
      const make = yield* Effect.flip(Ssl.make(ctx))
      assert.strictEqual(make._tag, "ReleasedHandleError")
      assert.throws(() => SslContext.unsafePointer(ctx), /already released/)
      yield* SslContext.release(ctx) // releasing again is a no-op
    }))
})
