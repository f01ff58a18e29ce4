import * as ClientContext from "@effect-openssl/core/ClientContext"
import * as Diagnostics from "@effect-openssl/core/Diagnostics"
import * as ServerContext from "@effect-openssl/core/ServerContext"
import * as SslContext from "@effect-openssl/core/SslContext"
import type { SslError } from "@effect-openssl/core/SslError"
import type * as SslSession from "@effect-openssl/core/SslSession"
import * as TlsConnection from "@effect-openssl/core/TlsConnection"
import * as Transport from "@effect-openssl/core/Transport"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodePath from "@effect/platform-node/NodePath"
import { assert, describe, layer } from "@effect/vitest"
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import { writeFile } from "node:fs/promises"
import { join } from "node:path"
import * as LeakCheck from "../../test/src/LeakCheck.js"
import * as TestPki from "../../test/src/TestPki.js"
import { certificateFiles, fingerprint, overwrite, sniPki } from "./serverCertificates.js"
import { alertsHeard, freesOf, recordFrees, TestOpenSsl } from "./util.js"

const Env = Layer.mergeAll(TestOpenSsl, NodeFileSystem.layer, NodePath.layer)

const bytes = (s: string) => new TextEncoder().encode(s)
const text = (b: Uint8Array) => new TextDecoder().decode(b)

/** The TLS alert a server sends for a name it does not serve (RFC 6066 §3). */
const UNRECOGNIZED_NAME = 112

/** A client and a connection accepted through the `ServerContext` in context, over memory. */
const handshake = (client: SslContext.SslContext, options: TlsConnection.ConnectOptions) =>
  Effect.gen(function*() {
    const [a, b] = yield* Transport.memoryPair
    return yield* Effect.all([TlsConnection.connect(a, client, options), ServerContext.accept(b)], { concurrency: 2 })
  })

/** The fingerprint of the certificate a client sending `serverName` is served (chain verified, names not). */
const servedTo = (client: SslContext.SslContext, serverName: string | undefined) =>
  Effect.scoped(Effect.gen(function*() {
    const [conn] = yield* handshake(client, { hostName: serverName, verifyHost: false })
    return (yield* conn.info).peerChain[0]!.fingerprint256
  }))

/** Both sides of a handshake that must fail: what each one failed with. */
const refusedFor = (client: SslContext.SslContext, serverName: string | undefined) =>
  Effect.scoped(Effect.gen(function*() {
    const [a, b] = yield* Transport.memoryPair
    const [clientError, serverError] = yield* Effect.all([
      Effect.flip(TlsConnection.connect(a, client, { hostName: serverName, verifyHost: false })),
      Effect.flip(ServerContext.accept(b))
    ], { concurrency: 2 })
    return { clientError, serverError }
  }))

const entriesOf = (error: TlsConnection.TlsConnectionError) => "entries" in error ? error.entries : undefined

/** Data both ways over an established pair. */
const exchange = (client: TlsConnection.TlsConnection, server: TlsConnection.TlsConnection, label: string) =>
  Effect.gen(function*() {
    yield* client.write(bytes(`ping ${label}`))
    assert.strictEqual(text(Option.getOrThrow(yield* server.read)), `ping ${label}`)
    yield* server.write(bytes(`pong ${label}`))
    assert.strictEqual(text(Option.getOrThrow(yield* client.read)), `pong ${label}`)
  })

/** The native id of a context (for its free event). */
const idOf = (context: SslContext.SslContext) =>
  Effect.map(Diagnostics.live, (objects) => {
    const address = SslContext.unsafePointer(context)
    return objects.find((o) => o.kind === "SSL_CTX" && o.address === address)!.id
  })

const isHeld = (id: number) => Effect.map(Diagnostics.live, (objects) => objects.some((o) => o.id === id))

/** The layer's failure: building it must fail. */
const layerFailure = <A, E, R>(layer: Layer.Layer<A, E, R>) => Effect.flip(Effect.scoped(Layer.build(layer)))

const assertInvalid = (error: unknown, option: string, reason: RegExp) => {
  assert.strictEqual((error as SslError)._tag, "InvalidOptionError", String(error))
  const invalid = error as Extract<SslError, { _tag: "InvalidOptionError" }>
  assert.strictEqual(invalid.option, option, invalid.message)
  // The reason, with OpenSSL's own where the library refused the value.
  assert.match(invalid.message, reason)
  // One clear line a person can read.
  assert.notInclude(invalid.message, "\n")
  assert.match(invalid.message, new RegExp(`^invalid option ${option.replace(/[[\].]/g, "\\$&")}: `))
}

