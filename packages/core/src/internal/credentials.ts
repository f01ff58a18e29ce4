import type * as PlatformError from "@effect/platform/Error"
import * as FileSystem from "@effect/platform/FileSystem"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import type * as Credentials from "../Credentials.js"
import type * as SslContext from "../SslContext.js"
import { InvalidOptionError, OpenSslError, type SslError } from "../SslError.js"

/** PEM read and checked for shape, with the option each part came from (for errors). */
export interface LoadedCertificate {
  readonly chain: string
  readonly key: Redacted.Redacted<string>
  readonly passphrase: Redacted.Redacted<string> | undefined
  /** The option the chain came from, e.g. `"certificate.chainFile"`. */
  readonly chainOption: string
  readonly keyOption: string
  readonly passphraseOption: string
  /** The files read, for watching. */
  readonly files: ReadonlyArray<string>
}

/** Trusted certificates, one PEM block each, with the option each block came from. */
export interface LoadedTrust {
  readonly blocks: ReadonlyArray<string>
  readonly origins: ReadonlyArray<string>
  readonly systemDefaults: boolean | undefined
  readonly files: ReadonlyArray<string>
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g

const invalid = (option: string, reason: string) => new InvalidOptionError({ option, reason })

const readFailure = (option: string, path: string) => (error: PlatformError.PlatformError) =>
  invalid(
    option,
    `cannot read ${JSON.stringify(path)} (${error._tag === "SystemError" ? error.reason : error.message})`
  )

const readText = (option: string, path: unknown): Effect.Effect<string, InvalidOptionError, FileSystem.FileSystem> =>
  typeof path !== "string" || path.length === 0
    ? Effect.fail(invalid(option, "expected a file path"))
    : Effect.flatMap(
      FileSystem.FileSystem,
      (fs) => Effect.mapError(fs.readFileString(path), readFailure(option, path))
    )

/** Exactly one of an inline value and a file. */
const oneOf = (prefix: string, inline: string, file: string, value: object) => {
  const hasInline = (value as Record<string, unknown>)[inline] !== undefined
  const hasFile = (value as Record<string, unknown>)[file] !== undefined
  if (hasInline && hasFile) throw invalid(`${prefix}.${inline}`, `give ${inline} or ${file}, not both`)
  if (!hasInline && !hasFile) throw invalid(`${prefix}.${inline}`, `missing: give ${inline} (PEM) or ${file} (a path)`)
  return hasInline ? "inline" : "file"
}

/**
 * Read a certificate option (`prefix` names it in errors): inline PEM as is, files through
 * the `FileSystem`. The PEM itself is checked by `SslContext.make`.
 */
export const loadCertificate = (
  prefix: string,
  options: Credentials.Certificate
): Effect.Effect<LoadedCertificate, InvalidOptionError, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    if (typeof options !== "object" || options === null) return yield* invalid(prefix, "expected an object")
    const chainFrom = yield* Effect.try({ try: () => oneOf(prefix, "chain", "chainFile", options), catch: asInvalid })
    const keyFrom = yield* Effect.try({ try: () => oneOf(prefix, "key", "keyFile", options), catch: asInvalid })
    const chainOption = `${prefix}.${chainFrom === "inline" ? "chain" : "chainFile"}`
    const keyOption = `${prefix}.${keyFrom === "inline" ? "key" : "keyFile"}`
    const chain = chainFrom === "inline" ? options.chain! : yield* readText(chainOption, options.chainFile)
    const key = keyFrom === "inline"
      ? options.key!
      : Redacted.make(yield* readText(keyOption, options.keyFile))
    const files: Array<string> = []
    if (chainFrom === "file") files.push(options.chainFile!)
    if (keyFrom === "file") files.push(options.keyFile!)
    return {
      chain,
      key,
      passphrase: options.passphrase,
      chainOption,
      keyOption,
      passphraseOption: `${prefix}.passphrase`,
      files
    }
  })

const asInvalid = (e: unknown): InvalidOptionError =>
  e instanceof InvalidOptionError ? e : invalid("options", String(e))

const listOf = (option: string, value: string | ReadonlyArray<string>): ReadonlyArray<string> => {
  if (typeof value === "string") return [value]
  if (!Array.isArray(value)) throw invalid(option, "expected a string or a list of strings")
  return value
}

const blocksOf = (option: string, where: string, text: unknown): Array<string> => {
  const found = typeof text === "string" ? text.match(PEM_CERTIFICATE) : null
  if (found === null) throw invalid(option, `no PEM CERTIFICATE block ${where}`)
  return found
}

