/**
 * The callback contract, over in-memory pairs: every callback (key log, verify hook, ClientHello,
 * SNI, ALPN selection, new session) catches its own failures, returns its fail-closed value, and
 * the failure surfaces as a typed error once the native call has returned. A failing callback
 * touches its own connection only: connections on the same contexts, concurrent or later, succeed,
 * and every native handle is freed once when the scope closes.
 */
import * as Diagnostics from "@effect-openssl/core/Diagnostics"
import * as Ssl from "@effect-openssl/core/Ssl"
import * as SslContext from "@effect-openssl/core/SslContext"
import type { SslError, TlsError, VerifyError } from "@effect-openssl/core/SslError"
import * as SslSession from "@effect-openssl/core/SslSession"
import * as TlsConnection from "@effect-openssl/core/TlsConnection"
import * as TlsEngine from "@effect-openssl/core/TlsEngine"
import type { VerifyStep } from "@effect-openssl/core/TlsInfo"
import * as Transport from "@effect-openssl/core/Transport"
import { assert, describe, layer } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import { X509Certificate } from "node:crypto"
import * as TestPki from "../../test/src/TestPki.js"
import { clientOptions, connectedPair, fixture, recordFrees, serverOptions, TestOpenSsl } from "./util.js"

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes)
const bytes = (s: string) => new TextEncoder().encode(s)

const versions = ["TLSv1.2", "TLSv1.3"] as const
type Version = typeof versions[number]

type Outcome = Either.Either<TlsConnection.TlsConnection, TlsConnection.TlsConnectionError>

/**
 * Both ends over memory, each outcome kept: a failing side does not interrupt the other, so what
 * the peer of a failing side sees (an alert, or nothing until its timeout) is observable.
 */
const attempt = (
  client: SslContext.SslContext,
  server: SslContext.SslContext,
  connectOptions: Partial<TlsConnection.ConnectOptions> = {},
  acceptOptions: TlsConnection.AcceptOptions = {}
) =>
  Effect.gen(function*() {
    const [a, b] = yield* Transport.memoryPair
    const [c, s]: [Outcome, Outcome] = yield* Effect.all([
      TlsConnection.connect(a, client, { hostName: "localhost", handshakeTimeout: "5 seconds", ...connectOptions }),
      TlsConnection.accept(b, server, { handshakeTimeout: "5 seconds", ...acceptOptions })
    ], { concurrency: 2, mode: "either" })
    return { client: c, server: s }
  })

/** A full exchange in a scope of its own: handshake, a message each way, close_notify both ways. */
const exchange = (
  client: SslContext.SslContext,
  server: SslContext.SslContext,
  connectOptions: TlsConnection.ConnectOptions = { hostName: "localhost" },
  acceptOptions: TlsConnection.AcceptOptions = {}
) =>
  Effect.scoped(Effect.gen(function*() {
    const [c, s] = yield* connectedPair(client, server, connectOptions, acceptOptions)
    yield* c.write(bytes("ping"))
    assert.strictEqual(text(Option.getOrThrow(yield* s.read)), "ping")
    yield* s.write(bytes("pong"))
    assert.strictEqual(text(Option.getOrThrow(yield* c.read)), "pong")
    const info = { client: yield* c.info, server: yield* s.info }
    yield* Effect.all([c.close, s.close], { concurrency: 2 })
    return info
  }))

const failureOf = (outcome: Outcome): TlsConnection.TlsConnectionError => {
  assert.isTrue(Either.isLeft(outcome), "expected the handshake to fail")
  return (outcome as Either.Left<TlsConnection.TlsConnectionError, TlsConnection.TlsConnection>).left
}

const tlsError = (outcome: Outcome, reason: TlsError["reason"]): TlsError => {
  const error = failureOf(outcome)
  assert.strictEqual(error._tag, "TlsError", String(error))
  assert.strictEqual((error as TlsError).reason, reason, String(error))
  return error as TlsError
}

const verifyError = (outcome: Outcome): VerifyError => {
  const error = failureOf(outcome)
  assert.strictEqual(error._tag, "VerifyError", String(error))
  return error as VerifyError
}

const reasonTexts = (error: SslError | TlsConnection.TlsConnectionError): Array<string | undefined> =>
  "entries" in error && error.entries !== undefined ? error.entries.map((e) => e.reasonText) : []

