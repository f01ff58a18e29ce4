import type * as FileSystem from "@effect/platform/FileSystem"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Encoding from "effect/Encoding"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import { capability, OpenSsl } from "../OpenSsl.js"
import type { Certificate, CertificateSet, ConnectionOptions, Options, UnknownNamePolicy } from "../ServerContext.js"
import * as SslContext from "../SslContext.js"
import type { SslError } from "../SslError.js"
import { InvalidOptionError } from "../SslError.js"
import type { AcceptOptions } from "../TlsConnection.js"
import type { CertificateInfo } from "../TlsInfo.js"
import {
  contextOptions,
  loadCertificate,
  type LoadedCertificate,
  type LoadedTrust,
  loadTrust,
  renameOption,
  sameCertificate,
  sameTrust
} from "./credentials.js"
import { contextLease } from "./handles.js"
import { dnsNames, NameTable, parsePattern } from "./serverNames.js"

/** Everything read for one certificate set: the default certificate first, then the SNI ones. */
export interface Material {
  readonly certificates: ReadonlyArray<LoadedCertificate>
  readonly trust: LoadedTrust | undefined
}

/** The options the sets are built from, checked once (see `ServerContext.make`). */
export interface Plan {
  readonly options: Options
  readonly unknownName: UnknownNamePolicy
  readonly missingName: UnknownNamePolicy
}

const prefixOf = (index: number) => index === 0 ? "certificate" : `sni.certificates[${index - 1}]`

/** Read the certificates, keys and trust the options name (files through the `FileSystem`). */
export const loadMaterial = (options: Options): Effect.Effect<Material, InvalidOptionError, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const all = [options.certificate, ...(options.sni?.certificates ?? [])]
    const certificates: Array<LoadedCertificate> = []
    for (const [i, certificate] of all.entries()) certificates.push(yield* loadCertificate(prefixOf(i), certificate))
    return { certificates, trust: yield* loadTrust(options.trust) }
  })

export const sameMaterial = (a: Material, b: Material): boolean =>
  a.certificates.length === b.certificates.length &&
  a.certificates.every((certificate, i) => sameCertificate(certificate, b.certificates[i]!)) &&
  sameTrust(a.trust, b.trust)

/** Every file the material was read from. */
export const filesOf = (material: Material): ReadonlyArray<string> =>
  Array.from(new Set([...material.certificates.flatMap((c) => c.files), ...(material.trust?.files ?? [])]))

/**
 * One certificate set in service, counted: the store holds it while it is current, and each
 * connection accepted with it holds it for the connection's scope. When the last holder lets
 * go, the set's context leases are released; native references the connections' `SSL`s took
 * themselves (`SSL_new`, `SSL_set_SSL_CTX`) keep what is still in use alive until those are
 * freed. So a context a reload replaced lives exactly as long as a connection uses it, and a
 * context chosen by SNI in the middle of a handshake is never a released one.
 */
export class Generation implements ConnectionOptions {
  #holders = 1
  readonly context: SslContext.SslContext
  readonly sni: AcceptOptions["sni"]

  constructor(readonly set: CertificateSet, readonly material: Material, plan: Plan) {
    this.context = set.default.context
    this.sni = set.named.length === 0 && plan.unknownName === "default" && plan.missingName === "default"
      ? undefined
      : sniOf(set)
  }

  hold(): this {
    this.#holders++
    return this
  }

