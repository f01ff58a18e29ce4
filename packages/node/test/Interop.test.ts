/**
 * Interop with real peers over loopback TCP, both directions, TLS 1.2 and 1.3: our client against
 * a node:tls server and `openssl s_server`, and a node:tls client and `openssl s_client` against
 * our server. Each direction covers the handshake and data, ALPN, SNI, client certificates and
 * resumption.
 */
import * as SslContext from "@effect-openssl/core/SslContext"
import * as SslSession from "@effect-openssl/core/SslSession"
import type * as TlsConnection from "@effect-openssl/core/TlsConnection"
import { assert, describe, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Scope from "effect/Scope"
import type * as tls from "node:tls"
import {
  acceptOn,
  bytes,
  connectTo,
  interopPki,
  listen,
  LiveOpenSsl,
  nodeTlsConnect,
  nodeTlsServer,
  otherHost,
  readBytes,
  readLine,
  sClient,
  serverIdentity,
  sServer,
  text
} from "./peers.js"
import { alertCode, alertsHeard, TlsAlert } from "./util.js"

const versions = ["TLSv1.2", "TLSv1.3"] as const

type Version = typeof versions[number]
const opensslFlag = (version: Version) => version === "TLSv1.2" ? "-tls1_2" : "-tls1_3"
const reverse = (s: string) => [...s].reverse().join("")

/** Run `effect` in a scope of its own, closed before going on (so the connection sends close_notify). */
const inOwnScope = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const exit = yield* Effect.exit(Scope.extend(effect, scope))
    yield* Scope.close(scope, Exit.void)
    return yield* exit
  })