/** TLS alert numbers (RFC 8446 §6). */
const Alert = { handshakeFailure: 40, internalError: 80, noApplicationProtocol: 120 } as const

/**
 * The alert's reason code in OpenSSL's error queue: 1000 + the alert number (the texts differ
 * between OpenSSL lines, e.g. "sslv3 alert handshake failure" in 3.0, "ssl/tls alert handshake
 * failure" in 3.5).
 */
const alertReasons = (error: SslError | TlsConnection.TlsConnectionError): Array<number> =>
  "entries" in error && error.entries !== undefined ? error.entries.map((e) => e.reason - 1000) : []

/** The peer was told with an alert (not left waiting for its timeout). */
const alerted = (outcome: Outcome, alert: number) => {
  const error = tlsError(outcome, "Protocol")
  assert.include(alertReasons(error), alert, String(error))
}

/** What a failed callback threw (or failed or died with, for effects). */
const thrown = (error: TlsError): unknown =>
  Cause.isCause(error.cause) ? Cause.squash(error.cause as Cause.Cause<unknown>) : error.cause

/**
 * Check that the `SSL` handles made since `frees` started recording are gone: none held, and each
 * native object freed exactly once.
 */
const assertSslsFreed = (frees: ReadonlyArray<{ readonly kind: string; readonly id: number }>, expected: number) =>
  Effect.gen(function*() {
    assert.strictEqual((yield* Diagnostics.counts).SSL, 0)
    const ids = frees.filter((e) => e.kind === "SSL").map((e) => e.id)
    assert.strictEqual(ids.length, expected)
    assert.strictEqual(new Set(ids).size, expected)
  })

const boom = new Error("boom")
const throwBoom = (): never => {
  throw boom
}

/** The contexts the failure cases share: key log on, the client offers ALPN. */
const contexts = (version: Version) =>
  Effect.all({
    server: SslContext.make({ ...serverOptions, keylog: true, maxProtocol: version }),
    client: SslContext.make({ ...clientOptions, keylog: true, maxProtocol: version, alpnProtocols: ["h2", "http/1.1"] })
  })

interface FailureCase {
  readonly name: string
  readonly connect?: Partial<TlsConnection.ConnectOptions>
  readonly accept?: TlsConnection.AcceptOptions
  readonly check: (version: Version, client: Outcome, server: Outcome) => void
}

const failureCases: ReadonlyArray<FailureCase> = [
  {
    name: "a client keylog callback that throws",
    connect: { keylog: throwBoom },
    check: (_, client) => {
      const error = tlsError(client, "Callback")
      assert.strictEqual(error.cause, boom)
    }
  },
  {
    // The server's failure surfaces after the native step returned; its flight may already be on
    // the way, so the client's own outcome is not part of the contract.
    name: "a server keylog callback that throws",
    accept: { keylog: throwBoom },
    check: (_, _client, server) => assert.strictEqual(tlsError(server, "Callback").cause, boom)
  },
  {
    name: "a client verify hook that throws",
    connect: { verify: throwBoom },
    check: (_, client, server) => {
      const error = tlsError(client, "Callback")
      assert.strictEqual(error.cause, boom)
      alerted(server, Alert.internalError)
    }
  },
  {
    name: "a client verify hook that returns false",
    connect: { verify: () => false },
    check: (_, client, server) => {
      const error = verifyError(client)
      assert.strictEqual(error.code, 50) // X509_V_ERR_APPLICATION_VERIFICATION
      assert.strictEqual(error.reason, "application verification failure")
      // OpenSSL checks the top of the chain first: the hook refused the CA, at depth 1.
      assert.strictEqual(error.depth, 1)
      assert.strictEqual(error.subject, "/CN=effect-openssl test CA")
      alerted(server, Alert.handshakeFailure)
    }
  },
  {
    name: "a ClientHello callback that returns false",
    accept: { clientHello: () => Effect.succeed(false) },
    check: (_, client, server) => {
      const error = tlsError(server, "Protocol")
      assert.include(reasonTexts(error), "callback failed")
      alerted(client, Alert.handshakeFailure)
    }
  },
  {
    name: "a ClientHello effect that fails",
    accept: { clientHello: () => Effect.fail(boom) },
    check: (_, client, server) => {
      const error = tlsError(server, "Callback")
      assert.strictEqual(error.operation, "clientHello")
      assert.strictEqual(thrown(error), boom)
      alerted(client, Alert.handshakeFailure)
    }
  },
  {
    name: "a ClientHello effect that dies",
    accept: { clientHello: () => Effect.die(boom) },
    check: (_, client, server) => {
      assert.strictEqual(thrown(tlsError(server, "Callback")), boom)
      alerted(client, Alert.handshakeFailure)
    }
  },
  {
    name: "an SNI effect that fails",
    accept: { sni: () => Effect.fail(boom) },
    check: (_, client, server) => {
      assert.strictEqual(thrown(tlsError(server, "Callback")), boom)
      alerted(client, Alert.handshakeFailure)
    }
  },
  {
    name: "an ALPN callback that throws",
    accept: { alpnSelect: throwBoom },
    check: (_, client, server) => {
      assert.strictEqual(tlsError(server, "Callback").cause, boom)
      alerted(client, Alert.noApplicationProtocol)
    }
  },
  {
    name: "an ALPN callback that picks a protocol the client did not offer",
    accept: { alpnSelect: () => "spdy/3" },
    check: (_, client, server) => {
      assert.include(reasonTexts(tlsError(server, "Protocol")), "no application protocol")
      alerted(client, Alert.noApplicationProtocol)
    }
  },
  {
    name: "an ALPN callback that picks the empty name",
    accept: { alpnSelect: () => "" },
    check: (_, client, server) => {
      assert.include(reasonTexts(tlsError(server, "Protocol")), "no application protocol")
      alerted(client, Alert.noApplicationProtocol)
    }
  }
]