  release(): void {
    if (--this.#holders > 0) return
    for (const certificate of [this.set.default, ...this.set.named]) contextLease(certificate.context).release()
  }
}

/**
 * The `sni` accept option of a set: `None` keeps the default context the `SSL` was made with.
 * It answers synchronously, so the handshake does not pause for it (no fiber per connection).
 */
const sniOf = (set: CertificateSet): NonNullable<AcceptOptions["sni"]> => {
  const chosen = new Map(set.named.map((c) => [c, Option.some(c.context)]))
  const keep = Option.none()
  const refuse = "refuse" as const
  return (serverName) => {
    const certificate = set.select(serverName)
    return certificate === "refuse" ? refuse : chosen.get(certificate) ?? keep
  }
}

const invalid = (option: string, reason: string) => new InvalidOptionError({ option, reason })

/** DER of the first certificate of a PEM chain (already accepted by OpenSSL). */
const leafDer = (pem: string): Uint8Array | undefined => {
  const block = /-----BEGIN CERTIFICATE-----([\s\S]+?)-----END CERTIFICATE-----/.exec(pem)
  return block === null ? undefined : Either.getOrUndefined(Encoding.decodeBase64(block[1]!.replace(/\s+/g, "")))
}

/** The leaf's details; a certificate outside its validity period is refused (clients would refuse it). */
const leafInfo = (loaded: LoadedCertificate): Effect.Effect<CertificateInfo, InvalidOptionError, OpenSsl> =>
  Effect.gen(function*() {
    const openssl = yield* OpenSsl
    const der = leafDer(loaded.chain)
    const info = der === undefined
      ? undefined
      : yield* Effect.option(Effect.try(() => capability(openssl, "pki", "ServerContext").parseCertificate(der)))
    if (info === undefined || Option.isNone(info)) {
      return yield* invalid(loaded.chainOption, "cannot parse the leaf certificate")
    }
    const now = yield* Clock.currentTimeMillis
    if (now < info.value.validFrom.getTime()) {
      return yield* invalid(
        loaded.chainOption,
        `the certificate is not valid before ${info.value.validFrom.toISOString()}`
      )
    }
    if (now > info.value.validTo.getTime()) {
      return yield* invalid(loaded.chainOption, `the certificate expired on ${info.value.validTo.toISOString()}`)
    }
    return info.value
  })

/** The names a certificate is chosen for: as listed, or its DNS subject alternative names. */
const serverNamesOf = (
  prefix: string,
  listed: unknown,
  info: CertificateInfo,
  required: boolean
): Effect.Effect<ReadonlyArray<string>, InvalidOptionError> =>
  Effect.try({
    try: () => {
      if (listed !== undefined) {
        if (!Array.isArray(listed)) throw invalid(`${prefix}.serverNames`, "expected a list of server names")
        return listed.map((name, j) => parsePattern(`${prefix}.serverNames[${j}]`, name))
      }
      const names = dnsNames(info.subjectAltNames).map((name) => parsePattern(`${prefix}.serverNames`, name))
      if (required && names.length === 0) {
        throw invalid(`${prefix}.serverNames`, "the certificate has no DNS names: list the names it serves")
      }
      return names
    },
    catch: (e) => e instanceof InvalidOptionError ? e : invalid(`${prefix}.serverNames`, String(e))
  })

/**
 * Build a certificate set in the caller's scope: one context per certificate (the shared
 * options plus that certificate), each leaf checked and named. On failure the contexts built
 * so far are released, so a refused reload leaves nothing behind.
 */
export const build = (
  plan: Plan,
  material: Material,
  generation: number
): Effect.Effect<Generation, SslError, OpenSsl | Scope.Scope> => {
  const { certificate: _certificate, reload: _reload, sni, trust: _trust, ...common } = plan.options
  const listed = [plan.options.certificate, ...(sni?.certificates ?? [])]
  const built: Array<SslContext.SslContext> = []
  return Effect.gen(function*() {
    const certificates: Array<Certificate> = []
    for (const [i, loaded] of material.certificates.entries()) {
      const context = yield* SslContext.make(
        contextOptions({ ...common, role: "server" }, loaded, material.trust)
      ).pipe(Effect.mapError(renameOption(loaded, material.trust)))
      built.push(context)
      const info = yield* leafInfo(loaded)
      const serverNames = yield* serverNamesOf(prefixOf(i), listed[i]?.serverNames, info, i > 0)
      certificates.push({ context, serverNames, info })
    }
    const [defaultCertificate, ...named] = certificates as [Certificate, ...Array<Certificate>]
    const table = new NameTable<Certificate>()
    // SNI certificates claim names in the order given, before the default.
    for (const certificate of [...named, defaultCertificate]) {
      for (const name of certificate.serverNames) table.add(name, certificate)
    }
    const set: CertificateSet = {
      generation,
      default: defaultCertificate,
      named,
      select: (serverName) => {
        if (serverName === undefined) return plan.missingName === "refuse" ? "refuse" : defaultCertificate
        return table.lookup(serverName) ?? (plan.unknownName === "refuse" ? "refuse" : defaultCertificate)
      }
    }
    return new Generation(set, material, plan)
  }).pipe(
    Effect.onError(() => Effect.sync(() => built.forEach((context) => contextLease(context).release())))
  )
}