/** Read a trust option: inline certificates, files, and the system store flag. */
export const loadTrust = (
  options: Credentials.Trust | undefined
): Effect.Effect<LoadedTrust | undefined, InvalidOptionError, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    if (options === undefined) return undefined
    if (typeof options !== "object" || options === null) return yield* invalid("trust", "expected an object")
    const blocks: Array<string> = []
    const origins: Array<string> = []
    const add = (option: string, found: ReadonlyArray<string>) => {
      blocks.push(...found)
      origins.push(...found.map(() => option))
    }
    if (options.certificates !== undefined) {
      yield* Effect.try({
        try: () =>
          listOf("trust.certificates", options.certificates!).forEach((pem, i) => {
            const option = typeof options.certificates === "string" ? "trust.certificates" : `trust.certificates[${i}]`
            add(option, blocksOf(option, "found", pem))
          }),
        catch: asInvalid
      })
    }
    const files = options.files === undefined
      ? []
      : yield* Effect.try({ try: () => listOf("trust.files", options.files!), catch: asInvalid })
    for (const [i, path] of files.entries()) {
      const option = typeof options.files === "string" ? "trust.files" : `trust.files[${i}]`
      const text = yield* readText(option, path)
      yield* Effect.try({
        try: () => add(option, blocksOf(option, `in ${JSON.stringify(path)}`, text)),
        catch: asInvalid
      })
    }
    return { blocks, origins, systemDefaults: options.systemDefaults, files }
  })

/** The `SslContext.Options` for loaded credentials on top of the shared options. */
export const contextOptions = (
  common: Omit<SslContext.Options, "certificate" | "trust">,
  certificate: LoadedCertificate | undefined,
  trust: LoadedTrust | undefined
): SslContext.Options => ({
  ...common,
  certificate: certificate === undefined ? undefined : {
    chain: certificate.chain,
    key: certificate.key,
    passphrase: certificate.passphrase
  },
  trust: trust === undefined ? undefined : {
    certificates: trust.blocks.length === 0 ? undefined : trust.blocks,
    systemDefaults: trust.systemDefaults
  }
})

/**
 * `SslContext.make` names options as it sees them (`certificate.chain`, `trust.certificates[3]`);
 * name them as the caller gave them instead (`sni.certificates[1].keyFile`, `trust.files[0]`).
 */
export const renameOption = (
  certificate: LoadedCertificate | undefined,
  trust: LoadedTrust | undefined
) =>
(error: SslError): SslError => {
  if (error._tag !== "InvalidOptionError") return error
  const rename = (option: string): string => {
    const [, head, index] = /^([^[]+)(?:\[(\d+)\])?$/.exec(option) ?? []
    if (certificate !== undefined) {
      const suffix = index === undefined ? "" : `[${index}]`
      if (head === "certificate.chain") return certificate.chainOption + suffix
      if (head === "certificate.key") return certificate.keyOption
      if (head === "certificate.passphrase") return certificate.passphraseOption
    }
    if (trust !== undefined && head === "trust.certificates" && index !== undefined) {
      return trust.origins[Number(index)] ?? option
    }
    return option
  }
  const option = rename(error.option)
  if (option === error.option) return error
  // The binding names OpenSSL's part of the error after the option too.
  const cause = error.cause?.operation === error.option
    ? new OpenSslError({ operation: option, entries: error.cause.entries, cause: error.cause.cause })
    : error.cause
  return new InvalidOptionError({ option, reason: error.reason, cause })
}

/** Whether two loads read the same PEM (a reload that changed nothing keeps what is in service). */
export const sameCertificate = (a: LoadedCertificate, b: LoadedCertificate): boolean =>
  a.chain === b.chain && sameSecret(a.key, b.key) && sameSecret(a.passphrase, b.passphrase)

export const sameTrust = (a: LoadedTrust | undefined, b: LoadedTrust | undefined): boolean =>
  a === undefined || b === undefined
    ? a === b
    : a.systemDefaults === b.systemDefaults && a.blocks.length === b.blocks.length &&
      a.blocks.every((block, i) => block === b.blocks[i])

const sameSecret = (a: Redacted.Redacted<string> | undefined, b: Redacted.Redacted<string> | undefined) =>
  a === undefined || b === undefined ? a === b : Redacted.value(a) === Redacted.value(b)