// Real time: handshake timeouts must be able to fire, and ClientHello work sleeps for real.
layer(TestOpenSsl, { excludeTestServices: true })("Callbacks", (it) => {
  describe("a failing callback fails closed, alone", () => {
    for (const version of versions) {
      for (const c of failureCases) {
        it.scoped(`${version}: ${c.name}: typed error; concurrent and later connections succeed; all freed`, () =>
          Effect.gen(function*() {
            const { client, server } = yield* contexts(version)
            const frees = yield* recordFrees
            const [failed, healthy] = yield* Effect.all([
              Effect.scoped(attempt(client, server, c.connect, c.accept)),
              exchange(client, server)
            ], { concurrency: 2 })
            c.check(version, failed.client, failed.server)
            assert.strictEqual(healthy.client.protocol, version)
            assert.strictEqual(healthy.server.alpnProtocol, undefined)
            const later = yield* exchange(client, server)
            assert.strictEqual(later.client.protocol, version)
            // Two connections of two handles each, every one freed once.
            yield* assertSslsFreed(frees, 6)
          }))
      }
    }
  })

  describe("keylog", () => {
    const line = /^([A-Z_0-9]+) ([0-9a-f]{64}) ([0-9a-f]+)$/
    const parse = (lines: ReadonlyArray<string>) =>
      lines.map((l) => {
        const m = line.exec(l)
        assert.isNotNull(m, `not an NSS key log line: ${l}`)
        return { label: m![1]!, clientRandom: m![2]!, secret: m![3]! }
      })

    it.scoped("TLSv1.3: the five traffic secrets, the same on both sides, in NSS format", () =>
      Effect.gen(function*() {
        const server = yield* SslContext.make({ ...serverOptions, keylog: true, maxProtocol: "TLSv1.3" })
        const client = yield* SslContext.make({ ...clientOptions, keylog: true, maxProtocol: "TLSv1.3" })
        const clientLines: Array<string> = []
        const serverLines: Array<string> = []
        const { client: info } = yield* exchange(
          client,
          server,
          { hostName: "localhost", keylog: (l) => clientLines.push(l) },
          { keylog: (l) => serverLines.push(l) }
        )
        const entries = parse(clientLines)
        assert.deepStrictEqual(entries.map((e) => e.label).sort(), [
          "CLIENT_HANDSHAKE_TRAFFIC_SECRET",
          "CLIENT_TRAFFIC_SECRET_0",
          "EXPORTER_SECRET",
          "SERVER_HANDSHAKE_TRAFFIC_SECRET",
          "SERVER_TRAFFIC_SECRET_0"
        ])
        // One handshake: one client random; each secret is as long as the suite's hash.
        assert.strictEqual(new Set(entries.map((e) => e.clientRandom)).size, 1)
        const hexLength = info.cipher.endsWith("SHA384") ? 96 : 64
        for (const e of entries) assert.strictEqual(e.secret.length, hexLength, e.label)
        assert.strictEqual(new Set(entries.map((e) => e.secret)).size, 5)
        // Both ends derive the same secrets from the same handshake.
        assert.deepStrictEqual([...serverLines].sort(), [...clientLines].sort())
      }))

    it.scoped("TLSv1.2: one CLIENT_RANDOM line with the 48-byte master secret, the same on both sides", () =>
      Effect.gen(function*() {
        const server = yield* SslContext.make({ ...serverOptions, keylog: true, maxProtocol: "TLSv1.2" })
        const client = yield* SslContext.make({ ...clientOptions, keylog: true, maxProtocol: "TLSv1.2" })
        const clientLines: Array<string> = []
        const serverLines: Array<string> = []
        yield* exchange(
          client,
          server,
          { hostName: "localhost", keylog: (l) => clientLines.push(l) },
          { keylog: (l) => serverLines.push(l) }
        )
        const entries = parse(clientLines)
        assert.deepStrictEqual(entries.map((e) => e.label), ["CLIENT_RANDOM"])
        assert.strictEqual(entries[0]!.secret.length, 96)
        assert.deepStrictEqual(serverLines, clientLines)
      }))

    it.scoped("without keylog: true on the context, the option sees nothing", () =>
      Effect.gen(function*() {
        const server = yield* SslContext.make(serverOptions)
        const client = yield* SslContext.make(clientOptions)
        const lines: Array<string> = []
        yield* exchange(client, server, { hostName: "localhost", keylog: (l) => lines.push(l) }, {
          keylog: (l) => lines.push(l)
        })
        assert.deepStrictEqual(lines, [])
      }))
  })

  describe("verify hook", () => {
    it.scoped("sees each certificate of the chain with its depth, top first, as OpenSSL judged it", () =>
      Effect.gen(function*() {
        const pki = yield* TestPki.make()
        const server = yield* SslContext.make({ role: "server", certificate: pki.server })
        const client = yield* SslContext.make({ role: "client", trust: { certificates: pki.trust } })
        const steps: Array<VerifyStep> = []
        yield* exchange(client, server, {
          hostName: "localhost",
          verify: (step) => {
            steps.push(step)
            return step.preverified
          }
        })
        assert.deepStrictEqual(steps.map((s) => [s.depth, s.subject, s.preverified, s.code]), [
          [2, `/CN=${pki.ca.commonName}`, true, 0],
          [1, `/CN=${pki.intermediate.commonName}`, true, 0],
          [0, "/CN=localhost", true, 0]
        ])
        const der = (pem: string) => new Uint8Array(new X509Certificate(pem).raw)
        assert.deepStrictEqual(steps.map((s) => s.certificate), [
          der(pki.ca.certificate),
          der(pki.intermediate.certificate),
          der(pki.server.certificate)
        ])
      }))

    it.scoped("false at the leaf: VerifyError 50 naming the leaf; OpenSSL's own failures keep their code", () =>
      Effect.gen(function*() {
        const server = yield* SslContext.make(serverOptions)
        const client = yield* SslContext.make(clientOptions)
        const rejected = yield* Effect.scoped(
          attempt(client, server, { verify: (step) => step.depth !== 0 && step.preverified })
        )
        const error = verifyError(rejected.client)
        assert.strictEqual(error.code, 50)
        assert.strictEqual(error.depth, 0)
        assert.strictEqual(error.subject, "/CN=localhost")
        assert.isTrue(Either.isLeft(rejected.server))

        // A certificate OpenSSL already failed: the hook's "no" keeps OpenSSL's reason.
        const stranger = yield* TestPki.selfSigned()
        const untrusted = yield* SslContext.make({ role: "server", certificate: stranger })
        const seen: Array<number> = []
        const kept = yield* Effect.scoped(attempt(client, untrusted, {
          verify: (step) => {
            seen.push(step.code)
            return step.preverified
          }
        }))
        assert.strictEqual(verifyError(kept.client).code, 18) // X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT
        assert.deepStrictEqual(seen, [18])
      }))

    it.scoped("true can accept what the default rejects: pinning a self-signed certificate", () =>
      Effect.gen(function*() {
        const pinned = yield* TestPki.selfSigned()
        const other = yield* TestPki.selfSigned()
        const pinnedDer = new Uint8Array(new X509Certificate(pinned.certificate).raw)
        const pin = (step: VerifyStep) =>
          step.preverified || (step.certificate !== undefined && Buffer.compare(step.certificate, pinnedDer) === 0)
        const client = yield* SslContext.make(clientOptions)
        const pinnedServer = yield* SslContext.make({ role: "server", certificate: pinned })
        const otherServer = yield* SslContext.make({ role: "server", certificate: other })

        // Without the hook the default refuses it.
        const refused = yield* Effect.scoped(attempt(client, pinnedServer))
        assert.strictEqual(verifyError(refused.client).code, 18)

        const { client: info } = yield* exchange(client, pinnedServer, { hostName: "localhost", verify: pin })
        assert.strictEqual(info.peerChain[0]!.fingerprint256, new X509Certificate(pinned.certificate).fingerprint256)

        // The pin is not a blanket yes.
        const stranger = yield* Effect.scoped(attempt(client, otherServer, { verify: pin }))
        assert.strictEqual(verifyError(stranger.client).code, 18)
      }))

    it.scoped("server side: the hook sees the client's chain; false refuses the client with VerifyError 50", () =>
      Effect.gen(function*() {
        const pki = yield* TestPki.make()
        const server = yield* SslContext.make({
          role: "server",
          certificate: pki.server,
          verify: { mode: "require" },
          trust: { certificates: pki.trust },
          maxProtocol: "TLSv1.2"
        })
        const client = yield* SslContext.make({
          role: "client",
          certificate: pki.client,
          trust: { certificates: pki.trust }
        })
        const steps: Array<VerifyStep> = []
        const { server: info } = yield* exchange(client, server, { hostName: "localhost" }, {
          verify: (step) => {
            steps.push(step)
            return step.preverified
          }
        })
        assert.deepStrictEqual(steps.map((s) => [s.depth, s.subject]), [
          [2, `/CN=${pki.ca.commonName}`],
          [1, `/CN=${pki.intermediate.commonName}`],
          [0, "/CN=client"]
        ])
        assert.strictEqual(info.peerChain[0]!.subject, "CN=client")

        const frees = yield* recordFrees
        const refused = yield* Effect.scoped(attempt(client, server, {}, { verify: (step) => step.depth !== 0 }))
        const error = verifyError(refused.server)
        assert.strictEqual(error.code, 50)
        assert.strictEqual(error.subject, "/CN=client")
        // TLS 1.2: the client waits for the server's Finished and gets the alert instead.
        alerted(refused.client, Alert.handshakeFailure)
        yield* assertSslsFreed(frees, 2)
      }))

    it.scoped("server side, TLSv1.3: the client's handshake ends first; its first read gets the alert", () =>
      Effect.gen(function*() {
        const pki = yield* TestPki.make()
        const server = yield* SslContext.make({
          role: "server",
          certificate: pki.server,
          verify: { mode: "require" },
          trust: { certificates: pki.trust },
          maxProtocol: "TLSv1.3"
        })
        const client = yield* SslContext.make({
          role: "client",
          certificate: pki.client,
          trust: { certificates: pki.trust }
        })
        const refused = yield* Effect.scoped(Effect.gen(function*() {
          const outcome = yield* attempt(client, server, {}, { verify: (step) => step.depth !== 0 })
          const read = Either.isRight(outcome.client) ? yield* Effect.flip(outcome.client.right.read) : undefined
          return { ...outcome, read }
        }))
        assert.strictEqual(verifyError(refused.server).code, 50)
        assert.isTrue(Either.isRight(refused.client))
        assert.isDefined(refused.read)
        assert.strictEqual(refused.read!._tag, "TlsError")
        assert.include(alertReasons(refused.read!), Alert.handshakeFailure)
      }))
  })

  describe("ClientHello", () => {
    it.scoped("sees the server name, the ALPN offers in order and the legacy version, once per handshake", () =>
      Effect.gen(function*() {
        const server = yield* SslContext.make(serverOptions)
        const client = yield* SslContext.make({ ...clientOptions, alpnProtocols: ["h2", "http/1.1"] })
        for (const version of versions) {
          const versioned = yield* SslContext.make({ ...serverOptions, maxProtocol: version })
          const hellos: Array<unknown> = []
          const { server: info } = yield* exchange(client, versioned, { hostName: "localhost" }, {
            clientHello: (hello) => Effect.sync(() => hellos.push(hello)).pipe(Effect.as(true))
          })
          assert.strictEqual(info.protocol, version)
          // TLS 1.3 keeps 0x0303 in the legacy field and says 1.3 in supported_versions.
          assert.deepStrictEqual(hellos, [{
            serverName: "localhost",
            alpnProtocols: ["h2", "http/1.1"],
            legacyVersion: 0x0303
          }])
        }
        // A client with neither SNI nor ALPN.
        const bare = yield* SslContext.make({ role: "client", verify: { mode: "none" } })
        const hellos: Array<unknown> = []
        yield* exchange(bare, server, {}, {
          clientHello: (hello) => Effect.sync(() => hellos.push(hello)).pipe(Effect.as(true))
        })
        assert.deepStrictEqual(hellos, [{ serverName: undefined, alpnProtocols: [], legacyVersion: 0x0303 }])
      }))

    it.scoped("async work pauses the handshake until it is done, then the handshake completes", () =>
      Effect.gen(function*() {
        const server = yield* SslContext.make(serverOptions)
        const client = yield* SslContext.make(clientOptions)
        const gate = yield* Deferred.make<void>()
        let calls = 0
        const started = Date.now()
        const running = yield* Effect.fork(exchange(client, server, { hostName: "localhost" }, {
          clientHello: () =>
            Effect.gen(function*() {
              calls++
              yield* Effect.sleep("50 millis")
              yield* Deferred.await(gate)
              return true
            })
        }))
        yield* Effect.sleep("200 millis")
        // The work started and the handshake is waiting for it.
        assert.strictEqual(calls, 1)
        assert.isTrue(Option.isNone(yield* Fiber.poll(running)))
        yield* Deferred.succeed(gate, undefined)
        const info = yield* Fiber.join(running)
        assert.isAtLeast(Date.now() - started, 200)
        assert.strictEqual(info.client.protocol, "TLSv1.3")
        // The callback was re-entered after the retry, but the work ran once.
        assert.strictEqual(calls, 1)
      }))

    it.scoped("a rejected ClientHello does not consult SNI", () =>
      Effect.gen(function*() {
        const server = yield* SslContext.make(serverOptions)
        const client = yield* SslContext.make(clientOptions)
        let sniCalls = 0
        const outcome = yield* Effect.scoped(attempt(client, server, {}, {
          clientHello: () => Effect.succeed(false),
          sni: () => Effect.sync(() => sniCalls++).pipe(Effect.as(Option.none()))
        }))
        tlsError(outcome.server, "Protocol")
        alerted(outcome.client, Alert.handshakeFailure)
        assert.strictEqual(sniCalls, 0)
      }))

    it.scoped("work that outlives the handshake timeout is interrupted when the connection goes", () =>
      Effect.gen(function*() {
        const server = yield* SslContext.make(serverOptions)
        const client = yield* SslContext.make(clientOptions)
        const frees = yield* recordFrees
        let started = false
        let interrupted = false
        const outcome = yield* Effect.scoped(attempt(client, server, { handshakeTimeout: "1 second" }, {
          handshakeTimeout: "200 millis",
          clientHello: () =>
            Effect.sync(() => {
              started = true
            }).pipe(
              Effect.zipRight(Effect.never),
              Effect.onInterrupt(() =>
                Effect.sync(() => {
                  interrupted = true
                })
              )
            )
        }))
        assert.strictEqual(tlsError(outcome.server, "Timeout").operation, "handshake")
        assert.isTrue(Either.isLeft(outcome.client))
        assert.isTrue(started)
        assert.isTrue(interrupted)
        yield* assertSslsFreed(frees, 2)
      }))
  })

  describe("SNI", () => {
    it.scoped("plain answers (not Effects) decide in the handshake step itself: it never pauses for them", () =>
      Effect.gen(function*() {
        const pki = yield* TestPki.make()
        const otherCert = yield* TestPki.server(pki.ca, { hostNames: ["other.test"] })
        const server = yield* SslContext.make(serverOptions)
        const other = yield* SslContext.make({ role: "server", certificate: otherCert })
        const client = yield* SslContext.make({ role: "client", trust: { certificates: pki.trust } })
        const c = yield* TlsEngine.make(yield* Ssl.make(client, { hostName: "other.test" }), { role: "client" })
        const s = yield* TlsEngine.make(yield* Ssl.make(server), {
          role: "server",
          clientHello: (hello) => hello.serverName === "other.test",
          sni: (name) => name === "other.test" ? Option.some(other) : Option.none()
        })
        const steps: Array<string> = []
        const wire = new Uint8Array(65536)
        const move = (from: TlsEngine.TlsEngine, to: TlsEngine.TlsEngine) =>
          Effect.flatMap(from.takeOutputInto(wire), (n) => n === 0 ? Effect.void : to.feed(wire.subarray(0, n)))
        for (let i = 0; i < 6; i++) {
          steps.push(yield* c.handshakeStep)
          yield* move(c, s)
          steps.push(yield* s.handshakeStep)
          yield* move(s, c)
        }
        assert.notInclude(steps, "want-client-hello")
        assert.strictEqual((yield* c.info).peerChain[0]!.subject, "CN=other.test")
      }))

    for (const version of versions) {
      it.scoped(`${version}: a context per name, with its own certificate; None keeps the default`, () =>
        Effect.gen(function*() {
          const pki = yield* TestPki.make()
          const otherCert = yield* TestPki.server(pki.ca, { hostNames: ["other.test"] })
          const server = yield* SslContext.make({ ...serverOptions, maxProtocol: version })
          const other = yield* SslContext.make({ role: "server", certificate: otherCert, maxProtocol: version })
          const client = yield* SslContext.make({
            role: "client",
            trust: { certificates: [fixture("ca.pem"), pki.trust] }
          })
          const names: Array<string | undefined> = []
          const sni = (name: string | undefined) =>
            Effect.sync(() => {
              names.push(name)
              return name === "other.test" ? Option.some(other) : Option.none()
            })
          const chosen = yield* exchange(client, server, { hostName: "other.test" }, { sni })
          assert.strictEqual(chosen.client.peerChain[0]!.subject, "CN=other.test")
          assert.deepStrictEqual(chosen.client.peerChain[0]!.subjectAltNames, ["DNS:other.test"])
          assert.strictEqual(chosen.server.serverName, "other.test")
          assert.strictEqual(chosen.client.protocol, version)

          const kept = yield* exchange(client, server, { hostName: "localhost" }, { sni })
          assert.strictEqual(kept.client.peerChain[0]!.subject, "CN=localhost")
          assert.deepStrictEqual(kept.client.peerChain[0]!.subjectAltNames, ["DNS:localhost", "IP Address:127.0.0.1"])
          assert.deepStrictEqual(names, ["other.test", "localhost"])
        }))
    }

    it.scoped("choosing a context that was already released fails closed with a typed error", () =>
      Effect.gen(function*() {
        const server = yield* SslContext.make(serverOptions)
        const client = yield* SslContext.make(clientOptions)
        const gone = yield* Effect.scoped(SslContext.make(serverOptions))
        const outcome = yield* Effect.scoped(
          attempt(client, server, {}, { sni: () => Effect.succeed(Option.some(gone)) })
        )
        const error = tlsError(outcome.server, "Callback")
        assert.strictEqual((error.cause as SslError)._tag, "ReleasedHandleError")
        assert.isTrue(Either.isLeft(outcome.client))
        // The default context still serves.
        yield* exchange(client, server)
      }))
  })

  describe("ALPN selection", () => {
    it.scoped("the chosen protocol is seen by both; the callback sees the offers in the client's order", () =>
      Effect.gen(function*() {
        const server = yield* SslContext.make(serverOptions)
        const client = yield* SslContext.make({ ...clientOptions, alpnProtocols: ["h2", "http/1.1", "x-custom"] })
        const offers: Array<ReadonlyArray<string>> = []
        const info = yield* exchange(client, server, { hostName: "localhost" }, {
          alpnSelect: (offered) => {
            offers.push(offered)
            return offered[offered.length - 1]
          }
        })
        assert.deepStrictEqual(offers, [["h2", "http/1.1", "x-custom"]])
        assert.strictEqual(info.client.alpnProtocol, "x-custom")
        assert.strictEqual(info.server.alpnProtocol, "x-custom")
      }))

    it.scoped("a multi-byte name is passed back with its length in bytes", () =>
      Effect.gen(function*() {
        const server = yield* SslContext.make(serverOptions)
        const client = yield* SslContext.make({ ...clientOptions, alpnProtocols: ["a", "héllo-✓", "b"] })
        const info = yield* exchange(client, server, { hostName: "localhost" }, { alpnSelect: () => "héllo-✓" })
        assert.strictEqual(info.client.alpnProtocol, "héllo-✓")
        assert.strictEqual(info.server.alpnProtocol, "héllo-✓")
      }))

    it.scoped("no protocol in common is refused with no_application_protocol (120), as RFC 7301 §3.2 requires", () =>
      Effect.gen(function*() {
        const server = yield* SslContext.make({ ...serverOptions, alpnProtocols: ["h2"] })
        const client = yield* SslContext.make({ ...clientOptions, alpnProtocols: ["http/1.1"] })
        const byDefault = yield* Effect.scoped(attempt(client, server))
        tlsError(byDefault.server, "Protocol")
        alerted(byDefault.client, Alert.noApplicationProtocol)
        const declined = yield* Effect.scoped(attempt(client, server, {}, { alpnSelect: () => undefined }))
        alerted(declined.client, Alert.noApplicationProtocol)
      }))

    it.scoped("alpnMismatch: \"continue\" goes on without ALPN on either side", () =>
      Effect.gen(function*() {
        const server = yield* SslContext.make({ ...serverOptions, alpnProtocols: ["h2"] })
        const client = yield* SslContext.make({ ...clientOptions, alpnProtocols: ["http/1.1"] })
        const info = yield* exchange(client, server, { hostName: "localhost" }, { alpnMismatch: "continue" })
        assert.strictEqual(info.client.alpnProtocol, undefined)
        assert.strictEqual(info.server.alpnProtocol, undefined)
        const declined = yield* exchange(client, server, { hostName: "localhost" }, {
          alpnSelect: () => undefined,
          alpnMismatch: "continue"
        })
        assert.strictEqual(declined.server.alpnProtocol, undefined)
      }))

    it.scoped("a client that offers nothing never reaches the callback", () =>
      Effect.gen(function*() {
        const server = yield* SslContext.make(serverOptions)
        const client = yield* SslContext.make(clientOptions)
        const info = yield* exchange(client, server, { hostName: "localhost" }, { alpnSelect: throwBoom })
        assert.strictEqual(info.server.alpnProtocol, undefined)
      }))
  })

  describe("new-session callback", () => {
    it.scoped("TLSv1.3: tickets arrive after the handshake, are processed as they come, one per NewSessionTicket", () =>
      Effect.gen(function*() {
        const server = yield* SslContext.make({ ...serverOptions, maxProtocol: "TLSv1.3" })
        const client = yield* SslContext.make(clientOptions)
        const [c, s] = yield* connectedPair(client, server)
        // Tickets come after the handshake and are processed as they arrive, whether or not the
        // client reads: waiting for them needs no read.
        const session = yield* c.awaitSession("2 seconds")
        assert.isTrue(Option.isSome(session))
        // OpenSSL sends two tickets by default, in one flight: one read processes both.
        assert.strictEqual(c.engine.sessionsSeen, 2)
        assert.isTrue(yield* SslSession.isResumable(Option.getOrThrow(session)))
        // The server's callback saw the sessions it issued.
        assert.strictEqual(s.engine.sessionsSeen, 2)
        // Application data after the tickets is still read in order, and brings no new session.
        yield* s.write(bytes("after the tickets"))
        assert.strictEqual(text(Option.getOrThrow(yield* c.read)), "after the tickets")
        assert.strictEqual(c.engine.sessionsSeen, 2)
      }))

    it.scoped("TLSv1.2: the session is there as soon as the handshake is done", () =>
      Effect.gen(function*() {
        const server = yield* SslContext.make({ ...serverOptions, maxProtocol: "TLSv1.2" })
        const client = yield* SslContext.make(clientOptions)
        const [c] = yield* connectedPair(client, server)
        assert.strictEqual(c.engine.sessionsSeen, 1)
        const session = yield* c.session
        assert.isTrue(yield* SslSession.isResumable(Option.getOrThrow(session)))
        // awaitSession does not wait for another one.
        assert.isTrue(Option.isSome(yield* c.awaitSession("2 seconds")))
        assert.strictEqual(c.engine.sessionsSeen, 1)
      }))
  })
})
