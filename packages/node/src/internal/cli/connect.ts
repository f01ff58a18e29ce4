/**
 * `effect-openssl connect HOST:PORT`: as `openssl s_client -quiet`: the handshake, one summary
 * line on stderr, then stdin to the connection and the connection to stdout until the server
 * closes. The end of stdin sends close_notify (the server's answer is still read).
 */
import * as ClientContext from "@effect-openssl/core/ClientContext"
import type * as SslContext from "@effect-openssl/core/SslContext"
import * as SslSession from "@effect-openssl/core/SslSession"
import * as TlsConnection from "@effect-openssl/core/TlsConnection"
import type { TlsInfo, VerifyStep } from "@effect-openssl/core/TlsInfo"
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as FileSystem from "@effect/platform/FileSystem"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as NodeTransport from "../../NodeTransport.js"
import { type CommandFailure, credentialFailure, failure, transportReason } from "./failure.js"
import * as flags from "./flags.js"

const target = Args.text({ name: "HOST:PORT" }).pipe(
  Args.withDescription("the server, e.g. localhost:8443 or [::1]:443")
)
const ca = Options.file("ca").pipe(
  Options.withPseudoName("F"),
  Options.withDescription("CA certificates (PEM) to verify the server with (default: the system's store)"),
  Options.optional
)
const servername = Options.text("servername").pipe(
  Options.withPseudoName("S"),
  Options.withDescription("the name sent as SNI and verified in the certificate (default: HOST)"),
  Options.optional
)
const sessOut = Options.file("sess-out").pipe(
  Options.withPseudoName("F"),
  Options.withDescription("write the session to this file when the connection ends, to resume with --sess-in"),
  Options.optional
)
const sessIn = Options.file("sess-in").pipe(
  Options.withPseudoName("F"),
  Options.withDescription("resume the session in this file (written by --sess-out)"),
  Options.optional
)
const insecure = Options.boolean("insecure").pipe(
  Options.withDescription("go on when the certificate does not verify (the summary says why it did not)")
)

/** `host:port`, `[v6]:port`. */
const parseTarget = (text: string): Effect.Effect<{ readonly host: string; readonly port: number }, CommandFailure> => {
  const match = /^\[([^\]]+)\]:(\d+)$/.exec(text) ?? /^([^:[\]]+):(\d+)$/.exec(text)
  const port = Number(match?.[2])
  return match === null || !(port >= 1 && port <= 65535)
    ? failure(`${text}: expected HOST:PORT, e.g. localhost:8443 or [::1]:8443`)
    : Effect.succeed({ host: match[1]!, port })
}

/** Write to stdout, waiting until the chunk was handed on (backpressure for a slow reader). */
const toStdout = (chunk: Uint8Array) =>
  Effect.async<void>((resume) => {
    process.stdout.write(chunk, () => resume(Effect.void))
  })

/** The summary line: protocol, cipher, ALPN, verification, session. */
const summary = (info: TlsInfo, verification: string) =>
  [
    info.protocol,
    info.cipher,
    `ALPN ${info.alpnProtocol ?? "none"}`,
    verification,
    info.sessionReused ? "session resumed" : "new session"
  ].join(", ")

const verified = (info: TlsInfo) => `verified (${info.peerChain[0]?.subject ?? "no certificate"})`

const notVerified = (step: VerifyStep) =>
  `not verified: ${step.reason ?? "rejected"} (X509 code ${step.code}) at depth ${step.depth}${
    step.subject === undefined ? "" : ` for ${step.subject}`
  }, going on (--insecure)`

/** The session stored in `file` by `--sess-out`, for `context`. */
const readSession = (context: SslContext.SslContext, file: string) =>
  Effect.flatMap(FileSystem.FileSystem, (fs) => fs.readFile(file)).pipe(
    Effect.mapError((error) => failure(`cannot read --sess-in ${file} (${error.message})`)),
    Effect.flatMap((bytes) =>
      SslSession.fromBytes(context, bytes).pipe(
        Effect.mapError((error) => failure(`--sess-in ${file}: not a session (${error.message})`))
      )
    )
  )

/** Store the connection's latest session in `file`, readable by the owner only (it resumes the session). */
const writeSession = (conn: TlsConnection.TlsConnection, file: string) =>
  Effect.gen(function*() {
    const latest = yield* Effect.orDie(conn.session)
    if (Option.isNone(latest)) return yield* failure(`no session to write to --sess-out ${file}: the server sent none`)
    const bytes = yield* Effect.orDie(SslSession.toBytes(latest.value))
    const fs = yield* FileSystem.FileSystem
    yield* fs.writeFile(file, bytes, { mode: 0o600 }).pipe(
      Effect.mapError((error) => failure(`cannot write --sess-out ${file} (${error.message})`))
    )
  })

