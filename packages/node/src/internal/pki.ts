import type { CertificateRequest, KeyType, Pki } from "@effect-openssl/core/OpenSsl"
import { InvalidOptionError } from "@effect-openssl/core/SslError"
import * as Redacted from "effect/Redacted"
import { randomBytes } from "node:crypto"
import { parseCertificate } from "./certificate.js"
import type { ErrorQueue } from "./errorQueue.js"
import type { Native, Ptr, PtrKind, PtrOrNull } from "./ffi/table.js"
import { cString, withMemoryBio } from "./memory.js"

// evp.h / obj_mac.h (the same in 1.1.1 and 3.x).
const EVP_PKEY_RSA = 6
const EVP_PKEY_EC = 408
const EVP_PKEY_ED25519 = 1087
const EVP_PKEY_ED448 = 1088
const NID_X9_62_prime256v1 = 415
const EVP_PKEY_OP_PARAMGEN = 1 << 1
const EVP_PKEY_OP_KEYGEN = 1 << 2
const EVP_PKEY_CTRL_EC_PARAMGEN_CURVE_NID = 0x1000 + 1
const EVP_PKEY_CTRL_RSA_KEYGEN_BITS = 0x1000 + 3
const MBSTRING_UTF8 = 0x1000
const X509_VERSION_3 = 2

const NID = {
  subjectKeyIdentifier: 82,
  keyUsage: 83,
  subjectAltName: 85,
  basicConstraints: 87,
  authorityKeyIdentifier: 90,
  extendedKeyUsage: 126
} as const

/**
 * `X509V3_CTX` is a plain struct of pointers (56 bytes in 1.1.1, 64 in 3.x): zeroed memory of
 * more than that is a valid one. OpenSSL keeps no pointer to the context itself, so JS memory
 * passed for the duration of each call is enough.
 */
const X509V3_CTX_SIZE = 128

/** How each key type is generated: the `EVP_PKEY` id and the `EVP_PKEY_CTX_ctrl` to apply. */
const keyTypes: Record<KeyType, { readonly id: number; readonly ctrl?: readonly [number, number, number, number] }> = {
  "P-256": {
    id: EVP_PKEY_EC,
    ctrl: [
      EVP_PKEY_EC,
      EVP_PKEY_OP_PARAMGEN | EVP_PKEY_OP_KEYGEN,
      EVP_PKEY_CTRL_EC_PARAMGEN_CURVE_NID,
      NID_X9_62_prime256v1
    ]
  },
  "Ed25519": { id: EVP_PKEY_ED25519 },
  "RSA-2048": { id: EVP_PKEY_RSA, ctrl: [EVP_PKEY_RSA, EVP_PKEY_OP_KEYGEN, EVP_PKEY_CTRL_RSA_KEYGEN_BITS, 2048] }
}

/** Entries allowed in `subjectAltNames`; a comma would split one entry into several. */
const subjectAltName = /^(DNS|IP|email|URI):[^,]+$/

/** The largest serial number RFC 5280 allows: 20 octets, positive. */
const MAX_SERIAL = (1n << 159n) - 1n

const rejected = (option: string, reason: string, cause?: InvalidOptionError["cause"]) =>
  new InvalidOptionError({ option, reason, cause })

/**
 * Native objects to free when an operation ends, newest first, whether it succeeded or threw.
 */
class Owned {
  readonly #frees: Array<() => void> = []

  add<P>(pointer: P, free: (pointer: P) => void): P {
    this.#frees.push(() => free(pointer))
    return pointer
  }