/** Log lines, captured instead of printed. */
const captureLogs = () => {
  const lines: Array<string> = []
  const logger = Logger.make(({ logLevel, message }) => {
    lines.push(`${logLevel.label} ${Array.isArray(message) ? message.join(" ") : String(message)}`)
  })
  return { lines, layer: Logger.replace(Logger.defaultLogger, logger) }
}

/** Poll `check` (every 50 ms, up to `attempts`) until it holds; `nudge` runs before each poll. */
const eventually = <E, R>(
  what: string,
  check: Effect.Effect<boolean, E, R>,
  nudge: Effect.Effect<void> = Effect.void,
  attempts = 200
) =>
  Effect.gen(function*() {
    for (let i = 0; i < attempts; i++) {
      if (i % 20 === 0) yield* nudge
      if (yield* check) return
      yield* Effect.sleep("50 millis")
    }
    assert.fail(`timed out waiting for ${what}`)
  })

// Real time and real files: rotation is about what happens while connections live.
layer(Env, { excludeTestServices: true })("ServerContext", (it) => {
  describe("SNI", () => {
    it.scoped("names choose certificates: exact, wildcard for one label, any case; the rest get the default", () =>
      Effect.gen(function*() {
        const pki = yield* sniPki
        const server = yield* ServerContext.make({
          certificate: pki.fallback,
          sni: { certificates: [pki.wildcard, pki.api, pki.net] }
        })
        const client = yield* SslContext.make({ role: "client", trust: { certificates: pki.trust } })
        const served = (name: string | undefined) =>
          servedTo(client, name).pipe(Effect.provideService(ServerContext.ServerContext, server))
        // The exact name wins over the wildcard listed before it.
        assert.strictEqual(yield* served("api.example.org"), fingerprint(pki.api))
        assert.strictEqual(yield* served("API.Example.ORG"), fingerprint(pki.api))
        assert.strictEqual(yield* served("www.example.org"), fingerprint(pki.wildcard))
        assert.strictEqual(yield* served("WWW.EXAMPLE.ORG"), fingerprint(pki.wildcard))
        // A wildcard stands for exactly one label.
        assert.strictEqual(yield* served("a.b.example.org"), fingerprint(pki.fallback))
        assert.strictEqual(yield* served("example.org"), fingerprint(pki.fallback))
        assert.strictEqual(yield* served("www.example.net"), fingerprint(pki.net))
        assert.strictEqual(yield* served("unknown.example.com"), fingerprint(pki.fallback))
        assert.strictEqual(yield* served(undefined), fingerprint(pki.fallback))

        // With full verification: the client checks the name against what it was served.
        const [conn] = yield* handshake(client, { hostName: "shop.example.org" }).pipe(
          Effect.provideService(ServerContext.ServerContext, server)
        )
        const info = yield* conn.info
        assert.strictEqual(info.serverName, "shop.example.org")
        assert.deepStrictEqual(info.peerChain[0]!.subjectAltNames, ["DNS:*.example.org"])

        const set = yield* server.current
        assert.deepStrictEqual(set.named.map((c) => c.serverNames), [["*.example.org"], ["api.example.org"], [
          "example.net",
          "www.example.net"
        ]])
        assert.deepStrictEqual(set.default.serverNames, ["localhost"])
      }))

    it.scoped("unknown names refused: the client hears unrecognized_name (112); known names and no name still served", () =>
      Effect.gen(function*() {
        const pki = yield* sniPki
        const server = yield* ServerContext.make({
          certificate: pki.fallback,
          sni: { certificates: [pki.wildcard], unknownName: "refuse" }
        })
        const client = yield* SslContext.make({ role: "client", trust: { certificates: pki.trust } })
        const provide = Effect.provideService(ServerContext.ServerContext, server)

        for (const name of ["unknown.example.com", "a.b.example.org", "example.org"]) {
          const { clientError, serverError } = yield* provide(refusedFor(client, name))
          assert.strictEqual(clientError._tag, "TlsError", String(clientError))
          assert.include(alertsHeard(entriesOf(clientError)), UNRECOGNIZED_NAME, clientError.message)
          assert.strictEqual(serverError._tag, "TlsError", String(serverError))
        }
        assert.strictEqual(yield* provide(servedTo(client, "x.example.org")), fingerprint(pki.wildcard))
        // The default certificate's own names are known names.
        assert.strictEqual(yield* provide(servedTo(client, "localhost")), fingerprint(pki.fallback))
        assert.strictEqual(yield* provide(servedTo(client, undefined)), fingerprint(pki.fallback))
        assert.strictEqual((yield* server.current).select("nothing.example.com"), "refuse")
      }))

    it.scoped("a ClientHello without a name can be refused too", () =>
      Effect.gen(function*() {
        const pki = yield* sniPki
        const server = yield* ServerContext.make({ certificate: pki.fallback, sni: { missingName: "refuse" } })
        const client = yield* SslContext.make({ role: "client", trust: { certificates: pki.trust } })
        const provide = Effect.provideService(ServerContext.ServerContext, server)
        const { clientError } = yield* provide(refusedFor(client, undefined))
        assert.include(alertsHeard(entriesOf(clientError)), UNRECOGNIZED_NAME, clientError.message)
        // Unknown names keep the default policy.
        assert.strictEqual(yield* provide(servedTo(client, "anything.example.com")), fingerprint(pki.fallback))
      }))

    it.scoped("names listed explicitly replace the certificate's own", () =>
      Effect.gen(function*() {
        const pki = yield* sniPki
        const server = yield* ServerContext.make({
          certificate: pki.fallback,
          sni: { certificates: [{ ...pki.net, serverNames: ["*.example.net"] }], unknownName: "refuse" }
        })
        const client = yield* SslContext.make({ role: "client", trust: { certificates: pki.trust } })
        const provide = Effect.provideService(ServerContext.ServerContext, server)
        assert.strictEqual(yield* provide(servedTo(client, "www.example.net")), fingerprint(pki.net))
        // example.net is in the certificate but not in the list.
        const { clientError } = yield* provide(refusedFor(client, "example.net"))
        assert.include(alertsHeard(entriesOf(clientError)), UNRECOGNIZED_NAME)
      }))
  })

  describe("bad options fail the layer, naming the option", () => {
    it.effect("missing, ambiguous or unreadable certificates and keys", () =>
      LeakCheck.check(Effect.gen(function*() {
        const pki = yield* sniPki
        const files = yield* certificateFiles(pki.fallback)
        const other = yield* TestPki.server(pki.ca)
        const missing = join(files.directory, "missing.pem")
        const cases: Array<[ServerContext.Options, string, RegExp]> = [
          [{} as ServerContext.Options, "certificate", /needs a certificate/],
          [{ certificate: { chain: pki.fallback.chain } }, "certificate.key", /give key \(PEM\) or keyFile/],
          [{ certificate: { key: pki.fallback.key } }, "certificate.chain", /give chain \(PEM\) or chainFile/],
          [
            { certificate: { ...pki.fallback, chainFile: files.chain } },
            "certificate.chain",
            /give chain or chainFile, not both/
          ],
          [
            { certificate: { chainFile: missing, keyFile: files.key } },
            "certificate.chainFile",
            /cannot read .*NotFound/
          ],
          [{ certificate: { chainFile: files.chain, keyFile: missing } }, "certificate.keyFile", /NotFound/],
          [{ certificate: { chain: "not PEM", key: pki.fallback.key } }, "certificate.chain", /PEM/],
          [
            { certificate: { chain: pki.fallback.chain, key: Redacted.value(pki.fallback.key) as any } },
            "certificate.key",
            /Redacted/
          ],
          [{ certificate: { chain: pki.fallback.chain, key: other.key } }, "certificate.key", /key values mismatch/],
          [{ certificate: { chainFile: files.chain, key: other.key } }, "certificate.key", /key values mismatch/],
          [{ certificate: { chain: other.chain, keyFile: files.key } }, "certificate.keyFile", /key values mismatch/],
          [{ certificate: pki.fallback, ciphers: "NO-SUCH-CIPHER" }, "ciphers", /no usable cipher/],
          [{ certificate: pki.fallback, trust: { files: [files.ca, missing] } }, "trust.files[1]", /NotFound/],
          [{ certificate: pki.fallback, trust: { files: files.key } }, "trust.files", /no PEM CERTIFICATE block/],
          [{ certificate: pki.fallback, trust: { certificates: ["", pki.trust] } }, "trust.certificates[0]", /no PEM/],
          [{ certificate: pki.fallback, reload: { watch: true } }, "reload.watch", /nothing to watch/],
          [{ certificate: pki.fallback, reload: { debounce: "soon" as any } }, "reload.debounce", /duration/],
          [{ certificate: pki.fallback, reload: { schedule: "hourly" as any } }, "reload.schedule", /Schedule/],
          [{ certificate: pki.fallback, sni: { unknownName: "ignore" as any } }, "sni.unknownName", /default, refuse/]
        ]
        for (const [options, option, reason] of cases) {
          assertInvalid(yield* layerFailure(ServerContext.layer(options)), option, reason)
        }
      })))

    it.effect("certificates outside their validity, and SNI names that cannot be matched", () =>
      LeakCheck.check(Effect.gen(function*() {
        const pki = yield* sniPki
        const expired = yield* pki.issue(["old.example.org"], "expired")
        const future = yield* pki.issue(["new.example.org"], "notYetValid")
        const ipOnly = yield* pki.issue(["127.0.0.1"])
        const files = yield* certificateFiles(expired)
        const cases: Array<[ServerContext.Options, string, RegExp]> = [
          [{ certificate: expired }, "certificate.chain", /expired on \d{4}-/],
          [{ certificate: { chainFile: files.chain, keyFile: files.key } }, "certificate.chainFile", /expired/],
          [{ certificate: future }, "certificate.chain", /not valid before/],
          [
            { certificate: pki.fallback, sni: { certificates: [pki.api, expired] } },
            "sni.certificates[1].chain",
            /expired/
          ],
          [
            {
              certificate: pki.fallback,
              sni: { certificates: [{ ...pki.api, serverNames: ["api.example.org", "f*.org"] }] }
            },
            "sni.certificates[0].serverNames[1]",
            /whole leftmost label/
          ],
          [
            { certificate: pki.fallback, sni: { certificates: [{ ...pki.api, serverNames: ["*.org"] }] } },
            "sni.certificates[0].serverNames[0]",
            /two labels/
          ],
          [{ certificate: pki.fallback, sni: { certificates: [ipOnly] } }, "sni.certificates[0].serverNames", /no DNS/],
          [
            { certificate: pki.fallback, sni: { certificates: [{ ...pki.api, chain: "garbage" }] } },
            "sni.certificates[0].chain",
            /PEM/
          ]
        ]
        for (const [options, option, reason] of cases) {
          assertInvalid(yield* layerFailure(ServerContext.layer(options)), option, reason)
        }
      })))

    it.effect("client contexts", () =>
      LeakCheck.check(Effect.gen(function*() {
        const pki = yield* sniPki
        const files = yield* certificateFiles(pki.fallback)
        const missing = join(files.directory, "missing.pem")
        const cases: Array<[ClientContext.Options, string, RegExp]> = [
          [{ trust: { files: [missing] } }, "trust.files[0]", /NotFound/],
          [{ trust: { certificates: "nothing" } }, "trust.certificates", /no PEM/],
          [{ certificate: { chainFile: files.chain, keyFile: missing } }, "certificate.keyFile", /NotFound/],
          [{ certificate: { chainFile: files.chain } }, "certificate.key", /give key/],
          [{ minProtocol: "TLSv9" as any }, "minProtocol", /expected one of/]
        ]
        for (const [options, option, reason] of cases) {
          assertInvalid(yield* layerFailure(ClientContext.layer(options)), option, reason)
        }
      })))
  })

  describe("Config", () => {
    it.scoped("server and client from files named in the environment", () =>
      Effect.gen(function*() {
        const pki = yield* sniPki
        const files = yield* certificateFiles(pki.fallback)
        const provider = ConfigProvider.fromMap(
          new Map([["TLS_CERTIFICATE_FILE", files.chain], ["TLS_KEY_FILE", files.key], ["TLS_CA_FILE", files.ca]])
        )
        const Contexts = Layer.merge(
          ServerContext.layerConfig({
            certificate: { chainFile: Config.string("TLS_CERTIFICATE_FILE"), keyFile: Config.string("TLS_KEY_FILE") },
            alpnProtocols: Config.succeed(["h2", "http/1.1"])
          }),
          ClientContext.layerConfig({
            trust: { files: Config.string("TLS_CA_FILE") },
            alpnProtocols: Config.succeed(["http/1.1", "h2"])
          })
        ).pipe(Layer.provide(Layer.setConfigProvider(provider)))
        const info = yield* Effect.gen(function*() {
          const [a, b] = yield* Transport.memoryPair
          const [conn] = yield* Effect.all([
            ClientContext.connect(a, { hostName: "localhost" }),
            ServerContext.accept(b)
          ], { concurrency: 2 })
          return yield* conn.info
        }).pipe(Effect.provide(Contexts))
        assert.strictEqual(info.peerChain[0]!.fingerprint256, fingerprint(pki.fallback))
        assert.strictEqual(info.alpnProtocol, "h2")
      }))

    it.scoped("server and client from PEM in the environment (the key through Config.redacted)", () =>
      Effect.gen(function*() {
        const pki = yield* sniPki
        const provider = ConfigProvider.fromMap(
          new Map([
            ["TLS_CERTIFICATE", pki.fallback.chain],
            ["TLS_KEY", Redacted.value(pki.fallback.key)],
            ["API_CERTIFICATE", pki.api.chain],
            ["API_KEY", Redacted.value(pki.api.key)],
            ["TLS_CA", pki.trust]
          ])
        )
        const Contexts = Layer.merge(
          ServerContext.layerConfig({
            certificate: { chain: Config.string("TLS_CERTIFICATE"), key: Config.redacted("TLS_KEY") },
            sni: {
              certificates: Config.all([
                Config.all({ chain: Config.string("API_CERTIFICATE"), key: Config.redacted("API_KEY") })
              ]),
              unknownName: Config.succeed("refuse" as const)
            }
          }),
          ClientContext.layerConfig({ trust: { certificates: Config.string("TLS_CA") } })
        ).pipe(Layer.provide(Layer.setConfigProvider(provider)))
        const served = yield* Effect.gen(function*() {
          const [a, b] = yield* Transport.memoryPair
          const [conn] = yield* Effect.all([
            ClientContext.connect(a, { hostName: "api.example.org" }),
            ServerContext.accept(b)
          ], { concurrency: 2 })
          return (yield* conn.info).peerChain[0]!.fingerprint256
        }).pipe(Effect.provide(Contexts))
        assert.strictEqual(served, fingerprint(pki.api))
      }))

    it.effect("a missing setting fails the layer with a ConfigError naming it", () =>
      Effect.gen(function*() {
        const provider = ConfigProvider.fromMap(new Map([["TLS_CERTIFICATE_FILE", "/dev/null"]]))
        const error = yield* layerFailure(
          ServerContext.layerConfig({
            certificate: { chainFile: Config.string("TLS_CERTIFICATE_FILE"), keyFile: Config.string("TLS_KEY_FILE") }
          }).pipe(Layer.provide(Layer.setConfigProvider(provider)))
        )
        assert.strictEqual(error._tag, "ConfigError")
        assert.isTrue(ConfigError.isMissingDataOnly(error as ConfigError.ConfigError), String(error))
        assert.include(String(error), "TLS_KEY_FILE")
      }))

    it.scoped("client certificates: a server that requires one, a client that has one from files", () =>
      Effect.gen(function*() {
        const pki = yield* sniPki
        const clientCertificate = yield* TestPki.client(pki.ca)
        const serverFiles = yield* certificateFiles(pki.fallback)
        const clientFiles = yield* certificateFiles(clientCertificate)
        const server = yield* ServerContext.make({
          certificate: { chainFile: serverFiles.chain, keyFile: serverFiles.key },
          verify: { mode: "require" },
          trust: { files: [serverFiles.ca] }
        })
        const withCertificate = yield* ClientContext.make({
          trust: { files: serverFiles.ca },
          certificate: { chainFile: clientFiles.chain, keyFile: clientFiles.key }
        })
        const without = yield* ClientContext.make({ trust: { certificates: pki.trust } })
        const provide = Effect.provideService(ServerContext.ServerContext, server)
        const [, accepted] = yield* provide(handshake(withCertificate.context, { hostName: "localhost" }))
        assert.strictEqual((yield* accepted.info).peerChain[0]!.fingerprint256, fingerprint(clientCertificate))
        // TLS 1.3: the client learns of the refusal on its first read.
        const refusal = yield* provide(Effect.scoped(Effect.gen(function*() {
          const [a, b] = yield* Transport.memoryPair
          const [conn, serverError] = yield* Effect.all([
            TlsConnection.connect(a, without.context, { hostName: "localhost" }),
            Effect.flip(ServerContext.accept(b))
          ], { concurrency: 2 })
          return { serverError, read: yield* Effect.flip(conn.read) }
        })))
        assert.strictEqual(refusal.serverError._tag, "TlsError")
        assert.include(alertsHeard(entriesOf(refusal.read)), 116) // certificate_required
      }))
  })

  describe("rotation", () => {
    it.effect(
      "reload: new handshakes get the new certificate, an older connection keeps working on the old one, which is freed when it closes",
      () =>
        LeakCheck.check(Effect.gen(function*() {
          const frees = yield* recordFrees
          const pki = yield* sniPki
          const apiNext = yield* pki.issue(["api.example.org"])
          const fallbackNext = yield* pki.issue(["localhost"])
          const defaultFiles = yield* certificateFiles(pki.fallback)
          const apiFiles = yield* certificateFiles(pki.api)
          const server = yield* ServerContext.make({
            certificate: { chainFile: defaultFiles.chain, keyFile: defaultFiles.key },
            sni: { certificates: [{ chainFile: apiFiles.chain, keyFile: apiFiles.key }] }
          })
          const provide = Effect.provideService(ServerContext.ServerContext, server)
          const client = yield* SslContext.make({ role: "client", trust: { certificates: pki.trust } })
          const first = yield* server.current
          const oldIds = [yield* idOf(first.default.context), yield* idOf(first.named[0]!.context)]

          // A connection on the first set, in a scope of its own.
          const olderScope = yield* Scope.make()
          const [olderClient, olderServer] = yield* provide(
            Scope.extend(handshake(client, { hostName: "api.example.org" }), olderScope)
          )
          assert.strictEqual((yield* olderClient.info).peerChain[0]!.fingerprint256, fingerprint(pki.api))

          yield* overwrite(defaultFiles, fallbackNext)
          yield* overwrite(apiFiles, apiNext)
          const second = yield* server.reload
          assert.strictEqual(second.generation, 2)
          assert.strictEqual(second.default.info.fingerprint256, fingerprint(fallbackNext))
          assert.strictEqual(second.named[0]!.info.fingerprint256, fingerprint(apiNext))

          // New handshakes get the new certificates, verified by name.
          const [newer, newerServer] = yield* provide(handshake(client, { hostName: "api.example.org" }))
          assert.strictEqual((yield* newer.info).peerChain[0]!.fingerprint256, fingerprint(apiNext))
          assert.strictEqual(yield* provide(servedTo(client, "localhost")), fingerprint(fallbackNext))

          // The older connection still works, and its contexts are alive, held for it alone.
          yield* exchange(olderClient, olderServer, "older")
          yield* exchange(newer, newerServer, "newer")
          for (const id of oldIds) {
            assert.isTrue(yield* isHeld(id))
            assert.strictEqual(freesOf(frees, id), 0)
          }

          yield* Scope.close(olderScope, Exit.void)
          for (const id of oldIds) {
            assert.isFalse(yield* isHeld(id))
            assert.strictEqual(freesOf(frees, id), 1, `SSL_CTX #${id} freed once`)
          }
          // The contexts in service are untouched.
          yield* exchange(newer, newerServer, "after")
        }))
    )

    it.effect("a reload with nothing retired frees the old set at once; one that reads the same files changes nothing", () =>
      LeakCheck.check(Effect.gen(function*() {
        const frees = yield* recordFrees
        const pki = yield* sniPki
        const files = yield* certificateFiles(pki.fallback)
        const server = yield* ServerContext.make({ certificate: { chainFile: files.chain, keyFile: files.key } })
        const first = yield* server.current
        const firstId = yield* idOf(first.default.context)

        const same = yield* server.reload
        assert.strictEqual(same, first)
        assert.isFalse(SslContext.isReleased(first.default.context))

        yield* overwrite(files, yield* pki.issue(["localhost"]))
        const second = yield* server.reload
        assert.strictEqual(second.generation, 2)
        assert.isTrue(SslContext.isReleased(first.default.context))
        assert.strictEqual(freesOf(frees, firstId), 1)
      })))

    it.effect("unsafeAcceptOptions holds the set across a rotation until the last holder releases it; a release counts once", () =>
      LeakCheck.check(Effect.gen(function*() {
        const frees = yield* recordFrees
        const pki = yield* sniPki
        const files = yield* certificateFiles(pki.fallback)
        const server = yield* ServerContext.make({ certificate: { chainFile: files.chain, keyFile: files.key } })
        const held = server.unsafeAcceptOptions()
        const other = server.unsafeAcceptOptions()
        const first = yield* server.current
        assert.strictEqual(held.set, first)
        assert.strictEqual(held.context, first.default.context)
        const firstId = yield* idOf(first.default.context)

        yield* overwrite(files, yield* pki.issue(["localhost"]))
        assert.strictEqual((yield* server.reload).generation, 2)
        // Out of service, still held.
        assert.isFalse(SslContext.isReleased(first.default.context))
        assert.strictEqual(freesOf(frees, firstId), 0)

        held.release()
        held.release() // does nothing: it let go of the set once, and `other` still holds it
        assert.isFalse(SslContext.isReleased(first.default.context))
        assert.strictEqual(freesOf(frees, firstId), 0)
        other.release()
        assert.isTrue(SslContext.isReleased(first.default.context))
        assert.strictEqual(freesOf(frees, firstId), 1)
        // The set in service is untouched.
        assert.isFalse(SslContext.isReleased((yield* server.current).default.context))
      })))

    it.effect("sessions resume across a reload that changed nothing; after a rotation the client does a full handshake", () =>
      LeakCheck.check(Effect.gen(function*() {
        const pki = yield* sniPki
        const files = yield* certificateFiles(pki.fallback)
        const server = yield* ServerContext.make({ certificate: { chainFile: files.chain, keyFile: files.key } })
        const client = yield* SslContext.make({ role: "client", trust: { certificates: pki.trust } })
        const provide = Effect.provideService(ServerContext.ServerContext, server)
        const session = yield* provide(Effect.gen(function*() {
          const scope = yield* Scope.make()
          const [conn, accepted] = yield* Scope.extend(handshake(client, { hostName: "localhost" }), scope)
          // The server sends its TLS 1.3 tickets after the handshake; the client reads them here.
          yield* accepted.write(bytes("ticket time"))
          const session = Option.getOrThrow(yield* conn.awaitSession("5 seconds"))
          yield* Scope.close(scope, Exit.void)
          return session
        }))
        const resumed = (session: SslSession.SslSession) =>
          provide(Effect.scoped(Effect.gen(function*() {
            const [conn] = yield* handshake(client, { hostName: "localhost", session })
            return (yield* conn.info).sessionReused
          })))

        assert.strictEqual(yield* server.reload, yield* server.current)
        assert.isTrue(yield* resumed(session))

        yield* overwrite(files, yield* pki.issue(["localhost"]))
        assert.strictEqual((yield* server.reload).generation, 2)
        assert.isFalse(yield* resumed(session))
      })))

    it.effect("a reload in the middle of a handshake: the connection completes with the set it started with", () =>
      LeakCheck.check(Effect.gen(function*() {
        const pki = yield* sniPki
        const apiFiles = yield* certificateFiles(pki.api)
        const apiNext = yield* pki.issue(["api.example.org"])
        const server = yield* ServerContext.make({
          certificate: pki.fallback,
          sni: { certificates: [{ chainFile: apiFiles.chain, keyFile: apiFiles.key }] }
        })
        const client = yield* SslContext.make({ role: "client", trust: { certificates: pki.trust } })
        const paused = yield* Deferred.make<void>()
        const resume = yield* Deferred.make<void>()
        const [a, b] = yield* Transport.memoryPair
        // The server pauses on the ClientHello, before the certificate for the name is switched in.
        const accepting = yield* ServerContext.accept(b, {
          clientHello: () =>
            Effect.zipRight(Deferred.succeed(paused, undefined), Effect.as(Deferred.await(resume), true))
        }).pipe(Effect.provideService(ServerContext.ServerContext, server), Effect.fork)
        const connecting = yield* Effect.fork(TlsConnection.connect(a, client, { hostName: "api.example.org" }))
        yield* Deferred.await(paused)

        yield* overwrite(apiFiles, apiNext)
        assert.strictEqual((yield* server.reload).generation, 2)
        yield* Deferred.succeed(resume, undefined)

        const conn = yield* Fiber.join(connecting)
        const accepted = yield* Fiber.join(accepting)
        assert.strictEqual((yield* conn.info).peerChain[0]!.fingerprint256, fingerprint(pki.api))
        yield* exchange(conn, accepted, "started before the reload")
        const next = yield* servedTo(client, "api.example.org").pipe(
          Effect.provideService(ServerContext.ServerContext, server)
        )
        assert.strictEqual(next, fingerprint(apiNext))
      })))

    it.effect("a bad new certificate is refused with a typed error, and the old one stays in service", () =>
      LeakCheck.check(Effect.gen(function*() {
        const pki = yield* sniPki
        const files = yield* certificateFiles(pki.fallback)
        const server = yield* ServerContext.make({ certificate: { chainFile: files.chain, keyFile: files.key } })
        const client = yield* SslContext.make({ role: "client", trust: { certificates: pki.trust } })
        const served = servedTo(client, "localhost").pipe(Effect.provideService(ServerContext.ServerContext, server))
        const contexts = Effect.map(Diagnostics.counts, (counts) => counts.SSL_CTX)
        const before = yield* contexts

        const expired = yield* pki.issue(["localhost"], "expired")
        const mismatched = yield* pki.issue(["localhost"])
        const refusals: Array<[Effect.Effect<void>, string, RegExp]> = [
          [overwrite(files, expired), "certificate.chainFile", /expired/],
          [
            overwrite(files, { chain: mismatched.chain, key: pki.fallback.key }),
            "certificate.keyFile",
            /key values mismatch/
          ],
          [
            Effect.promise(() => writeFile(files.chain, "-----BEGIN CERTIFICATE-----\nAAAA\n")),
            // The damaged block is named: the first of the file.
            "certificate.chainFile[0]",
            /no END line/
          ],
          [
            Effect.zipRight(overwrite(files, pki.fallback), Effect.promise(() => writeFile(files.key, "not a key"))),
            "certificate.keyFile",
            /cannot decode the private key/
          ]
        ]
        for (const [write, option, reason] of refusals) {
          yield* write
          assertInvalid(yield* Effect.flip(server.reload), option, reason)
          assert.strictEqual((yield* server.current).generation, 1)
          assert.strictEqual(yield* served, fingerprint(pki.fallback))
          // Nothing of the refused set is left allocated.
          assert.strictEqual(yield* contexts, before)
        }
        // A good certificate afterwards goes into service.
        const good = yield* pki.issue(["localhost"])
        yield* overwrite(files, good)
        assert.strictEqual((yield* server.reload).generation, 2)
        assert.strictEqual(yield* served, fingerprint(good))
      })))

    it.effect("on a schedule", () =>
      LeakCheck.check(Effect.gen(function*() {
        const pki = yield* sniPki
        const files = yield* certificateFiles(pki.fallback)
        const logs = captureLogs()
        const server = yield* ServerContext.make({
          certificate: { chainFile: files.chain, keyFile: files.key },
          reload: { schedule: Schedule.spaced("100 millis") }
        }).pipe(Effect.provide(logs.layer))
        const client = yield* SslContext.make({ role: "client", trust: { certificates: pki.trust } })
        const next = yield* pki.issue(["localhost"])
        yield* overwrite(files, next)
        yield* eventually("the scheduled reload", Effect.map(server.current, (set) => set.generation === 2))
        const served = yield* servedTo(client, "localhost").pipe(
          Effect.provideService(ServerContext.ServerContext, server)
        )
        assert.strictEqual(served, fingerprint(next))
        assert.isTrue(logs.lines.some((line) => line.startsWith("INFO certificates reloaded")), logs.lines.join("\n"))
      })))

    it.effect("when the files change; a bad change is logged and the certificate in service stays", () =>
      LeakCheck.check(Effect.gen(function*() {
        const pki = yield* sniPki
        const files = yield* certificateFiles(pki.fallback)
        const logs = captureLogs()
        const server = yield* ServerContext.make({
          certificate: { chainFile: files.chain, keyFile: files.key },
          trust: { files: files.ca },
          reload: { watch: true, debounce: "100 millis" }
        }).pipe(Effect.provide(logs.layer))
        const client = yield* SslContext.make({ role: "client", trust: { certificates: pki.trust } })
        const served = servedTo(client, "localhost").pipe(Effect.provideService(ServerContext.ServerContext, server))
        const next = yield* pki.issue(["localhost"])
        // Written again now and then: a change made before the watch started is not seen.
        yield* eventually(
          "a reload after the files changed",
          Effect.map(server.current, (set) => set.generation === 2),
          overwrite(files, next)
        )
        assert.strictEqual(yield* served, fingerprint(next))

        const expired = yield* pki.issue(["localhost"], "expired")
        yield* eventually(
          "the refused reload to be logged",
          Effect.sync(() => logs.lines.some((line) => line.startsWith("WARN certificate reload refused"))),
          overwrite(files, expired)
        )
        const warning = logs.lines.find((line) => line.startsWith("WARN"))!
        assert.match(warning, /invalid option certificate\.chainFile: the certificate expired/)
        assert.strictEqual((yield* server.current).generation, 2)
        assert.strictEqual(yield* served, fingerprint(next))
      })))

    it.effect("reload after the layer closed fails, and the layer's contexts are all released", () =>
      LeakCheck.check(Effect.gen(function*() {
        const pki = yield* sniPki
        const scope = yield* Scope.make()
        const server = yield* Scope.extend(
          ServerContext.make({ certificate: pki.fallback, sni: { certificates: [pki.api] } }),
          scope
        )
        yield* Scope.close(scope, Exit.void)
        const error = yield* Effect.flip(server.reload)
        assert.strictEqual(error._tag, "ReleasedHandleError")
      })))
  })
})