/**
 * stdin to the connection (then close_notify), the connection to stdout, until the server
 * closes.
 */
const relay = (conn: TlsConnection.TlsConnection, target: string) => {
  const upstream = Stream.fromAsyncIterable(process.stdin as AsyncIterable<Uint8Array>, (e) => e).pipe(
    Stream.runForEach((chunk) => conn.write(chunk)),
    Effect.zipRight(conn.closeWrite),
    // The server's side decides the end: a failure here shows there too.
    Effect.catchAll(() => Effect.void),
    Effect.zipRight(Effect.never)
  )
  const downstream = Stream.runForEach(conn.stream, toStdout).pipe(
    Effect.mapError((error) =>
      failure(
        error._tag === "TlsError" && error.reason === "UnexpectedEof"
          ? `${target} closed the connection without close_notify (what came last may be cut short)`
          : `connection to ${target} failed: ${error.message}`
      )
    )
  )
  return Effect.raceFirst(downstream, upstream)
}

const run = (options: {
  readonly target: string
  readonly ca: Option.Option<string>
  readonly servername: Option.Option<string>
  readonly alpn: Option.Option<string>
  readonly cert: Option.Option<string>
  readonly key: Option.Option<string>
  readonly tls: Option.Option<"1.2" | "1.3">
  readonly sessOut: Option.Option<string>
  readonly sessIn: Option.Option<string>
  readonly insecure: boolean
}) =>
  Effect.gen(function*() {
    const { host, port } = yield* parseTarget(options.target)
    const alpnProtocols = yield* flags.alpnProtocols(options.alpn)
    const files = yield* flags.certificateFiles(options.cert, options.key)
    const caFile = Option.map(options.ca, (file) => ({ flag: "--ca", file }))

    const { context } = yield* ClientContext.make({
      // With --insecure the chain is still checked against this trust, to say why it fails.
      trust: Option.match(caFile, {
        onNone: () => ({ systemDefaults: true }),
        onSome: ({ file }) => ({ files: [file] })
      }),
      ...Option.match(files, {
        onNone: () => ({}),
        onSome: ({ cert, key }) => ({ certificate: { chainFile: cert.file, keyFile: key.file } })
      }),
      verify: options.insecure ? { mode: "none" as const } : undefined,
      alpnProtocols,
      ...flags.protocolOptions(options.tls)
    }).pipe(Effect.mapError(credentialFailure({
      cert: Option.getOrUndefined(Option.map(files, (f) => f.cert)),
      key: Option.getOrUndefined(Option.map(files, (f) => f.key)),
      ca: Option.getOrUndefined(caFile)
    })))

    const session = yield* Option.match(options.sessIn, {
      onNone: () => Effect.succeed(undefined),
      onSome: (file) => readSession(context, file)
    })

    const transport = yield* NodeTransport.connectTcp({ host, port }).pipe(
      Effect.mapError((error) =>
        failure(
          `cannot connect to ${options.target}: ${
            error._tag === "TransportError" ? transportReason(error) : error.message
          }`
        )
      )
    )
    let firstFailure: VerifyStep | undefined
    const conn = yield* TlsConnection.connect(transport, context, {
      hostName: Option.getOrElse(options.servername, () => host),
      session,
      ...(options.insecure ?
        {
          verify: (step: VerifyStep) => {
            if (!step.preverified) firstFailure ??= step
            return true
          }
        } :
        {})
    }).pipe(Effect.mapError((error) =>
      failure(
        error._tag === "VerifyError"
          ? error.message
          : `handshake with ${options.target} failed: ${
            error._tag === "TransportError" ? transportReason(error) : error.message
          }`
      )
    ))
    const info = yield* Effect.orDie(conn.info)
    yield* Console.error(summary(info, firstFailure === undefined ? verified(info) : notVerified(firstFailure)))

    yield* relay(conn, options.target)

    if (Option.isSome(options.sessOut)) yield* writeSession(conn, options.sessOut.value)
  }).pipe(Effect.scoped)

export const connect = Command.make("connect", {
  target,
  ca,
  servername,
  alpn: flags.alpn,
  cert: flags.cert,
  key: flags.key,
  tls: flags.tls,
  sessOut,
  sessIn,
  insecure
}, run).pipe(
  Command.withDescription("a TLS client, as openssl s_client -quiet: stdin to the server, the server to stdout")
)
