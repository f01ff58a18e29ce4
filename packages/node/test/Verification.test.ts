/**
 * Certificate verification against real peers: each bad certificate fails with a `VerifyError`
 * carrying the X509 code and depth OpenSSL reports, and the peer is told why by an alert. Our
 * client against node:tls and `openssl s_server`; our server checking node:tls clients'
 * certificates.
 */
import * as SslContext from "@effect-openssl/core/SslContext"
import type { VerifyError } from "@effect-openssl/core/SslError"
import { assert, describe, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as TestPki from "../../test/src/TestPki.js"
import {
  acceptOn,
  bytes,
  connectTo,
  listen,
  LiveOpenSsl,
  nodeTlsConnect,
  nodeTlsServer,
  readBytes,
  sServer,
  text
} from "./peers.js"
import { alertCode } from "./util.js"

/** What a server presents and what the client trusts. */
interface Setup {
  readonly chain: string
  readonly key: Redacted.Redacted<string>
  readonly trust: string
}

interface Case {
  readonly name: string
  readonly setup: Effect.Effect<Setup, unknown, any>
  /** X509_V_ERR_* and the depth OpenSSL reports it at. */
  readonly code: number
  readonly depth: number
  readonly subject: string
  /** The alert our client sends, as node:tls names it. */
  readonly alert: string
}

// The subject as the verify callback sees it (X509_NAME_oneline).
const intermediateSubject = "/CN=effect-openssl test intermediate CA"

const cases: ReadonlyArray<Case> = [
  {
    name: "a certificate for another host",
    setup: Effect.map(
      TestPki.make({ server: { hostNames: [TestPki.wrongHostName] } }),
      (pki) => ({ ...pki.server, trust: pki.trust })
    ),
    code: 62, // X509_V_ERR_HOSTNAME_MISMATCH
    depth: 0,
    subject: `/CN=${TestPki.wrongHostName}`,
    alert: "ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE"
  },
  {
    name: "a chain from a CA we do not trust",
    setup: Effect.gen(function*() {
      const pki = yield* TestPki.make()
      const stranger = yield* TestPki.rootCa({ commonName: "a root nobody here trusts" })
      return { ...pki.server, trust: stranger.certificate }
    }),
    // The server sends leaf + intermediate; the intermediate's issuer is nowhere to be found.
    code: 20, // X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY
    depth: 1,
    subject: intermediateSubject,
    alert: "ERR_SSL_TLSV1_ALERT_UNKNOWN_CA"
  },
  {
    name: "a chain that carries its own untrusted root",
    setup: Effect.gen(function*() {
      const pki = yield* TestPki.make()
      const stranger = yield* TestPki.rootCa({ commonName: "a root nobody here trusts" })
      return { chain: pki.server.chain + pki.ca.certificate, key: pki.server.key, trust: stranger.certificate }
    }),
    code: 19, // X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN
    depth: 2,
    subject: "/CN=effect-openssl test root CA",
    alert: "ERR_SSL_TLSV1_ALERT_UNKNOWN_CA"
  },
  {
    name: "a self-signed certificate",
    setup: Effect.gen(function*() {
      const pki = yield* TestPki.make()
      const self = yield* TestPki.selfSigned()
      return { ...self, trust: pki.trust }
    }),
    code: 18, // X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT
    depth: 0,
    subject: "/CN=localhost",
    alert: "ERR_SSL_TLSV1_ALERT_UNKNOWN_CA"
  },
  {
    name: "an expired certificate",
    setup: Effect.map(
      TestPki.make({ server: { validity: "expired" } }),
      (pki) => ({ ...pki.server, trust: pki.trust })
    ),
    code: 10, // X509_V_ERR_CERT_HAS_EXPIRED
    depth: 0,
    subject: "/CN=localhost",
    alert: "ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED"
  },
  {
    name: "a certificate not yet valid",
    setup: Effect.map(
      TestPki.make({ server: { validity: "notYetValid" } }),
      (pki) => ({ ...pki.server, trust: pki.trust })
    ),
    code: 9, // X509_V_ERR_CERT_NOT_YET_VALID
    depth: 0,
    subject: "/CN=localhost",
    alert: "ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE"
  },
  {
    name: "an expired intermediate",
    setup: Effect.map(
      TestPki.make({ intermediate: { validity: "expired" } }),
      (pki) => ({ ...pki.server, trust: pki.trust })
    ),
    code: 10,
    depth: 1,
    subject: intermediateSubject,
    alert: "ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED"
  }
]

const assertVerifyError = (error: { readonly _tag: string }, expected: Pick<Case, "code" | "depth" | "subject">) => {
  assert.strictEqual(error._tag, "VerifyError", String(error))
  const verify = error as VerifyError
  assert.deepStrictEqual(
    { code: verify.code, depth: verify.depth, subject: verify.subject },
    { code: expected.code, depth: expected.depth, subject: expected.subject }
  )
  // OpenSSL's own wording travels with the code.
  assert.match(verify.message, new RegExp(`X509 code ${expected.code}`))
}

layer(LiveOpenSsl, { excludeTestServices: true })("Verification", (it) => {
  describe("our client against a node:tls server", () => {
    for (const c of cases) {
      it.scoped(`${c.name}: VerifyError ${c.code} at depth ${c.depth}, and the server hears the alert`, () =>
        Effect.gen(function*() {
          const setup = yield* c.setup
          const server = yield* nodeTlsServer({ cert: setup.chain, key: Redacted.value(setup.key) })
          const context = yield* SslContext.make({ role: "client", trust: { certificates: setup.trust } })
          const error = yield* Effect.flip(connectTo(server.port, context))
          assertVerifyError(error, c)
          const heard = yield* server.failed
          assert.strictEqual(alertCode((heard as NodeJS.ErrnoException).code), c.alert)
        }))
    }

    it.scoped("verifyHost: false skips the name check only; the chain is still verified", () =>
      Effect.gen(function*() {
        const wrongHost = yield* cases[0]!.setup
        const server = yield* nodeTlsServer({ cert: wrongHost.chain, key: Redacted.value(wrongHost.key) })
        const context = yield* SslContext.make({ role: "client", trust: { certificates: wrongHost.trust } })
        const conn = yield* connectTo(server.port, context, { hostName: "localhost", verifyHost: false })
        yield* conn.write(bytes("through"))
        assert.strictEqual(text(yield* readBytes(conn, 7)), "through")

        const untrusted = yield* cases[1]!.setup
        const other = yield* nodeTlsServer({ cert: untrusted.chain, key: Redacted.value(untrusted.key) })
        const strict = yield* SslContext.make({ role: "client", trust: { certificates: untrusted.trust } })
        const error = yield* Effect.flip(connectTo(other.port, strict, { hostName: "localhost", verifyHost: false }))
        assertVerifyError(error, cases[1]!)
      }))

    it.scoped("an IP address is checked against the certificate's IP entries (no SNI is sent for it)", () =>
      Effect.gen(function*() {
        const pki = yield* TestPki.make()
        const server = yield* nodeTlsServer({ cert: pki.server.chain, key: Redacted.value(pki.server.key) })
        const context = yield* SslContext.make({ role: "client", trust: { certificates: pki.trust } })
        const conn = yield* connectTo(server.port, context, { hostName: "127.0.0.1" })
        const peer = yield* server.secured
        assert.isFalse((peer as unknown as { servername: string | false }).servername !== false)
        assert.isUndefined((yield* conn.info).serverName)
        const error = yield* Effect.flip(connectTo(server.port, context, { hostName: "127.0.0.2" }))
        assertVerifyError(error, { code: 64, depth: 0, subject: "/CN=localhost" }) // X509_V_ERR_IP_ADDRESS_MISMATCH
      }))

    it.scoped("a client that does not verify accepts any certificate; a verifying one must name the host", () =>
      Effect.gen(function*() {
        const expired = yield* cases[4]!.setup
        const server = yield* nodeTlsServer({ cert: expired.chain, key: Redacted.value(expired.key) })
        const trusting = yield* SslContext.make({ role: "client", verify: { mode: "none" } })
        const conn = yield* connectTo(server.port, trusting, {})
        assert.strictEqual((yield* conn.info).peerChain[0]!.subject, "CN=localhost")

        const verifying = yield* SslContext.make({ role: "client", trust: { certificates: expired.trust } })
        const error = yield* Effect.flip(connectTo(server.port, verifying, {}))
        assert.strictEqual(error._tag === "InvalidOptionError" && error.option, "hostName")
      }))
  })

  describe("our client against openssl s_server", () => {
    for (const c of [cases[0]!, cases[1]!, cases[4]!]) {
      it.scoped(`${c.name}: VerifyError ${c.code} at depth ${c.depth}`, () =>
        Effect.gen(function*() {
          const setup = yield* c.setup
          const files = yield* TestPki.writeFiles({ chain: setup.chain, key: setup.key })
          // -cert_chain sends the rest of the chain file after the leaf.
          const server = yield* sServer([
            "-rev",
            "-cert",
            files.paths.chain,
            "-cert_chain",
            files.paths.chain,
            "-key",
            files.paths.key
          ])
          const context = yield* SslContext.make({ role: "client", trust: { certificates: setup.trust } })
          const error = yield* Effect.flip(connectTo(server.port, context))
          assertVerifyError(error, c)
          // s_server reports the alert our client sent.
          yield* server.waitFor(/alert/)
        }))
    }
  })

  describe("our server checking node:tls clients' certificates", () => {
    const serverWith = (pki: TestPki.Pki) =>
      SslContext.make({
        role: "server",
        certificate: pki.server,
        verify: { mode: "require" },
        trust: { certificates: pki.trust }
      })

    const clientCases: ReadonlyArray<{
      readonly name: string
      readonly client: (pki: TestPki.Pki) => Effect.Effect<TestPki.Issued, unknown, any>
      readonly code: number
      readonly depth: number
      readonly subject: string
    }> = [
      {
        name: "an expired client certificate",
        client: (pki) => TestPki.client(pki.intermediate, { validity: "expired" }),
        code: 10,
        depth: 0,
        subject: "/CN=client"
      },
      {
        name: "a client certificate from a CA we do not trust",
        client: () => Effect.flatMap(TestPki.make(), (other) => Effect.succeed(other.client)),
        code: 20,
        depth: 1,
        subject: intermediateSubject
      },
      {
        name: "a server certificate used as a client certificate",
        client: (pki) => Effect.succeed(pki.server),
        code: 26, // X509_V_ERR_INVALID_PURPOSE: no clientAuth extended key usage
        depth: 0,
        subject: "/CN=localhost"
      }
    ]

    for (const c of clientCases) {
      it.scoped(`${c.name}: VerifyError ${c.code} at depth ${c.depth}`, () =>
        Effect.gen(function*() {
          const pki = yield* TestPki.make()
          const context = yield* serverWith(pki)
          const listener = yield* listen
          const presented = yield* c.client(pki)
          const [error] = yield* Effect.all([
            Effect.flip(acceptOn(listener, context)),
            Effect.either(nodeTlsConnect(listener.port, {
              servername: "localhost",
              ca: pki.trust,
              cert: presented.chain,
              key: Redacted.value(presented.key)
            }))
          ], { concurrency: 2 })
          assertVerifyError(error, c)
        }))
    }
  })
})