  releaseAll(): void {
    for (let free = this.#frees.pop(); free !== undefined; free = this.#frees.pop()) free()
  }
}

const positive = (n: number) => n > 0

const owning = <A>(f: (owned: Owned) => A): A => {
  const owned = new Owned()
  try {
    return f(owned)
  } finally {
    owned.releaseAll()
  }
}

/** Key generation and certificate issuing through libcrypto. */
export const makePki = (native: Native, errors: ErrorQueue): Pki => {
  const nonNull = <K extends PtrKind>(operation: string, f: () => PtrOrNull<K>): Ptr<K> => errors.cvtPtr(operation, f())
  /** A native call that returns 1 (or a positive count) on success. */
  const succeeds = (operation: string, f: () => number): void => {
    errors.cvt(operation, f(), positive)
  }

  const baseId = (pkey: Ptr<"EVP_PKEY">): number => (native.EVP_PKEY_get_base_id ?? native.EVP_PKEY_base_id!)(pkey)

  /** Everything written to a memory BIO so far, as text. */
  const writtenText = (bio: Ptr<"BIO">, write: () => number, operation: string): string => {
    succeeds(operation, write)
    const bytes = new Uint8Array(Number(native.BIO_ctrl_pending(bio)))
    if (native.BIO_read(bio, bytes, bytes.length) !== bytes.length) throw errors.error("BIO_read")
    try {
      return new TextDecoder().decode(bytes)
    } finally {
      bytes.fill(0)
    }
  }

  const withEmptyBio = <A>(f: (bio: Ptr<"BIO">) => A): A =>
    owning((owned) => f(owned.add(nonNull("BIO_new", () => native.BIO_new(native.BIO_s_mem())), native.BIO_free)))

  const readKey = (owned: Owned, pem: Redacted.Redacted<string>, option: string): Ptr<"EVP_PKEY"> => {
    const bytes = cString(Redacted.value(pem))
    // An empty passphrase, never NULL: with NULL, OpenSSL would prompt on the terminal.
    const passphrase = cString("")
    try {
      return withMemoryBio(native, errors, bytes, (bio) => {
        errors.clear()
        const pkey = native.PEM_read_bio_PrivateKey(bio, null, null, passphrase)
        if (pkey === null) throw rejected(option, "malformed or encrypted PEM private key", errors.error(option))
        return owned.add(pkey, native.EVP_PKEY_free)
      })
    } finally {
      bytes.fill(0)
    }
  }

  const readCertificate = (owned: Owned, pem: string, option: string): Ptr<"X509"> =>
    withMemoryBio(native, errors, cString(pem), (bio) => {
      errors.clear()
      const x509 = native.PEM_read_bio_X509(bio, null, null, null)
      if (x509 === null) throw rejected(option, "malformed PEM certificate", errors.error(option))
      return owned.add(x509, native.X509_free)
    })

  const generateKey = (type: KeyType): Redacted.Redacted<string> =>
    owning((owned) => {
      if (!Object.hasOwn(keyTypes, type)) throw rejected("keyType", `unknown key type ${String(type)}`)
      const spec = keyTypes[type]
      const ctx = owned.add(
        nonNull("EVP_PKEY_CTX_new_id", () => native.EVP_PKEY_CTX_new_id(spec.id, null)),
        native.EVP_PKEY_CTX_free
      )
      succeeds("EVP_PKEY_keygen_init", () => native.EVP_PKEY_keygen_init(ctx))
      if (spec.ctrl !== undefined) {
        const [keyType, operation, cmd, value] = spec.ctrl
        succeeds("EVP_PKEY_CTX_ctrl", () => native.EVP_PKEY_CTX_ctrl(ctx, keyType, operation, cmd, value, null))
      }
      const out: Array<Ptr<"EVP_PKEY"> | null> = [null]
      errors.clear()
      const ok = native.EVP_PKEY_keygen(ctx, out)
      // Owned before the result is checked, so that no path leaks it.
      if (out[0] !== null) owned.add(out[0], native.EVP_PKEY_free)
      if (ok <= 0 || out[0] === null) throw errors.error("EVP_PKEY_keygen")
      const pkey = out[0]
      return Redacted.make(withEmptyBio((bio) =>
        writtenText(
          bio,
          () => native.PEM_write_bio_PKCS8PrivateKey(bio, pkey, null, null, 0, null, null),
          "PEM_write_bio_PKCS8PrivateKey"
        )
      ))
    })

  const issueCertificate = (request: CertificateRequest): string => {
    const plan = validate(request)
    return owning((owned) => {
      const subjectKey = readKey(owned, request.key, "key")
      let issuerCert: Ptr<"X509"> | undefined
      let signingKey = subjectKey
      if (request.issuer !== undefined) {
        issuerCert = readCertificate(owned, request.issuer.certificate, "issuer.certificate")
        signingKey = readKey(owned, request.issuer.key, "issuer.key")
        errors.clear()
        if (native.X509_check_private_key(issuerCert, signingKey) !== 1) {
          throw rejected("issuer.key", "does not match the issuer certificate", errors.error("X509_check_private_key"))
        }
      }

      const x509 = owned.add(nonNull("X509_new", () => native.X509_new()), native.X509_free)
      succeeds("X509_set_version", () => native.X509_set_version(x509, X509_VERSION_3))

      const bn = owned.add(
        nonNull("BN_bin2bn", () => native.BN_bin2bn(plan.serial, plan.serial.length, null)),
        native.BN_free
      )
      const serial = owned.add(
        nonNull("BN_to_ASN1_INTEGER", () => native.BN_to_ASN1_INTEGER(bn, null)),
        native.ASN1_INTEGER_free
      )
      succeeds("X509_set_serialNumber", () => native.X509_set_serialNumber(x509, serial))

      // getm_*: the certificate's own ASN1_TIME fields, set in place.
      const notBefore = nonNull("X509_getm_notBefore", () => native.X509_getm_notBefore(x509))
      nonNull("ASN1_TIME_set", () => native.ASN1_TIME_set(notBefore, plan.notBefore))
      const notAfter = nonNull("X509_getm_notAfter", () => native.X509_getm_notAfter(x509))
      nonNull("ASN1_TIME_set", () => native.ASN1_TIME_set(notAfter, plan.notAfter))

      // get0 / get_subject_name: the certificate's own name, modified in place.
      const subject = native.X509_get_subject_name(x509)
      const addName = (field: string, value: string, option: string) => {
        const bytes = new TextEncoder().encode(value)
        errors.clear()
        if (native.X509_NAME_add_entry_by_txt(subject, field, MBSTRING_UTF8, bytes, bytes.length, -1, 0) !== 1) {
          throw rejected(option, "rejected as a name entry", errors.error(option))
        }
      }
      if (request.subject.organization !== undefined) {
        addName("O", request.subject.organization, "subject.organization")
      }
      addName("CN", request.subject.commonName, "subject.commonName")
      const issuerName = issuerCert === undefined ? subject : native.X509_get_subject_name(issuerCert)
      succeeds("X509_set_issuer_name", () => native.X509_set_issuer_name(x509, issuerName))
      // Takes the public half of the subject's key (its own reference).
      succeeds("X509_set_pubkey", () => native.X509_set_pubkey(x509, subjectKey))

      const v3 = new Uint8Array(X509V3_CTX_SIZE)
      native.X509V3_set_ctx(v3, issuerCert ?? x509, x509, null, null, 0)
      const addExtension = (nid: number, value: string, option: string) => {
        errors.clear()
        const extension = native.X509V3_EXT_nconf_nid(null, v3, nid, value)
        if (extension === null) throw rejected(option, `rejected: ${value}`, errors.error(option))
        try {
          // X509_add_ext stores a copy.
          succeeds("X509_add_ext", () => native.X509_add_ext(x509, extension, -1))
        } finally {
          native.X509_EXTENSION_free(extension)
        }
      }
      addExtension(
        NID.basicConstraints,
        request.isCa
          ? `critical,CA:TRUE${request.pathLength === undefined ? "" : `,pathlen:${request.pathLength}`}`
          : "critical,CA:FALSE",
        "isCa"
      )
      addExtension(
        NID.keyUsage,
        request.isCa
          ? "critical,digitalSignature,keyCertSign,cRLSign"
          // keyEncipherment: TLS 1.2 RSA key exchange encrypts to an RSA leaf's key.
          : baseId(subjectKey) === EVP_PKEY_RSA
          ? "critical,digitalSignature,keyEncipherment"
          : "critical,digitalSignature",
        "isCa"
      )
      if (request.extendedKeyUsage !== undefined && request.extendedKeyUsage.length > 0) {
        addExtension(NID.extendedKeyUsage, request.extendedKeyUsage.join(","), "extendedKeyUsage")
      }
      if (request.subjectAltNames !== undefined && request.subjectAltNames.length > 0) {
        addExtension(NID.subjectAltName, request.subjectAltNames.join(","), "subjectAltNames")
      }
      // The subject key id first: a self-signed certificate's authority key id is read from it.
      addExtension(NID.subjectKeyIdentifier, "hash", "key")
      // "keyid": the issuer's subject key id when it has one (a foreign issuer may not).
      addExtension(NID.authorityKeyIdentifier, issuerCert === undefined ? "keyid:always" : "keyid", "issuer")

      // Ed25519 and Ed448 sign the message itself: no separate digest.
      const id = baseId(signingKey)
      const digest = id === EVP_PKEY_ED25519 || id === EVP_PKEY_ED448 ? null : native.EVP_sha256()
      succeeds("X509_sign", () => native.X509_sign(x509, signingKey, digest))

      return withEmptyBio((bio) => writtenText(bio, () => native.PEM_write_bio_X509(bio, x509), "PEM_write_bio_X509"))
    })
  }

  return {
    parseCertificate,
    generateKey: errors.cleared(generateKey),
    issueCertificate: errors.cleared(issueCertificate)
  }
}

interface Plan {
  readonly serial: Uint8Array
  readonly notBefore: number
  readonly notAfter: number
}

/** Reject what OpenSSL would accept but mean something else (or what it cannot check). */
const validate = (request: CertificateRequest): Plan => {
  const seconds = (date: Date, option: string) => {
    const ms = date instanceof Date ? date.getTime() : NaN
    if (!Number.isFinite(ms)) throw rejected(option, "not a valid date")
    return Math.floor(ms / 1000)
  }
  const notBefore = seconds(request.notBefore, "notBefore")
  const notAfter = seconds(request.notAfter, "notAfter")
  if (notAfter < notBefore) throw rejected("notAfter", "is before notBefore")
  if (request.pathLength !== undefined) {
    if (!request.isCa) throw rejected("pathLength", "only a CA certificate has a path length")
    if (!Number.isSafeInteger(request.pathLength) || request.pathLength < 0) {
      throw rejected("pathLength", "a non-negative integer")
    }
  }
  request.extendedKeyUsage?.forEach((usage, i) => {
    if (usage !== "serverAuth" && usage !== "clientAuth") {
      throw rejected(`extendedKeyUsage[${i}]`, "expected serverAuth or clientAuth")
    }
  })
  request.subjectAltNames?.forEach((name, i) => {
    if (!subjectAltName.test(name)) {
      throw rejected(
        `subjectAltNames[${i}]`,
        "expected DNS:<name>, IP:<address>, email:<address> or URI:<uri>, without commas"
      )
    }
  })
  return { serial: serialBytes(request.serialNumber), notBefore, notAfter }
}

const serialBytes = (serial: bigint | undefined): Uint8Array => {
  if (serial === undefined) {
    // 128 random bits, top bit clear (positive) and second bit set (non-zero, fixed length).
    const bytes = randomBytes(16)
    bytes[0] = (bytes[0]! & 0x7f) | 0x40
    return bytes
  }
  if (serial <= 0n || serial > MAX_SERIAL) throw rejected("serialNumber", "a positive integer of at most 20 octets")
  const hex = serial.toString(16)
  return Buffer.from(hex.length % 2 === 0 ? hex : `0${hex}`, "hex")
}