// Real sockets and child processes need the live clock; node:tls peers rule out free observation.
layer(LiveOpenSsl, { excludeTestServices: true })("Interop", (it) => {
  describe("our client ↔ node:tls server", () => {
    for (const version of versions) {
      it.scoped(`${version}: handshake, data both ways, ALPN by the server's order, SNI sent`, () =>
        Effect.gen(function*() {
          const pki = yield* interopPki
          const server = yield* nodeTlsServer({
            cert: pki.server.chain,
            key: Redacted.value(pki.server.key),
            minVersion: version,
            maxVersion: version,
            ALPNProtocols: ["h2", "http/1.1"]
          })
          const context = yield* SslContext.make({
            role: "client",
            trust: { certificates: pki.trust },
            alpnProtocols: ["http/1.1", "h2"]
          })
          const conn = yield* connectTo(server.port, context)
          const peer = yield* server.secured
          const payload = new Uint8Array(100_000).map((_, i) => (i * 7) % 256)
          yield* conn.write(payload)
          assert.deepStrictEqual(yield* readBytes(conn, payload.length), payload)
          const info = yield* conn.info
          assert.strictEqual(info.protocol, version)
          assert.strictEqual(peer.getProtocol(), version)
          assert.strictEqual(info.alpnProtocol, "h2")
          assert.strictEqual(peer.alpnProtocol, "h2")
          assert.strictEqual((peer as unknown as { servername: string }).servername, "localhost")
          // The chain the server sent: leaf then intermediate, exactly the certificates it was given.
          assert.deepStrictEqual(info.peerChain.map((c) => c.subject), [
            "CN=localhost",
            "CN=effect-openssl test intermediate CA"
          ])
          assert.strictEqual(
            info.peerChain[0]!.fingerprint256,
            (peer.getCertificate() as tls.PeerCertificate).fingerprint256
          )
          // close_notify both ways: node:tls answers ours.
          yield* conn.close
        }))

      it.scoped(`${version}: a client certificate is required and presented; without one we are refused`, () =>
        Effect.gen(function*() {
          const pki = yield* interopPki
          const server = yield* nodeTlsServer({
            cert: pki.server.chain,
            key: Redacted.value(pki.server.key),
            minVersion: version,
            maxVersion: version,
            requestCert: true,
            rejectUnauthorized: true,
            ca: pki.trust
          })
          const withCert = yield* SslContext.make({
            role: "client",
            trust: { certificates: pki.trust },
            certificate: pki.client
          })
          const conn = yield* connectTo(server.port, withCert)
          const peer = yield* server.secured
          assert.isTrue(peer.authorized)
          assert.strictEqual(peer.getPeerCertificate().subject.CN, "client")
          yield* conn.write(bytes("ping"))
          assert.strictEqual(text(yield* readBytes(conn, 4)), "ping")

          const without = yield* SslContext.make({ role: "client", trust: { certificates: pki.trust } })
          const refused = yield* Effect.flip(
            Effect.flatMap(connectTo(server.port, without), (c) => Effect.zipRight(c.write(bytes("x")), c.read))
          )
          assert.strictEqual(refused._tag, "TlsError")
          if (refused._tag !== "TlsError") return
          assert.strictEqual(refused.reason, "Protocol")
          // TLS 1.3 has its own alert for this (RFC 8446 §4.4.2.4); TLS 1.2 says handshake failure.
          assert.include(
            alertsHeard(refused.entries),
            version === "TLSv1.3" ? TlsAlert.certificateRequired : TlsAlert.handshakeFailure
          )
        }))

      it.scoped(`${version}: resumption on a fresh handle; node:tls sees the session reused`, () =>
        Effect.gen(function*() {
          const pki = yield* interopPki
          const server = yield* nodeTlsServer({
            cert: pki.server.chain,
            key: Redacted.value(pki.server.key),
            minVersion: version,
            maxVersion: version
          })
          const context = yield* SslContext.make({ role: "client", trust: { certificates: pki.trust } })
          // The session outlives the first connection's scope: it is kept in the test's.
          const outer = yield* Effect.scope
          const session = yield* inOwnScope(Effect.gen(function*() {
            const conn = yield* connectTo(server.port, context)
            const first = yield* server.secured
            assert.isFalse(first.isSessionReused())
            assert.isFalse((yield* conn.info).sessionReused)
            return Option.getOrThrow(yield* Scope.extend(conn.awaitSession("5 seconds"), outer))
          }))
          assert.isTrue(yield* SslSession.isResumable(session))
          const again = yield* connectTo(server.port, context, { hostName: "localhost", session })
          const second = yield* server.secured
          assert.isTrue((yield* again.info).sessionReused)
          assert.isTrue(second.isSessionReused())
        }))
    }
  })

  describe("node:tls client ↔ our server (accepted on a net.Server socket)", () => {
    for (const version of versions) {
      it.scoped(`${version}: handshake, data both ways, ALPN by our order, SNI chooses the certificate`, () =>
        Effect.gen(function*() {
          const pki = yield* interopPki
          const listener = yield* listen
          const context = yield* SslContext.make({
            role: "server",
            certificate: pki.server,
            minProtocol: version,
            maxProtocol: version,
            alpnProtocols: ["h2", "http/1.1"]
          })
          const other = yield* SslContext.make({
            role: "server",
            certificate: pki.other,
            minProtocol: version,
            maxProtocol: version,
            alpnProtocols: ["h2", "http/1.1"]
          })
          const seen: Array<string | undefined> = []
          const options: TlsConnection.AcceptOptions = {
            sni: (name) =>
              Effect.sync(() => {
                seen.push(name)
                return name === otherHost ? Option.some(other) : Option.none()
              })
          }
          for (const host of ["localhost", otherHost]) {
            const [conn, client] = yield* Effect.all([
              acceptOn(listener, context, options),
              nodeTlsConnect(listener.port, {
                servername: host,
                ca: pki.trust,
                ALPNProtocols: ["http/1.1", "h2"],
                minVersion: version,
                maxVersion: version
              })
            ], { concurrency: 2 })
            // node:tls verified the chain and the host name against the certificate we chose.
            assert.isTrue(client.socket.authorized)
            assert.strictEqual(client.socket.getPeerCertificate().subject.CN, host)
            assert.strictEqual(client.socket.alpnProtocol, "h2")
            assert.strictEqual(client.socket.getProtocol(), version)
            const info = yield* conn.info
            assert.strictEqual(info.serverName, host)
            assert.strictEqual(info.alpnProtocol, "h2")
            assert.strictEqual(info.protocol, version)
            client.socket.write(`hello ${host}\n`)
            const line = yield* readLine(conn)
            assert.strictEqual(line, `hello ${host}`)
            yield* conn.write(bytes(`${reverse(line)}\n`))
            yield* client.waitFor(new RegExp(`${reverse(line)}\n`))
          }
          assert.deepStrictEqual(seen, ["localhost", otherHost])
        }))

      it.scoped(`${version}: we require a client certificate; a client without one is refused with a typed error`, () =>
        Effect.gen(function*() {
          const pki = yield* interopPki
          const listener = yield* listen
          const context = yield* SslContext.make({
            role: "server",
            certificate: pki.server,
            minProtocol: version,
            maxProtocol: version,
            verify: { mode: "require" },
            trust: { certificates: pki.trust }
          })
          const [conn, client] = yield* Effect.all([
            acceptOn(listener, context),
            nodeTlsConnect(listener.port, {
              servername: "localhost",
              ca: pki.trust,
              cert: pki.client.chain,
              key: Redacted.value(pki.client.key)
            })
          ], { concurrency: 2 })
          assert.isTrue(client.socket.authorized)
          const info = yield* conn.info
          assert.deepStrictEqual(info.peerChain.map((c) => c.subject), [
            "CN=client",
            "CN=effect-openssl test intermediate CA"
          ])

          const [refused, refusedClient] = yield* Effect.all([
            Effect.flip(acceptOn(listener, context)),
            // TLS 1.3 client certificates are checked after the client's Finished: node:tls may finish its side.
            Effect.either(nodeTlsConnect(listener.port, { servername: "localhost", ca: pki.trust }))
          ], { concurrency: 2 })
          assert.strictEqual(refused._tag, "TlsError")
          if (refused._tag !== "TlsError") return
          assert.strictEqual(refused.reason, "Protocol")
          assert.include((refused.entries ?? []).map((e) => e.reasonText), "peer did not return a certificate")
          // The client hears why from our alert at once, while our side of the socket is still open.
          const clientError = refusedClient._tag === "Left" ? refusedClient.left : yield* refusedClient.right.failed
          assert.strictEqual(
            alertCode((clientError as NodeJS.ErrnoException).code),
            version === "TLSv1.3"
              ? "ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED"
              : "ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE"
          )
        }))

      it.scoped(`${version}: a node:tls session resumes with our server`, () =>
        Effect.gen(function*() {
          const pki = yield* interopPki
          const listener = yield* listen
          const context = yield* SslContext.make({
            role: "server",
            certificate: pki.server,
            minProtocol: version,
            maxProtocol: version
          })
          const session = yield* inOwnScope(Effect.gen(function*() {
            const [conn, client] = yield* Effect.all([
              acceptOn(listener, context),
              nodeTlsConnect(listener.port, { servername: "localhost", ca: pki.trust })
            ], { concurrency: 2 })
            // TLS 1.3 tickets come after the handshake, before our first application data.
            yield* conn.write(bytes("ready\n"))
            yield* client.waitFor(/ready/)
            assert.isFalse((yield* conn.info).sessionReused)
            assert.isAbove(client.sessions.length, 0)
            return client.sessions.at(-1)!
          }))
          const [conn, client] = yield* Effect.all([
            acceptOn(listener, context),
            nodeTlsConnect(listener.port, { servername: "localhost", ca: pki.trust, session })
          ], { concurrency: 2 })
          assert.isTrue((yield* conn.info).sessionReused)
          assert.isTrue(client.socket.isSessionReused())
        }))
    }
  })

  describe("our client ↔ openssl s_server", () => {
    for (const version of versions) {
      it.scoped(`${version}: handshake, lines reversed by s_server, ALPN, SNI picks s_server's second certificate`, () =>
        Effect.gen(function*() {
          const pki = yield* interopPki
          const server = yield* sServer([
            opensslFlag(version),
            "-rev",
            ...serverIdentity(pki.paths),
            "-servername",
            otherHost,
            "-cert2",
            pki.paths.other,
            "-key2",
            pki.paths.otherKey,
            "-alpn",
            "h2,http/1.1"
          ])
          const context = yield* SslContext.make({
            role: "client",
            trust: { certificates: pki.trust },
            alpnProtocols: ["http/1.1", "h2"]
          })
          for (const host of ["localhost", otherHost]) {
            yield* inOwnScope(Effect.gen(function*() {
              const conn = yield* connectTo(server.port, context, { hostName: host })
              const info = yield* conn.info
              assert.strictEqual(info.protocol, version)
              // s_server installs its ALPN callback on its first context only, not on the -cert2 one.
              assert.strictEqual(info.alpnProtocol, host === "localhost" ? "h2" : undefined)
              assert.strictEqual(info.serverName, host)
              assert.strictEqual(info.peerChain[0]!.subject, `CN=${host}`)
              yield* conn.write(bytes("hello s_server\n"))
              assert.strictEqual(yield* readLine(conn), reverse("hello s_server"))
            }))
          }
        }))

      it.scoped(`${version}: s_server requires a client certificate: presented, and refused without one`, () =>
        Effect.gen(function*() {
          const pki = yield* interopPki
          const server = yield* sServer([
            opensslFlag(version),
            "-rev",
            ...serverIdentity(pki.paths),
            "-Verify",
            "2",
            "-CAfile",
            pki.paths.ca
          ])
          const withCert = yield* SslContext.make({
            role: "client",
            trust: { certificates: pki.trust },
            certificate: pki.client
          })
          yield* inOwnScope(Effect.gen(function*() {
            const conn = yield* connectTo(server.port, withCert)
            yield* conn.write(bytes("with a certificate\n"))
            assert.strictEqual(yield* readLine(conn), reverse("with a certificate"))
          }))
          yield* server.waitFor(/depth=0 CN = client/)

          const without = yield* SslContext.make({ role: "client", trust: { certificates: pki.trust } })
          const refused = yield* Effect.flip(inOwnScope(Effect.gen(function*() {
            const conn = yield* connectTo(server.port, without)
            yield* conn.write(bytes("no certificate\n"))
            return yield* readLine(conn)
          })))
          assert.strictEqual(refused._tag, "TlsError")
          if (refused._tag !== "TlsError") return
          assert.strictEqual(refused.reason, "Protocol")
          assert.include(
            alertsHeard(refused.entries),
            version === "TLSv1.3" ? TlsAlert.certificateRequired : TlsAlert.handshakeFailure
          )
        }))

      it.scoped(`${version}: resumption with s_server, and through bytes into another context`, () =>
        Effect.gen(function*() {
          const pki = yield* interopPki
          const server = yield* sServer([
            opensslFlag(version),
            "-rev",
            ...serverIdentity(pki.paths)
          ])
          const options: SslContext.Options = { role: "client", trust: { certificates: pki.trust } }
          const context = yield* SslContext.make(options)
          // The session outlives the first connection's scope: it is kept in the test's.
          const outer = yield* Effect.scope
          const session = yield* inOwnScope(Effect.gen(function*() {
            const conn = yield* connectTo(server.port, context)
            assert.isFalse((yield* conn.info).sessionReused)
            return Option.getOrThrow(yield* Scope.extend(conn.awaitSession("5 seconds"), outer))
          }))
          yield* inOwnScope(Effect.gen(function*() {
            const conn = yield* connectTo(server.port, context, { hostName: "localhost", session })
            assert.isTrue((yield* conn.info).sessionReused)
            yield* conn.write(bytes("resumed\n"))
            assert.strictEqual(yield* readLine(conn), reverse("resumed"))
          }))

          // The session is pinned to its context: offered on a handle of another one, it is refused.
          const elsewhere = yield* SslContext.make(options)
          // (Its own scope: s_server serves one connection at a time, and this TCP connection must close.)
          const pinned = yield* Effect.flip(
            inOwnScope(connectTo(server.port, elsewhere, { hostName: "localhost", session }))
          )
          assert.strictEqual(pinned._tag, "InvalidOptionError")
          assert.strictEqual(pinned._tag === "InvalidOptionError" && pinned.option, "session")

          // Serialized and read back for the other context (as another process would), it resumes there.
          const moved = yield* SslSession.fromBytes(elsewhere, yield* SslSession.toBytes(session))
          assert.isTrue(yield* SslSession.isResumable(moved))
          const conn = yield* connectTo(server.port, elsewhere, { hostName: "localhost", session: moved })
          assert.isTrue((yield* conn.info).sessionReused)
        }))
    }
  })

  describe("openssl s_client ↔ our server", () => {
    for (const version of versions) {
      it.scoped(`${version}: handshake, data both ways, ALPN, SNI, resumption through -sess_out/-sess_in`, () =>
        Effect.gen(function*() {
          const pki = yield* interopPki
          const listener = yield* listen
          const context = yield* SslContext.make({
            role: "server",
            certificate: pki.server,
            alpnProtocols: ["h2", "http/1.1"]
          })
          const other = yield* SslContext.make({ role: "server", certificate: pki.other, alpnProtocols: ["h2"] })
          const sni = (name: string | undefined) =>
            Effect.succeed(name === otherHost ? Option.some(other) : Option.none())
          const session = `${pki.paths.ca}.session`
          const run = (host: string, extra: ReadonlyArray<string>) =>
            inOwnScope(Effect.gen(function*() {
              const client = yield* sClient(listener.port, [
                opensslFlag(version),
                "-servername",
                host,
                "-verify_hostname",
                host,
                "-CAfile",
                pki.paths.ca,
                "-verify_return_error",
                "-alpn",
                "http/1.1,h2",
                ...extra
              ])
              const conn = yield* acceptOn(listener, context, { sni })
              yield* client.write("hello from s_client\n")
              const line = yield* readLine(conn)
              yield* conn.write(bytes(`${reverse(line)}\n`))
              yield* client.waitFor(new RegExp(reverse("hello from s_client")))
              yield* client.endInput
              // s_client closes when its input ends; we answer its close_notify.
              assert.isTrue(Option.isNone(yield* conn.read))
              assert.strictEqual(yield* client.exited, 0)
              return { info: yield* conn.info, output: client.output() }
            }))

          const first = yield* run(otherHost, ["-sess_out", session])
          assert.strictEqual(first.info.serverName, otherHost)
          assert.strictEqual(first.info.protocol, version)
          assert.strictEqual(first.info.alpnProtocol, "h2")
          assert.isFalse(first.info.sessionReused)
          assert.match(first.output, /ALPN protocol: h2/)
          assert.match(first.output, new RegExp(`subject=CN = ${otherHost.replace(".", "\\.")}`))
          assert.match(first.output, /Verify return code: 0 \(ok\)/)
          assert.match(first.output, new RegExp(`New, ${version.replace(".", "\\.")}`))

          const second = yield* run(otherHost, ["-sess_in", session])
          assert.isTrue(second.info.sessionReused)
          assert.match(second.output, new RegExp(`Reused, ${version.replace(".", "\\.")}`))

          const plain = yield* run("localhost", [])
          assert.strictEqual(plain.info.serverName, "localhost")
          assert.match(plain.output, /subject=CN = localhost/)
        }))

      it.scoped(`${version}: s_client presents a client certificate we require`, () =>
        Effect.gen(function*() {
          const pki = yield* interopPki
          const listener = yield* listen
          const context = yield* SslContext.make({
            role: "server",
            certificate: pki.server,
            verify: { mode: "require" },
            trust: { certificates: pki.trust },
            maxProtocol: version
          })
          const client = yield* sClient(listener.port, [
            opensslFlag(version),
            "-servername",
            "localhost",
            "-CAfile",
            pki.paths.ca,
            "-cert",
            pki.paths.client,
            "-cert_chain",
            pki.paths.intermediate,
            "-key",
            pki.paths.clientKey
          ])
          const conn = yield* acceptOn(listener, context)
          assert.strictEqual((yield* conn.info).peerChain[0]!.subject, "CN=client")
          yield* client.write("certified\n")
          assert.strictEqual(yield* readLine(conn), "certified")
          yield* client.endInput
          assert.isTrue(Option.isNone(yield* conn.read))
          assert.strictEqual(yield* client.exited, 0)
        }))
    }
  })
})
