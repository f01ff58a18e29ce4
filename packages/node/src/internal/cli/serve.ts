/**
 * `effect-openssl serve`: a TLS server on a port, echo or HTTP, with the certificate given or a
 * self-signed one issued in memory. Runs until SIGINT or SIGTERM, then closes its connections.
 */
import * as Pki from "@effect-openssl/core/Pki"
import * as ServerContext from "@effect-openssl/core/ServerContext"
import type { CertificateInfo } from "@effect-openssl/core/TlsInfo"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as FileSystem from "@effect/platform/FileSystem"
import * as Path from "@effect/platform/Path"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as net from "node:net"
import { credentialFailure, failure, type FileFlag, transportReason } from "./failure.js"
import * as flags from "./flags.js"
import * as Server from "./server.js"

const port = Options.integer("port").pipe(
  Options.withPseudoName("N"),
  Options.withDescription("TCP port to listen on (0: a free one, printed)")
)
const host = Options.text("host").pipe(
  Options.withPseudoName("H"),
  Options.withDescription("address to listen on"),
  Options.withDefault("127.0.0.1")
)
const ca = Options.file("ca").pipe(
  Options.withPseudoName("F"),
  Options.withDescription("CA certificates (PEM) to verify client certificates with; asks clients for one"),
  Options.optional
)
const requireClientCert = Options.boolean("require-client-cert").pipe(
  Options.withDescription("refuse clients without a certificate that --ca verifies")
)
const mode = Options.choice("mode", ["echo", "http"]).pipe(
  Options.withDescription(
    "echo: send back what arrives; http: answer every HTTP/1.1 request with JSON about the connection"
  ),
  Options.withDefault("echo" as const)
)

/** A self-signed certificate for localhost, and the file its PEM is written to (removed on exit). */
const selfSigned = Effect.gen(function*() {
  const issued = yield* Pki.selfSigned()
  const fs = yield* FileSystem.FileSystem
  const path = yield* Path.Path
  const directory = yield* fs.makeTempDirectoryScoped({ prefix: "effect-openssl-serve-" })
  const file = path.join(directory, "localhost.pem")
  yield* fs.writeFileString(file, issued.certificate)
  return { issued, file }
}).pipe(Effect.mapError((error) => failure(`cannot issue a self-signed certificate: ${error.message}`)))

/** The server's certificate, and the PEM file of a self-signed one. */
interface Certificate {
  readonly certificate: ServerContext.CertificateOptions
  readonly selfSignedFile: Option.Option<string>
}

/** The files given, or a self-signed certificate issued now. */
const certificateOf = (files: Option.Option<{ readonly cert: FileFlag; readonly key: FileFlag }>) =>
  Option.match(files, {
    onSome: ({ cert, key }) =>
      Effect.succeed<Certificate>({
        certificate: { chainFile: cert.file, keyFile: key.file },
        selfSignedFile: Option.none()
      }),
    onNone: () =>
      Effect.map(selfSigned, ({ file, issued }): Certificate => ({
        certificate: { chain: issued.chain, key: issued.key },
        selfSignedFile: Option.some(file)
      }))
  })

interface ServeOptions {
  readonly port: number
  readonly host: string
  readonly cert: Option.Option<string>
  readonly key: Option.Option<string>
  readonly ca: Option.Option<string>
  readonly requireClientCert: boolean
  readonly alpn: Option.Option<string>
  readonly tls: Option.Option<"1.2" | "1.3">
  readonly mode: Server.Mode
}

/** What is served where, with which certificate: printed once listening. */
const banner = (
  options: ServeOptions,
  address: Server.Bound,
  alpnProtocols: ReadonlyArray<string> | undefined,
  info: CertificateInfo,
  selfSignedFile: Option.Option<string>
): string => {
  const where = net.isIPv6(address.host) ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`
  const settings = [
    Option.match(options.tls, { onNone: () => "TLS 1.2 and 1.3", onSome: (v) => `TLS ${v} only` }),
    ...(alpnProtocols === undefined ? [] : [`ALPN ${alpnProtocols.join(",")}`]),
    ...(Option.isNone(options.ca) ? [] : [`client certificate ${options.requireClientCert ? "required" : "asked"}`])
  ]
  return [
    `effect-openssl serve: ${options.mode} on ${where} (${settings.join(", ")})`,
    `certificate: ${info.subject}, for ${info.subjectAltNames.join(", ")}, valid until ${info.validTo.toISOString()}`,
    `SHA-256 fingerprint: ${info.fingerprint256}`,
    ...Option.match(selfSignedFile, {
      onNone: () => [],
      onSome: (file) => [
        `self-signed, issued now; its PEM: ${file} (removed when the server stops)`,
        `try: effect-openssl connect localhost:${address.port} --ca ${file}`
      ]
    })
  ].join("\n")
}

const run = (options: ServeOptions) =>
  Effect.gen(function*() {
    if (!Number.isInteger(options.port) || options.port < 0 || options.port > 65535) {
      return yield* failure(`--port ${options.port}: expected a port from 0 to 65535`)
    }
    if (options.requireClientCert && Option.isNone(options.ca)) {
      return yield* failure("--require-client-cert needs --ca (the CA that issues the client certificates)")
    }
    const given = yield* flags.alpnProtocols(options.alpn)
    if (options.mode === "http" && given?.some((name) => name !== "http/1.1") === true) {
      return yield* failure(
        `--mode http speaks HTTP/1.1 only; --alpn ${given.join(",")} offers clients another protocol`
      )
    }
    // HTTP clients that offer h2 must hear that this server speaks HTTP/1.1.
    const alpnProtocols = options.mode === "http" ? ["http/1.1"] : given
    const files = yield* flags.certificateFiles(options.cert, options.key)
    const caFile = Option.map(options.ca, (file) => ({ flag: "--ca", file }))
    const { certificate, selfSignedFile } = yield* certificateOf(files)

    const server = yield* ServerContext.make({
      certificate,
      ...Option.match(caFile, {
        onNone: () => ({}),
        onSome: ({ file }) => ({
          trust: { files: [file] },
          verify: { mode: options.requireClientCert ? "require" as const : "peer" as const }
        })
      }),
      alpnProtocols,
      ...flags.protocolOptions(options.tls)
    }).pipe(Effect.mapError(credentialFailure({
      cert: Option.getOrUndefined(Option.map(files, (f) => f.cert)),
      key: Option.getOrUndefined(Option.map(files, (f) => f.key)),
      ca: Option.getOrUndefined(caFile)
    })))
    const address = yield* Server.start({
      mode: options.mode,
      host: options.host,
      port: options.port,
      onConnectionError: (message) => Console.error(`connection failed: ${message}`)
    }).pipe(
      Effect.provideService(ServerContext.ServerContext, server),
      Effect.mapError((error) => failure(`cannot listen on ${options.host}:${options.port}: ${transportReason(error)}`))
    )
    const set = yield* server.current

    yield* Console.log(banner(options, address, alpnProtocols, set.default.info, selfSignedFile))
    yield* Effect.addFinalizer(() => Console.error("effect-openssl serve: stopped"))
    return yield* Effect.never
  }).pipe(Effect.scoped)

export const serve = Command.make("serve", {
  port,
  host,
  cert: flags.cert,
  key: flags.key,
  ca,
  requireClientCert,
  alpn: flags.alpn,
  tls: flags.tls,
  mode
}, run).pipe(
  Command.withDescription("a TLS server: echo, or HTTP answering with what each connection negotiated")
)
