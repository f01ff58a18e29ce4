import type { CertificateRequest, KeyType } from "@effect-openssl/core/OpenSsl"
import * as Ssl from "@effect-openssl/core/Ssl"
import * as SslContext from "@effect-openssl/core/SslContext"
import { InvalidOptionError, OpenSslError } from "@effect-openssl/core/SslError"
import { afterAll, assert, describe, it, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import { spawnSync } from "node:child_process"
import { createPrivateKey, X509Certificate } from "node:crypto"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { ErrorQueue } from "../src/internal/errorQueue.js"
import { load } from "../src/internal/ffi/load.js"
import type { Native } from "../src/internal/ffi/table.js"
import { makePki } from "../src/internal/pki.js"
import { handshakePair, TestOpenSsl } from "./util.js"

const { native } = load({ _tag: "Process" })
const errors = new ErrorQueue(native, native.OpenSSL_version_num())
const pki = makePki(native, errors)

const keyTypes: ReadonlyArray<KeyType> = ["P-256", "Ed25519", "RSA-2048"]
const hour = 3_600_000
const day = 24 * hour
/** Whole seconds: certificates carry no milliseconds. */
const now = Math.floor(Date.now() / 1000) * 1000
const valid = { notBefore: new Date(now - hour), notAfter: new Date(now + day) }

const directory = mkdtempSync(join(tmpdir(), "pki-test-"))
afterAll(() => rmSync(directory, { recursive: true, force: true }))
let fileCount = 0
const file = (pem: string): string => {
  const path = join(directory, `${++fileCount}.pem`)
  writeFileSync(path, pem)
  return path
}

/** The real `openssl verify` command: its verdict line and whether it exited 0. */
const opensslVerify = (
  leaf: string,
  options: { readonly trusted?: string; readonly untrusted?: string; readonly args?: ReadonlyArray<string> }
): { readonly ok: boolean; readonly output: string } => {
  const args = ["verify", "-x509_strict", ...(options.args ?? [])]
  // Never the system store: only what the test names is trusted.
  args.push("-no-CApath", "-no-CAstore")
  args.push(...(options.trusted === undefined ? ["-no-CAfile"] : ["-CAfile", file(options.trusted)]))
  if (options.untrusted !== undefined) args.push("-untrusted", file(options.untrusted))
  args.push(file(leaf))
  const result = spawnSync("openssl", args, { encoding: "utf8" })
  return { ok: result.status === 0, output: result.stdout + result.stderr }
}

interface Chain {
  readonly rootKey: Redacted.Redacted<string>
  readonly root: string
  readonly intermediateKey: Redacted.Redacted<string>
  readonly intermediate: string
  readonly leafKey: Redacted.Redacted<string>
  readonly leaf: string
}

const issueChain = (
  keyType: KeyType,
  leaf?: Partial<Omit<CertificateRequest, "key" | "issuer">>
): Chain => {
  const rootKey = pki.generateKey(keyType)
  const root = pki.issueCertificate({
    subject: { commonName: "Test Root", organization: "effect-openssl" },
    key: rootKey,
    ...valid,
    isCa: true,
    pathLength: 1
  })
  const intermediateKey = pki.generateKey(keyType)
  const intermediate = pki.issueCertificate({
    subject: { commonName: "Test Intermediate" },
    key: intermediateKey,
    ...valid,
    isCa: true,
    pathLength: 0,
    issuer: { certificate: root, key: rootKey }
  })
  const leafKey = pki.generateKey(keyType)
  const leafPem = pki.issueCertificate({
    subject: { commonName: "localhost" },
    key: leafKey,
    subjectAltNames: ["DNS:localhost", "IP:127.0.0.1"],
    ...valid,
    isCa: false,
    extendedKeyUsage: ["serverAuth"],
    issuer: { certificate: intermediate, key: intermediateKey },
    ...leaf
  })
  return { rootKey, root, intermediateKey, intermediate, leafKey, leaf: leafPem }
}

const chains = new Map(keyTypes.map((type) => [type, issueChain(type)]))
const chainOf = (type: KeyType) => chains.get(type)!

const rejection = (f: () => unknown): InvalidOptionError => {
  try {
    f()
  } catch (e) {
    assert.instanceOf(e, InvalidOptionError)
    return e
  }
  assert.fail("expected an InvalidOptionError")
}

describe("pkiGenerateKey", () => {
  it("P-256, Ed25519 and RSA-2048 keys as PKCS#8 PEM", () => {
    const p256 = createPrivateKey(Redacted.value(pki.generateKey("P-256")))
    assert.strictEqual(p256.asymmetricKeyType, "ec")
    assert.strictEqual(p256.asymmetricKeyDetails?.namedCurve, "prime256v1")
    const ed25519 = createPrivateKey(Redacted.value(pki.generateKey("Ed25519")))
    assert.strictEqual(ed25519.asymmetricKeyType, "ed25519")
    const rsa = createPrivateKey(Redacted.value(pki.generateKey("RSA-2048")))
    assert.strictEqual(rsa.asymmetricKeyType, "rsa")
    assert.strictEqual(rsa.asymmetricKeyDetails?.modulusLength, 2048)
    for (const type of keyTypes) {
      const pem = Redacted.value(pki.generateKey(type))
      assert.match(pem, /^-----BEGIN PRIVATE KEY-----\n[\s\S]+\n-----END PRIVATE KEY-----\n$/)
    }
  })

  it("fresh keys each time", () => {
    assert.notStrictEqual(Redacted.value(pki.generateKey("P-256")), Redacted.value(pki.generateKey("P-256")))
  })

  it("an unknown key type is an InvalidOptionError", () => {
    const error = rejection(() => pki.generateKey("DSA-1024" as KeyType))
    assert.strictEqual(error.option, "keyType")
  })
})

describe("pkiIssueCertificate", () => {
  describe.each(keyTypes)("%s", (type) => {
    it("node:crypto parses the chain: names, SANs, validity, CA flags, signatures", () => {
      const chain = chainOf(type)
      const root = new X509Certificate(chain.root)
      const intermediate = new X509Certificate(chain.intermediate)
      const leaf = new X509Certificate(chain.leaf)

      assert.strictEqual(root.subject, "O=effect-openssl\nCN=Test Root")
      assert.strictEqual(root.issuer, root.subject)
      assert.strictEqual(intermediate.issuer, root.subject)
      assert.strictEqual(leaf.subject, "CN=localhost")
      assert.strictEqual(leaf.issuer, "CN=Test Intermediate")
      assert.strictEqual(leaf.subjectAltName, "DNS:localhost, IP Address:127.0.0.1")
      assert.strictEqual(root.subjectAltName, undefined)
      assert.strictEqual(new Date(leaf.validFrom).getTime(), valid.notBefore.getTime())
      assert.strictEqual(new Date(leaf.validTo).getTime(), valid.notAfter.getTime())
      assert.isTrue(root.ca)
      assert.isTrue(intermediate.ca)
      assert.isFalse(leaf.ca)
      assert.deepStrictEqual(leaf.keyUsage, ["1.3.6.1.5.5.7.3.1"])

      assert.isTrue(root.checkIssued(root))
      assert.isTrue(intermediate.checkIssued(root))
      assert.isTrue(leaf.checkIssued(intermediate))
      assert.isFalse(leaf.checkIssued(root))
      assert.isTrue(root.verify(root.publicKey))
      assert.isTrue(intermediate.verify(root.publicKey))
      assert.isTrue(leaf.verify(intermediate.publicKey))
      assert.isFalse(leaf.verify(root.publicKey))
      assert.isTrue(leaf.checkPrivateKey(createPrivateKey(Redacted.value(chain.leafKey))))
      assert.strictEqual(leaf.checkHost("localhost"), "localhost")
      assert.strictEqual(leaf.checkIP("127.0.0.1"), "127.0.0.1")
    })

    it("openssl verify accepts the chain through the intermediate, strictly and for the host name", () => {
      const chain = chainOf(type)
      const result = opensslVerify(chain.leaf, {
        trusted: chain.root,
        untrusted: chain.intermediate,
        args: ["-verify_hostname", "localhost", "-purpose", "sslserver"]
      })
      assert.isTrue(result.ok, result.output)
      assert.match(result.output, /: OK/)
      // Without the intermediate there is no path to the root.
      const broken = opensslVerify(chain.leaf, { trusted: chain.root })
      assert.isFalse(broken.ok)
      assert.match(broken.output, /unable to get local issuer certificate/)
    })

    it("the extensions: key ids link each certificate to its issuer; key usage fits the key", () => {
      const chain = chainOf(type)
      const text = (pem: string) =>
        spawnSync("openssl", ["x509", "-noout", "-text", "-in", file(pem)], { encoding: "utf8" }).stdout
      const keyIds = (pem: string) => {
        const t = text(pem)
        return {
          subject: /Subject Key Identifier:\s*\n\s*([0-9A-F:]+)/.exec(t)?.[1],
          authority: /Authority Key Identifier:\s*\n\s*(?:keyid:)?([0-9A-F:]+)/.exec(t)?.[1]
        }
      }
      const root = keyIds(chain.root)
      const intermediate = keyIds(chain.intermediate)
      const leaf = keyIds(chain.leaf)
      assert.isDefined(root.subject)
      assert.strictEqual(root.authority, root.subject)
      assert.strictEqual(intermediate.authority, root.subject)
      assert.strictEqual(leaf.authority, intermediate.subject)
      assert.notStrictEqual(leaf.subject, intermediate.subject)

      assert.match(text(chain.root), /Basic Constraints: critical\s*\n\s*CA:TRUE, pathlen:1/)
      assert.match(text(chain.intermediate), /Basic Constraints: critical\s*\n\s*CA:TRUE, pathlen:0/)
      assert.match(text(chain.root), /Key Usage: critical\s*\n\s*Digital Signature, Certificate Sign, CRL Sign/)
      const leafUsage = type === "RSA-2048" ? "Digital Signature, Key Encipherment" : "Digital Signature"
      assert.match(text(chain.leaf), new RegExp(`Key Usage: critical\\s*\\n\\s*${leafUsage}\\n`))
      assert.match(text(chain.leaf), /Basic Constraints: critical\s*\n\s*CA:FALSE/)
    })
  })

  it("expired and not yet valid certificates: openssl verify says so", () => {
    const { intermediate, root } = chainOf("P-256")
    const expired = issueChain("P-256", {
      notBefore: new Date(now - 10 * day),
      notAfter: new Date(now - day)
    })
    const expiredResult = opensslVerify(expired.leaf, { trusted: expired.root, untrusted: expired.intermediate })
    assert.isFalse(expiredResult.ok)
    assert.match(expiredResult.output, /certificate has expired/)

    const future = issueChain("P-256", { notBefore: new Date(now + day), notAfter: new Date(now + 10 * day) })
    const futureResult = opensslVerify(future.leaf, { trusted: future.root, untrusted: future.intermediate })
    assert.isFalse(futureResult.ok)
    assert.match(futureResult.output, /certificate is not yet valid/)

    // Dates after 2049 need GeneralizedTime; node:crypto and openssl read them back.
    const far = issueChain("P-256", { notAfter: new Date("2080-01-01T00:00:00Z") })
    assert.strictEqual(new Date(new X509Certificate(far.leaf).validTo).toISOString(), "2080-01-01T00:00:00.000Z")
    assert.isTrue(opensslVerify(far.leaf, { trusted: far.root, untrusted: far.intermediate }).ok)
    // The shared chain is untouched by these.
    assert.isTrue(opensslVerify(chainOf("P-256").leaf, { trusted: root, untrusted: intermediate }).ok)
  })

  it("a self-signed certificate: untrusted, openssl verify rejects it; trusted, it verifies", () => {
    for (const type of keyTypes) {
      const key = pki.generateKey(type)
      const pem = pki.issueCertificate({
        subject: { commonName: "localhost" },
        key,
        subjectAltNames: ["DNS:localhost"],
        ...valid,
        isCa: false
      })
      const cert = new X509Certificate(pem)
      assert.strictEqual(cert.issuer, cert.subject)
      assert.isTrue(cert.verify(cert.publicKey))
      const untrusted = opensslVerify(pem, {})
      assert.isFalse(untrusted.ok)
      assert.match(untrusted.output, /self.signed certificate/)
      const trusted = opensslVerify(pem, { trusted: pem })
      assert.isTrue(trusted.ok, trusted.output)
    }
  })

  it("a wrong host name: the SAN does not match localhost", () => {
    const { intermediate, intermediateKey, root } = chainOf("P-256")
    const pem = pki.issueCertificate({
      subject: { commonName: "wrong.example" },
      key: pki.generateKey("P-256"),
      subjectAltNames: ["DNS:wrong.example"],
      ...valid,
      isCa: false,
      issuer: { certificate: intermediate, key: intermediateKey }
    })
    const cert = new X509Certificate(pem)
    assert.strictEqual(cert.subjectAltName, "DNS:wrong.example")
    assert.isUndefined(cert.checkHost("localhost"))
    const result = opensslVerify(pem, {
      trusted: root,
      untrusted: intermediate,
      args: ["-verify_hostname", "localhost"]
    })
    assert.isFalse(result.ok)
    assert.match(result.output, /hostname mismatch/)
    assert.isTrue(opensslVerify(pem, { trusted: root, untrusted: intermediate }).ok)
  })

  it("the serial number and the extended key usage as requested; random serials otherwise", () => {
    const { intermediate, intermediateKey } = chainOf("P-256")
    const issue = (serialNumber?: bigint) =>
      new X509Certificate(pki.issueCertificate({
        subject: { commonName: "client" },
        key: pki.generateKey("P-256"),
        ...valid,
        isCa: false,
        extendedKeyUsage: ["clientAuth", "serverAuth"],
        issuer: { certificate: intermediate, key: intermediateKey },
        serialNumber
      }))
    const big = (1n << 158n) + 0xabcn
    assert.strictEqual(BigInt(`0x${issue(big).serialNumber}`), big)
    assert.strictEqual(BigInt(`0x${issue(0x1234n).serialNumber}`), 0x1234n)
    const random = issue()
    assert.notStrictEqual(random.serialNumber, issue().serialNumber)
    assert.strictEqual(random.serialNumber.length, 32)
    assert.sameMembers(random.keyUsage!, ["1.3.6.1.5.5.7.3.2", "1.3.6.1.5.5.7.3.1"])
  })

  describe("bad requests", () => {
    const { intermediate, intermediateKey, root, rootKey } = chainOf("P-256")
    const base: CertificateRequest = {
      subject: { commonName: "localhost" },
      key: pki.generateKey("P-256"),
      ...valid,
      isCa: false,
      issuer: { certificate: intermediate, key: intermediateKey }
    }

    it("are InvalidOptionErrors naming the option, with OpenSSL's reason when it rejected the value", () => {
      const cases: ReadonlyArray<[Partial<CertificateRequest>, string, boolean]> = [
        [{ notAfter: new Date(now - 2 * hour) }, "notAfter", false],
        [{ notBefore: new Date(NaN) }, "notBefore", false],
        [{ issuer: { certificate: "not a certificate", key: intermediateKey } }, "issuer.certificate", true],
        [{ issuer: { certificate: intermediate, key: Redacted.make("garbage") } }, "issuer.key", true],
        [{ issuer: { certificate: intermediate, key: rootKey } }, "issuer.key", true],
        [{ key: Redacted.make("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n") }, "key", true],
        [{ subjectAltNames: ["localhost"] }, "subjectAltNames[0]", false],
        [{ subjectAltNames: ["DNS:a", "DNS:b,IP:1.2.3.4"] }, "subjectAltNames[1]", false],
        [{ subjectAltNames: ["IP:999.0.0.1"] }, "subjectAltNames", true],
        [{ subject: { commonName: "x".repeat(65) } }, "subject.commonName", true],
        [{ pathLength: 1 }, "pathLength", false],
        [{ isCa: true, pathLength: -1 }, "pathLength", false],
        [{ serialNumber: 0n }, "serialNumber", false],
        [{ serialNumber: 1n << 159n }, "serialNumber", false],
        [{ extendedKeyUsage: ["codeSigning" as "serverAuth"] }, "extendedKeyUsage[0]", false]
      ]
      cases.forEach(([override, option, fromOpenSsl], i) => {
        const error = rejection(() => pki.issueCertificate({ ...base, ...override }))
        assert.strictEqual(error.option, option, `case ${i}`)
        if (fromOpenSsl) {
          assert.instanceOf(error.cause, OpenSslError, option)
          assert.isNotEmpty(error.cause!.entries, option)
        } else {
          assert.isUndefined(error.cause, option)
        }
        assert.strictEqual(native.ERR_get_error(), 0, `${option}: the error queue is left empty`)
      })
      // The base request itself is fine.
      assert.isTrue(opensslVerify(pki.issueCertificate(base), { trusted: root, untrusted: intermediate }).ok)
    })
  })

  describe("native memory", () => {
    /**
     * The binding over a native table that records every object allocated and every free:
     * each allocation must be freed exactly once, on success and on failure.
     */
    const tracked = (overrides: Partial<Record<keyof Native, (...args: Array<any>) => unknown>> = {}) => {
      const live = new Map<bigint, string>()
      const problems: Array<string> = []
      const allocated = (name: string) => (pointer: unknown) => {
        if (typeof pointer === "bigint") live.set(pointer, name)
        return pointer
      }
      const freed = (pointer: unknown) => {
        if (typeof pointer !== "bigint" || !live.delete(pointer)) problems.push(`free of an unknown pointer`)
      }
      const allocators = [
        "BIO_new",
        "PEM_read_bio_X509",
        "PEM_read_bio_PrivateKey",
        "EVP_PKEY_CTX_new_id",
        "BN_bin2bn",
        "BN_to_ASN1_INTEGER",
        "X509_new",
        "X509V3_EXT_nconf_nid"
      ]
      const frees = [
        "BIO_free",
        "X509_free",
        "EVP_PKEY_free",
        "EVP_PKEY_CTX_free",
        "BN_free",
        "ASN1_INTEGER_free",
        "X509_EXTENSION_free"
      ]
      const proxy = new Proxy(native, {
        get: (target, name: string) => {
          const original = (target as Record<string, unknown>)[name]
          const override = (overrides as Record<string, unknown>)[name]
          if (override !== undefined) return override
          if (typeof original !== "function") return original
          if (allocators.includes(name)) return (...args: Array<unknown>) => allocated(name)(original(...args))
          if (frees.includes(name)) {
            return (pointer: unknown) => {
              freed(pointer)
              return original(pointer)
            }
          }
          if (name === "EVP_PKEY_keygen") {
            return (ctx: bigint, out: Array<bigint | null>) => {
              const result = original(ctx, out)
              allocated(name)(out[0])
              return result
            }
          }
          return original
        }
      })
      return { pki: makePki(proxy, new ErrorQueue(proxy, proxy.OpenSSL_version_num())), live, problems }
    }

    it("everything allocated is freed once, on success and on every failure", () => {
      const { intermediate, intermediateKey, rootKey } = chainOf("P-256")
      const t = tracked()
      for (const type of keyTypes) {
        const key = t.pki.generateKey(type)
        t.pki.issueCertificate({
          subject: { commonName: "localhost" },
          key,
          subjectAltNames: ["DNS:localhost"],
          ...valid,
          isCa: false,
          issuer: { certificate: intermediate, key: intermediateKey }
        })
        t.pki.issueCertificate({ subject: { commonName: "self" }, key, ...valid, isCa: true })
      }
      const key = t.pki.generateKey("P-256")
      const failing: ReadonlyArray<Partial<CertificateRequest>> = [
        { issuer: { certificate: intermediate, key: rootKey } },
        { issuer: { certificate: "junk", key: intermediateKey } },
        { subjectAltNames: ["IP:999.0.0.1"] },
        { subject: { commonName: "x".repeat(65) } }
      ]
      for (const override of failing) {
        rejection(() =>
          t.pki.issueCertificate({
            subject: { commonName: "localhost" },
            key,
            ...valid,
            isCa: false,
            issuer: { certificate: intermediate, key: intermediateKey },
            ...override
          })
        )
      }
      assert.deepStrictEqual(t.problems, [])
      assert.deepStrictEqual([...t.live.values()], [])
    })

    it("a failure at the last step (signing) frees everything and reports the native error", () => {
      const { intermediate, intermediateKey } = chainOf("P-256")
      const t = tracked({ X509_sign: () => 0 })
      try {
        t.pki.issueCertificate({
          subject: { commonName: "localhost" },
          key: t.pki.generateKey("Ed25519"),
          ...valid,
          isCa: false,
          issuer: { certificate: intermediate, key: intermediateKey }
        })
        assert.fail("expected X509_sign to fail")
      } catch (e) {
        assert.instanceOf(e, OpenSslError)
        assert.strictEqual(e.operation, "X509_sign")
      }
      assert.deepStrictEqual(t.problems, [])
      assert.deepStrictEqual([...t.live.values()], [])
    })
  })
})

layer(TestOpenSsl)("issued certificates in TLS", (it) => {
  it.scoped.each(keyTypes)(
    "%s: a handshake over memory BIOs, with client certificates",
    (type) =>
      Effect.gen(function*() {
        const chain = chainOf(type)
        const clientKey = pki.generateKey(type)
        const clientCert = pki.issueCertificate({
          subject: { commonName: "client" },
          key: clientKey,
          ...valid,
          isCa: false,
          extendedKeyUsage: ["clientAuth"],
          issuer: { certificate: chain.intermediate, key: chain.intermediateKey }
        })
        const server = yield* SslContext.make({
          role: "server",
          certificate: { chain: chain.leaf + chain.intermediate, key: chain.leafKey },
          trust: { certificates: chain.root },
          verify: { mode: "require" }
        })
        const client = yield* SslContext.make({
          role: "client",
          certificate: { chain: clientCert + chain.intermediate, key: clientKey },
          trust: { certificates: chain.root }
        })
        const flights = yield* handshakePair(
          yield* Ssl.make(client, { hostName: "localhost" }),
          yield* Ssl.make(server)
        )
        assert.isAtLeast(flights, 2)
      })
  )

  it.scoped("the client rejects a chain from another root, and an expired certificate", () =>
    Effect.gen(function*() {
      const chain = chainOf("P-256")
      const handshake = (certificate: { chain: string; key: Redacted.Redacted<string> }, trusted: string) =>
        Effect.gen(function*() {
          const server = yield* SslContext.make({ role: "server", certificate })
          const client = yield* SslContext.make({ role: "client", trust: { certificates: trusted } })
          return yield* handshakePair(yield* Ssl.make(client, { hostName: "localhost" }), yield* Ssl.make(server))
        })
      const good = { chain: chain.leaf + chain.intermediate, key: chain.leafKey }
      yield* handshake(good, chain.root)
      const otherRoot = chainOf("Ed25519").root
      const foreign = yield* Effect.flip(handshake(good, otherRoot))
      assert.match(foreign.message, /certificate verify failed|unable to get local issuer certificate/)

      const expired = issueChain("P-256", { notBefore: new Date(now - 10 * day), notAfter: new Date(now - day) })
      const error = yield* Effect.flip(
        handshake({ chain: expired.leaf + expired.intermediate, key: expired.leafKey }, expired.root)
      )
      assert.match(error.message, /certificate verify failed|certificate has expired/)
    }))
})
