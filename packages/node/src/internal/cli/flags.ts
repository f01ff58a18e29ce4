import type { ProtocolVersion } from "@effect-openssl/core/OpenSsl"
import * as Options from "@effect/cli/Options"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { type CommandFailure, failure, type FileFlag } from "./failure.js"

/** `--cert F` and `--key F`: this side's certificate chain and key, PEM files. */
export const cert = Options.file("cert").pipe(
  Options.withPseudoName("F"),
  Options.withDescription("certificate chain, PEM (leaf first); goes with --key"),
  Options.optional
)

export const key = Options.file("key").pipe(
  Options.withPseudoName("F"),
  Options.withDescription("private key of --cert, PEM"),
  Options.optional
)

/** `--alpn a,b`: ALPN protocols in preference order. */
export const alpn = Options.text("alpn").pipe(
  Options.withPseudoName("a,b"),
  Options.withDescription("ALPN protocols, in preference order, separated by commas (e.g. h2,http/1.1)"),
  Options.optional
)

const versions = { "1.2": "TLSv1.2", "1.3": "TLSv1.3" } as const satisfies Record<string, ProtocolVersion>

/** `--tls 1.2|1.3`: that protocol version only. */
export const tls = Options.choice("tls", ["1.2", "1.3"]).pipe(
  Options.withDescription("this TLS version only (default: TLS 1.2 and 1.3)"),
  Options.optional
)

/** The context options of `--tls`: that version as both the lowest and the highest. */
export const protocolOptions = (
  version: Option.Option<keyof typeof versions>
): { readonly minProtocol?: ProtocolVersion; readonly maxProtocol?: ProtocolVersion } =>
  Option.match(version, {
    onNone: () => ({}),
    onSome: (v) => ({ minProtocol: versions[v], maxProtocol: versions[v] })
  })

/** The protocols of `--alpn`, checked to be a list of names. */
export const alpnProtocols = (value: Option.Option<string>): Effect.Effect<Array<string> | undefined, CommandFailure> =>
  Option.match(value, {
    onNone: () => Effect.succeed(undefined),
    onSome: (list) => {
      const names = list.split(",").map((name) => name.trim())
      return names.some((name) => name.length === 0)
        ? Effect.fail(failure(`--alpn ${list}: expected protocol names separated by commas`))
        : Effect.succeed(names)
    }
  })

/** `--cert` and `--key` given together, or neither. */
export const certificateFiles = (
  certFile: Option.Option<string>,
  keyFile: Option.Option<string>
): Effect.Effect<Option.Option<{ readonly cert: FileFlag; readonly key: FileFlag }>, CommandFailure> => {
  if (Option.isSome(certFile) && Option.isSome(keyFile)) {
    return Effect.succeed(Option.some({
      cert: { flag: "--cert", file: certFile.value },
      key: { flag: "--key", file: keyFile.value }
    }))
  }
  if (Option.isNone(certFile) && Option.isNone(keyFile)) return Effect.succeed(Option.none())
  return Effect.fail(failure(Option.isSome(certFile) ? "--cert needs --key" : "--key needs --cert"))
}
