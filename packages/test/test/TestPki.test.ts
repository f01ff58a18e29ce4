import type { OpenSsl } from "@effect-openssl/core/OpenSsl"
import * as Ssl from "@effect-openssl/core/Ssl"
import * as SslContext from "@effect-openssl/core/SslContext"
import type { SslError } from "@effect-openssl/core/SslError"
import * as NodeOpenSsl from "@effect-openssl/node/NodeOpenSsl"
import * as NodeContext from "@effect/platform-node/NodeContext"
import { assert, describe, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Scope from "effect/Scope"
import { spawn, spawnSync } from "node:child_process"
import { createPrivateKey, X509Certificate } from "node:crypto"
import { existsSync, readFileSync, statSync } from "node:fs"
import * as tls from "node:tls"
import { handshakePair } from "../../node/test/util.js"
import * as TestPki from "../src/TestPki.js"

const keyTypes: ReadonlyArray<TestPki.KeyType> = ["P-256", "Ed25519", "RSA-2048"]
const serverAuth = "1.3.6.1.5.5.7.3.1"
const clientAuth = "1.3.6.1.5.5.7.3.2"

/** The real `openssl verify` over files, trusting only `ca` (never the system store). */
const opensslVerify = (
  files: { readonly ca: string; readonly untrusted?: string; readonly leaf: string },
  args: ReadonlyArray<string> = []
): { readonly ok: boolean; readonly output: string } => {
  const untrusted = files.untrusted === undefined ? [] : ["-untrusted", files.untrusted]
  const result = spawnSync(
    "openssl",
    ["verify", "-x509_strict", "-no-CApath", "-no-CAstore", "-CAfile", files.ca, ...untrusted, ...args, files.leaf],
    { encoding: "utf8" }
  )
  return { ok: result.status === 0, output: result.stdout + result.stderr }
}

/** `openssl verify` over PEM texts, through temporary files. */
const verifyPem = (
  pem: { readonly ca: string; readonly untrusted?: string; readonly leaf: string },
  args: ReadonlyArray<string> = []
) =>
  Effect.scoped(
    Effect.map(
      TestPki.writeFiles({ ca: pem.ca, untrusted: pem.untrusted ?? pem.ca, leaf: pem.leaf }),
      ({ paths }) =>
        opensslVerify({ ca: paths.ca, leaf: paths.leaf, ...(pem.untrusted === undefined ? {} : paths) }, args)
    )
  )

/** A full handshake between contexts built from the PKI: the server requires a client certificate. */
const mutualHandshake = (
  server: TestPki.Issued,
  client: TestPki.Issued,
  trust: { readonly server: string; readonly client: string }
): Effect.Effect<number, SslError, OpenSsl | Scope.Scope> =>
  Effect.gen(function*() {
    const serverContext = yield* SslContext.make({
      role: "server",
      certificate: server,
      trust: { certificates: trust.server },
      verify: { mode: "require" }
    })
    const clientContext = yield* SslContext.make({
      role: "client",
      certificate: client,
      trust: { certificates: trust.client }
    })
    return yield* handshakePair(
      yield* Ssl.make(clientContext, { hostName: "localhost" }),
      yield* Ssl.make(serverContext)
    )
  })

/** `openssl s_server` on an ephemeral port, stopped when the scope closes. */
const opensslServer = (args: ReadonlyArray<string>) =>
  Effect.acquireRelease(
    Effect.async<{ readonly port: number; readonly kill: () => void }, Error>((resume) => {
      const child = spawn("openssl", ["s_server", "-accept", "127.0.0.1:0", "-naccept", "1", ...args])
      let output = ""
      child.stdout.on("data", (chunk) => {
        output += chunk
        const accept = /ACCEPT [^\n]*:(\d+)/.exec(output)
        if (accept !== null) resume(Effect.succeed({ port: Number(accept[1]), kill: () => child.kill() }))
      })
      child.stderr.on("data", (chunk) => (output += chunk))
      child.on("exit", () => resume(Effect.fail(new Error(`s_server exited: ${output}`))))
    }),
    (server) => Effect.sync(server.kill)
  )

/** A node:tls client: resolves with the verified peer's subject CN, fails on any TLS error. */
const nodeTlsConnect = (options: tls.ConnectionOptions) =>
  Effect.async<string | undefined, Error>((resume) => {
    const socket = tls.connect(options, () => {
      const cn = socket.getPeerCertificate().subject?.CN
      socket.end()
      resume(Effect.succeed(Array.isArray(cn) ? cn[0] : cn))
    })
    socket.on("error", (error) => resume(Effect.fail(error)))
    return Effect.sync(() => socket.destroy())
  })

layer(Layer.merge(NodeOpenSsl.layer, NodeContext.layer))("TestPki", (it) => {
  describe("make", () => {
    it.effect("root → intermediate → server and client, with chains, SANs, usages and validity", () =>
      Effect.gen(function*() {
        const before = Date.now()
        const pki = yield* TestPki.make()
        const ca = new X509Certificate(pki.ca.certificate)
        const intermediate = new X509Certificate(pki.intermediate.certificate)
        const server = new X509Certificate(pki.server.certificate)
        const client = new X509Certificate(pki.client.certificate)

        assert.strictEqual(pki.trust, pki.ca.certificate)
        assert.strictEqual(ca.subject, "CN=effect-openssl test root CA")
        assert.strictEqual(ca.issuer, ca.subject)
        assert.isTrue(ca.ca)
        assert.isTrue(intermediate.ca)
        assert.isTrue(intermediate.checkIssued(ca))
        assert.isTrue(intermediate.verify(ca.publicKey))
        assert.isTrue(server.checkIssued(intermediate))
        assert.isTrue(server.verify(intermediate.publicKey))
        assert.isTrue(client.checkIssued(intermediate))
        assert.isTrue(client.verify(intermediate.publicKey))
        assert.isFalse(server.verify(ca.publicKey))

        assert.strictEqual(server.subject, "CN=localhost")
        assert.strictEqual(server.checkHost("localhost"), "localhost")
        assert.strictEqual(server.checkIP("127.0.0.1"), "127.0.0.1")
        assert.strictEqual(server.checkIP("::1"), "::1")
        assert.deepStrictEqual(server.keyUsage, [serverAuth])
        assert.strictEqual(client.subject, "CN=client")
        assert.isUndefined(client.subjectAltName)
        assert.deepStrictEqual(client.keyUsage, [clientAuth])

        // "valid": from an hour ago to 30 days on (whole seconds).
        const from = new Date(server.validFrom).getTime()
        const to = new Date(server.validTo).getTime()
        assert.isAtMost(Math.abs(from - (before - 3_600_000)), 5_000)
        assert.isAtMost(Math.abs(to - (before + 30 * 86_400_000)), 5_000)

        assert.strictEqual(pki.ca.chain, pki.ca.certificate)
        assert.strictEqual(pki.intermediate.chain, pki.intermediate.certificate)
        assert.strictEqual(pki.server.chain, pki.server.certificate + pki.intermediate.certificate)
        assert.strictEqual(pki.client.chain, pki.client.certificate + pki.intermediate.certificate)
        for (const issued of [pki.ca, pki.intermediate, pki.server, pki.client]) {
          assert.strictEqual(issued.root, pki.ca.certificate)
          assert.strictEqual(issued.keyType, "P-256")
          assert.isTrue(
            new X509Certificate(issued.certificate).checkPrivateKey(createPrivateKey(Redacted.value(issued.key)))
          )
        }
        assert.isTrue(pki.ca.selfSigned)
        assert.isFalse(pki.server.selfSigned)
      }))

    it.effect.each(keyTypes)(
      "%s: openssl verify accepts the server and client chains for their purposes",
      (keyType) =>
        Effect.gen(function*() {
          const pki = yield* TestPki.make({ keyType })
          for (const issued of [pki.ca, pki.intermediate, pki.server, pki.client]) {
            assert.strictEqual(issued.keyType, keyType)
            const expected = keyType === "P-256" ? "ec" : keyType === "Ed25519" ? "ed25519" : "rsa"
            assert.strictEqual(new X509Certificate(issued.certificate).publicKey.asymmetricKeyType, expected)
          }
          const server = yield* verifyPem(
            { ca: pki.trust, untrusted: pki.intermediate.certificate, leaf: pki.server.certificate },
            ["-purpose", "sslserver", "-verify_hostname", "localhost"]
          )
          assert.isTrue(server.ok, server.output)
          const client = yield* verifyPem(
            { ca: pki.trust, untrusted: pki.intermediate.certificate, leaf: pki.client.certificate },
            ["-purpose", "sslclient"]
          )
          assert.isTrue(client.ok, client.output)
          // The client certificate is not for servers.
          const misused = yield* verifyPem(
            { ca: pki.trust, untrusted: pki.intermediate.certificate, leaf: pki.client.certificate },
            ["-purpose", "sslserver"]
          )
          assert.isFalse(misused.ok)
          assert.match(misused.output, /unsuitable certificate purpose/)
        })
    )

    it.scoped.each(keyTypes)(
      "%s: a TLS handshake with the server and client certificates",
      (keyType) =>
        Effect.gen(function*() {
          const pki = yield* TestPki.make({ keyType })
          const flights = yield* mutualHandshake(pki.server, pki.client, { server: pki.trust, client: pki.trust })
          assert.isAtLeast(flights, 2)
        })
    )

    it.effect("per-certificate overrides: key types, names, serial numbers, path length", () =>
      Effect.gen(function*() {
        const pki = yield* TestPki.make({
          keyType: "Ed25519",
          ca: { commonName: "My Root", organization: "Acme", serialNumber: 7n },
          intermediate: { keyType: undefined },
          server: { keyType: "RSA-2048", hostNames: ["api.test", "10.0.0.1"] },
          client: { commonName: "alice", keyType: "P-256" }
        })
        assert.strictEqual(pki.ca.keyType, "Ed25519")
        assert.strictEqual(pki.intermediate.keyType, "Ed25519")
        assert.strictEqual(pki.server.keyType, "RSA-2048")
        assert.strictEqual(pki.client.keyType, "P-256")
        const ca = new X509Certificate(pki.ca.certificate)
        assert.strictEqual(ca.subject, "O=Acme\nCN=My Root")
        assert.strictEqual(ca.serialNumber, "07")
        const server = new X509Certificate(pki.server.certificate)
        assert.strictEqual(server.subject, "CN=api.test")
        assert.strictEqual(server.subjectAltName, "DNS:api.test, IP Address:10.0.0.1")
        assert.strictEqual(new X509Certificate(pki.client.certificate).subject, "CN=alice")

        // The intermediate's path length 0: a CA under it is not a valid issuer.
        // (A distinct name: a CA issued under its own name is "self-issued" and not counted.)
        const nested = yield* TestPki.intermediateCa(pki.intermediate, { commonName: "Nested CA" })
        const leaf = yield* TestPki.server(nested)
        const result = yield* verifyPem({
          ca: pki.trust,
          untrusted: nested.chain,
          leaf: leaf.certificate
        })
        assert.isFalse(result.ok)
        assert.match(result.output, /path length constraint exceeded/)
      }))
  })

  describe("validity", () => {
    it.effect("an expired server certificate: openssl verify says so, and the client rejects the handshake", () =>
      Effect.gen(function*() {
        const pki = yield* TestPki.make({ server: { validity: "expired" } })
        const server = new X509Certificate(pki.server.certificate)
        assert.isBelow(new Date(server.validTo).getTime(), Date.now())
        const result = yield* verifyPem({
          ca: pki.trust,
          untrusted: pki.intermediate.certificate,
          leaf: pki.server.certificate
        })
        assert.isFalse(result.ok)
        assert.match(result.output, /certificate has expired/)

        const exit = yield* Effect.exit(
          Effect.scoped(mutualHandshake(pki.server, pki.client, { server: pki.trust, client: pki.trust }))
        )
        assert.isTrue(Exit.isFailure(exit))
      }))

    it.effect("a certificate not yet valid, and explicit dates", () =>
      Effect.gen(function*() {
        const pki = yield* TestPki.make({ client: { validity: "notYetValid" } })
        assert.isAbove(new Date(new X509Certificate(pki.client.certificate).validFrom).getTime(), Date.now())
        const result = yield* verifyPem({
          ca: pki.trust,
          untrusted: pki.intermediate.certificate,
          leaf: pki.client.certificate
        })
        assert.isFalse(result.ok)
        assert.match(result.output, /certificate is not yet valid/)

        const notBefore = new Date("2020-01-01T00:00:00Z")
        const notAfter = new Date("2060-06-30T12:00:00Z")
        const explicit = yield* TestPki.rootCa({ validity: { notBefore, notAfter } })
        const cert = new X509Certificate(explicit.certificate)
        assert.strictEqual(new Date(cert.validFrom).toISOString(), notBefore.toISOString())
        assert.strictEqual(new Date(cert.validTo).toISOString(), notAfter.toISOString())
      }))

    it.effect("an expired intermediate fails the chain above a valid leaf", () =>
      Effect.gen(function*() {
        const pki = yield* TestPki.make({ intermediate: { validity: "expired" } })
        const result = yield* verifyPem({
          ca: pki.trust,
          untrusted: pki.intermediate.certificate,
          leaf: pki.server.certificate
        })
        assert.isFalse(result.ok)
        assert.match(result.output, /error 10 at 1 depth lookup: certificate has expired/)
      }))
  })

  describe("host names", () => {
    it.scoped("a wrong host name: the SAN does not match localhost, the chain is otherwise sound", () =>
      Effect.gen(function*() {
        const pki = yield* TestPki.make({ server: { hostNames: [TestPki.wrongHostName] } })
        const server = new X509Certificate(pki.server.certificate)
        assert.strictEqual(server.subjectAltName, `DNS:${TestPki.wrongHostName}`)
        assert.isUndefined(server.checkHost("localhost"))
        assert.isUndefined(server.checkIP("127.0.0.1"))
        const pem = { ca: pki.trust, untrusted: pki.intermediate.certificate, leaf: pki.server.certificate }
        const mismatch = yield* verifyPem(pem, ["-verify_hostname", "localhost"])
        assert.isFalse(mismatch.ok)
        assert.match(mismatch.output, /hostname mismatch/)
        assert.isTrue((yield* verifyPem(pem)).ok)
      }))
  })

  describe("selfSigned", () => {
    it.scoped.each(keyTypes)(
      "%s: rejected unless trusted itself; trusted, a handshake completes",
      (keyType) =>
        Effect.gen(function*() {
          const self = yield* TestPki.selfSigned({ keyType })
          const cert = new X509Certificate(self.certificate)
          assert.strictEqual(cert.issuer, cert.subject)
          assert.isFalse(cert.ca)
          assert.isTrue(cert.verify(cert.publicKey))
          assert.isTrue(self.selfSigned)
          assert.strictEqual(self.chain, self.certificate)
          assert.strictEqual(self.root, self.certificate)

          const other = yield* TestPki.rootCa()
          const untrusted = yield* verifyPem({ ca: other.certificate, leaf: self.certificate })
          assert.isFalse(untrusted.ok)
          assert.match(untrusted.output, /self.signed certificate/)
          const trusted = yield* verifyPem({ ca: self.certificate, leaf: self.certificate })
          assert.isTrue(trusted.ok, trusted.output)

          const serverContext = yield* SslContext.make({ role: "server", certificate: self })
          const trusting = yield* SslContext.make({ role: "client", trust: { certificates: self.certificate } })
          yield* handshakePair(yield* Ssl.make(trusting, { hostName: "localhost" }), yield* Ssl.make(serverContext))
          const distrusting = yield* SslContext.make({ role: "client", trust: { certificates: other.certificate } })
          const refused = yield* Effect.exit(
            handshakePair(yield* Ssl.make(distrusting, { hostName: "localhost" }), yield* Ssl.make(serverContext))
          )
          assert.isTrue(Exit.isFailure(refused))
        })
    )
  })

  describe("files", () => {
    it.effect("PEM files in a temporary directory, keys private to the owner, removed when the scope closes", () =>
      Effect.gen(function*() {
        const pki = yield* TestPki.make()
        const scope = yield* Scope.make()
        const files = yield* Scope.extend(TestPki.files(pki), scope)
        assert.strictEqual(readFileSync(files.paths.ca, "utf8"), pki.ca.certificate)
        assert.strictEqual(readFileSync(files.paths.serverChain, "utf8"), pki.server.chain)
        assert.strictEqual(readFileSync(files.paths.serverKey, "utf8"), Redacted.value(pki.server.key))
        assert.strictEqual(readFileSync(files.paths.clientKey, "utf8"), Redacted.value(pki.client.key))
        assert.strictEqual(statSync(files.paths.serverKey).mode & 0o777, 0o600)
        assert.strictEqual(statSync(files.paths.caKey).mode & 0o777, 0o600)
        for (const path of Object.values(files.paths)) assert.isTrue(path.startsWith(files.directory))

        const result = opensslVerify(
          { ca: files.paths.ca, untrusted: files.paths.intermediate, leaf: files.paths.server },
          ["-verify_hostname", "localhost"]
        )
        assert.isTrue(result.ok, result.output)

        yield* Scope.close(scope, Exit.void)
        assert.isFalse(existsSync(files.directory))
      }))

    it.scoped("openssl s_server serves the files; a node:tls client verifies chain and host, with mutual TLS", () =>
      Effect.gen(function*() {
        const pki = yield* TestPki.make()
        const { paths } = yield* TestPki.files(pki)
        const server = yield* opensslServer([
          ...["-cert", paths.server, "-cert_chain", paths.intermediate, "-key", paths.serverKey],
          ...["-Verify", "2", "-CAfile", paths.ca, "-verify_return_error"]
        ])
        const peer = yield* nodeTlsConnect({
          host: "127.0.0.1",
          port: server.port,
          servername: "localhost",
          ca: pki.trust,
          cert: pki.client.chain,
          key: Redacted.value(pki.client.key)
        })
        assert.strictEqual(peer, "localhost")
      }))

    it.scoped("node:tls refuses the wrong host name served by openssl s_server", () =>
      Effect.gen(function*() {
        const pki = yield* TestPki.make({ server: { hostNames: [TestPki.wrongHostName] } })
        const { paths } = yield* TestPki.files(pki)
        const server = yield* opensslServer([
          ...["-cert", paths.server, "-cert_chain", paths.intermediate, "-key", paths.serverKey]
        ])
        const error = yield* Effect.flip(
          nodeTlsConnect({ host: "127.0.0.1", port: server.port, servername: "localhost", ca: pki.trust })
        )
        assert.match(error.message, /Hostname\/IP does not match certificate's altnames/)
      }))

    it.scoped("writeFiles names files after the keys and rejects names that are not plain", () =>
      Effect.gen(function*() {
        const { directory, paths } = yield* TestPki.writeFiles({ note: "text", secret: Redacted.make("key") })
        assert.strictEqual(paths.note, `${directory}/note.pem`)
        assert.strictEqual(statSync(paths.note).mode & 0o777, 0o644)
        assert.strictEqual(statSync(paths.secret).mode & 0o777, 0o600)
        const error = yield* Effect.flip(TestPki.writeFiles({ "../escape": "x" }))
        assert.strictEqual(error._tag, "PkiFileError")
        assert.strictEqual(error.path, "../escape")
      }))
  })

  describe("errors", () => {
    it.effect("bad requests fail with InvalidOptionError from the binding", () =>
      Effect.gen(function*() {
        const ca = yield* TestPki.rootCa()
        const error = yield* Effect.flip(
          TestPki.issue({ commonName: "x", isCa: false, subjectAltNames: ["IP:not-an-address"], issuer: ca })
        )
        assert.strictEqual(error._tag, "InvalidOptionError")
        const dates = yield* Effect.flip(
          TestPki.server(ca, { validity: { notBefore: new Date(2030, 0, 1), notAfter: new Date(2029, 0, 1) } })
        )
        assert.strictEqual(dates._tag, "InvalidOptionError")
      }))
  })
})
