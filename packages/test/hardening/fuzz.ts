/**
 * Fuzz cases: valid captured inputs (see `corpus.ts`), mutated (see `mutate.ts`), fed to the
 * library through its public API:
 *
 * - `Replay`: a client's (or server's) captured bytes, mutated, into a lone server (client)
 *   engine;
 * - `InFlight`: a real client and server, one chunk of one direction mutated on the way, then an
 *   exchange and a close;
 * - `Session`: session bytes into `SslSession.fromBytes`, and a resumption with what it accepts;
 * - `Pem`: certificate chains, keys and trusted roots into `SslContext.make` (the PEM text, or
 *   the DER inside it), and a handshake with what it accepts;
 * - `Der`: certificates into `OpenSsl.parseCertificate` and into a trust store.
 *
 * Every case must end in success or a typed error from the expected set, within a bound, with
 * no native object freed wrongly or left behind (audited), and an exchange that succeeds must
 * deliver exactly what was sent.
 */
import { OpenSsl } from "@effect-openssl/core/OpenSsl"
import * as SslContext from "@effect-openssl/core/SslContext"
import { isSslError, type SslError } from "@effect-openssl/core/SslError"
import * as SslSession from "@effect-openssl/core/SslSession"
import * as TlsConnection from "@effect-openssl/core/TlsConnection"
import * as Transport from "@effect-openssl/core/Transport"
import * as Cause from "effect/Cause"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FastCheck from "effect/FastCheck"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import * as Mutation from "../src/Mutation.js"
import * as Audit from "./audit.js"
import { concat, type Corpus, corpus, request, response } from "./corpus.js"
import * as Mutate from "./mutate.js"
import { bounded, contexts, type Version, versions } from "./peers.js"

export type Case =
  | {
    readonly _tag: "Replay"
    readonly version: Version
    /** The engine under test; it hears the other side's captured bytes, mutated. */
    readonly target: "server" | "client"
    readonly mutations: ReadonlyArray<Mutate.StructuredMutation>
    /** Where the mutated stream is cut into chunks (none: one chunk). */
    readonly cuts: ReadonlyArray<number>
  }
  | {
    readonly _tag: "InFlight"
    readonly version: Version
    readonly direction: "toServer" | "toClient"
    /** Which chunk of that direction is mutated (modulo how many there are). */
    readonly chunk: number
    readonly mutations: ReadonlyArray<Mutate.StructuredMutation>
  }
  | {
    readonly _tag: "Session"
    readonly version: Version
    readonly mutations: ReadonlyArray<Mutate.StructuredMutation>
  }
  | {
    readonly _tag: "Pem"
    readonly part: "chain" | "key" | "trust"
    /** Mutate the DER inside the first PEM block, rather than the text. */
    readonly inner: boolean
    readonly mutations: ReadonlyArray<Mutate.StructuredMutation>
  }
  | {
    readonly _tag: "Der"
    readonly certificate: number
    readonly mutations: ReadonlyArray<Mutate.StructuredMutation>
  }

export type Kind = Case["_tag"]

export const kinds: ReadonlyArray<Kind> = ["Replay", "InFlight", "Session", "Pem", "Der"]

const version = FastCheck.constantFrom(...versions)

export const cases: Readonly<Record<Kind, FastCheck.Arbitrary<Case>>> = {
  Replay: FastCheck.record({
    _tag: FastCheck.constant("Replay" as const),
    version,
    target: FastCheck.constantFrom("server" as const, "client" as const),
    mutations: Mutate.mutations("tls"),
    cuts: FastCheck.array(FastCheck.nat(), { maxLength: 6 })
  }),
  InFlight: FastCheck.record({
    _tag: FastCheck.constant("InFlight" as const),
    version,
    direction: FastCheck.constantFrom("toServer" as const, "toClient" as const),
    chunk: FastCheck.nat(16),
    mutations: Mutate.mutations("tls")
  }),
  Session: FastCheck.record({
    _tag: FastCheck.constant("Session" as const),
    version,
    mutations: Mutate.mutations("der")
  }),
  Pem: FastCheck.boolean().chain((inner) =>
    FastCheck.record({
      _tag: FastCheck.constant("Pem" as const),
      part: FastCheck.constantFrom("chain" as const, "key" as const, "trust" as const),
      inner: FastCheck.constant(inner),
      mutations: Mutate.mutations(inner ? "der" : "text")
    })
  ),
  Der: FastCheck.record({
    _tag: FastCheck.constant("Der" as const),
    certificate: FastCheck.nat(4),
    mutations: Mutate.mutations("der")
  })
}

/** Any case. */
export const anyCase: FastCheck.Arbitrary<Case> = FastCheck.oneof(...kinds.map((kind) => cases[kind]))

export interface Outcome {
  /** How each part ended: `success`, or the error's tag (and reason). */
  readonly results: ReadonlyArray<string>
  /** What must not happen: defects, unexpected errors, hangs, audit violations, altered data. */
  readonly problems: ReadonlyArray<string>
}

/**
 * What a handshake or an exchange may fail with: the peer's fault or the transport's, or (for
 * the plaintext exchange after the handshake, which has no timeout of its own) no answer in time.
 */
const connectionFailures = ["TlsError", "VerifyError", "TransportError", "NoAnswer"]

/** A side waited for application data that never came: a mutation can leave both peers waiting. */
class NoAnswer extends Data.TaggedError("NoAnswer") {}

/**
 * How long a part of a case may take before it counts as hung. Everything in a part is bounded
 * well below: the handshake and closing by the driver's timeouts, the exchange by `EXCHANGE_MILLIS`.
 */
const PART_BOUND_MILLIS = 10_000
const EXCHANGE_MILLIS = 1_000
const driverOptions = { handshakeTimeout: "500 millis", closeTimeout: "200 millis" } as const

/**
 * One side's work over `transport`. When it ends, however, the transport ends too, as a socket
 * is closed with its connection: a peer waiting for bytes then sees the end instead of waiting.
 */
const side = <A, E, R>(transport: Transport.Transport, work: Effect.Effect<A, E, R>) =>
  Effect.ensuring(work, transport.end)

/** The exchange after a handshake, bounded: `NoAnswer` when the peer never answers. */
const answered = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.timeoutFail(effect, { duration: EXCHANGE_MILLIS, onTimeout: () => new NoAnswer() })

/** Collects the results and problems of a case's parts. */
class Report {
  readonly results: Array<string> = []
  readonly problems: Array<string> = []

  /** Run `part`, bounded; its failure must be one of `allowed`. The success value, if any. */
  part<A, E extends { readonly _tag: string }, R>(
    name: string,
    allowed: ReadonlyArray<string>,
    part: Effect.Effect<A, E, R>
  ): Effect.Effect<Option.Option<A>, never, R> {
    return Effect.map(Effect.exit(bounded(name, PART_BOUND_MILLIS, part)), (exit) => {
      if (Exit.isSuccess(exit)) {
        this.results.push(`${name}: success`)
        return Option.some(exit.value)
      }
      const failure = Cause.failureOption(exit.cause)
      if (Cause.isDie(exit.cause) || Option.isNone(failure)) {
        this.problems.push(`${name} died: ${Cause.pretty(exit.cause)}`)
      } else {
        const error = failure.value as E & { readonly reason?: unknown; readonly message?: string }
        this.results.push(`${name}: ${error._tag}${typeof error.reason === "string" ? ` ${error.reason}` : ""}`)
        if (!allowed.includes(error._tag)) this.problems.push(`${name}: unexpected ${error._tag}: ${error.message}`)
      }
      return Option.none()
    })
  }
}

const pemBlock = /-----BEGIN ([A-Z ]+)-----([\s\S]*?)-----END \1-----/

const pemOf = (label: string, der: Uint8Array): string => {
  const base64 = Buffer.from(der).toString("base64").replace(/.{1,64}/g, (line) => `${line}\n`)
  return `-----BEGIN ${label}-----\n${base64}-----END ${label}-----\n`
}

const text = (bytes: Uint8Array) => Buffer.from(bytes).toString("latin1")
const latin1 = (s: string) => new Uint8Array(Buffer.from(s, "latin1"))

/** Mutate a PEM text, or the DER of its first block (the rest of the text kept). */
const mutatePem = (pem: string, inner: boolean, mutations: ReadonlyArray<Mutate.StructuredMutation>, donor: string) => {
  if (!inner) return text(Mutate.apply(mutations, "text", latin1(pem), latin1(donor)))
  const block = pemBlock.exec(pem)!
  const donorBlock = pemBlock.exec(donor)!
  const der = Mutate.apply(
    mutations,
    "der",
    Buffer.from(block[2]!, "base64"),
    Buffer.from(donorBlock[2]!, "base64")
  )
  return pem.replace(block[0], pemOf(block[1]!, der).trimEnd())
}

/** Read until the peer's close_notify (or a failure); the plaintext received. */
const readAll = (conn: TlsConnection.TlsConnection) =>
  Effect.gen(function*() {
    const chunks: Array<Uint8Array> = []
    for (;;) {
      const chunk = yield* conn.read
      if (Option.isNone(chunk)) return concat(chunks)
      chunks.push(chunk.value)
    }
  })

/** A relay between a client and a server that mutates chunk `index` of one direction. */
const tamperingRelay = (direction: "toServer" | "toClient", index: number, mutate: (chunk: Uint8Array) => Uint8Array) =>
  Effect.gen(function*() {
    const [client, relayClient] = yield* Transport.memoryPair
    const [relayServer, server] = yield* Transport.memoryPair
    const pump = (from: Transport.Transport, to: Transport.Transport, tampered: boolean) =>
      Effect.gen(function*() {
        for (let n = 0;; n++) {
          const chunk = yield* from.receive
          if (Option.isNone(chunk)) return yield* to.end
          const out = tampered && n === index ? mutate(chunk.value) : chunk.value
          if (out.length > 0) yield* to.send(out)
        }
      }).pipe(Effect.ignore)
    yield* Effect.forkScoped(pump(relayClient, relayServer, direction === "toServer"))
    yield* Effect.forkScoped(pump(relayServer, relayClient, direction === "toClient"))
    return [client, server] as const
  })

/** A connected client and server (each optional options), an exchange, a close: what each side received. */
const exchange = (
  report: Report,
  [a, b]: readonly [Transport.Transport, Transport.Transport],
  client: SslContext.SslContext,
  server: SslContext.SslContext,
  session?: SslSession.SslSession
) =>
  Effect.all([
    report.part(
      "client",
      connectionFailures,
      side(
        a,
        Effect.scoped(Effect.gen(function*() {
          const c = yield* TlsConnection.connect(a, client, { ...driverOptions, hostName: "localhost", session })
          yield* c.write(request)
          const received = yield* answered(readAll(c))
          yield* c.close
          return received
        }))
      )
    ),
    report.part(
      "server",
      connectionFailures,
      side(
        b,
        Effect.scoped(Effect.gen(function*() {
          const s = yield* TlsConnection.accept(b, server, driverOptions)
          const received = yield* answered(readExactly(s, request.length))
          yield* s.write(response)
          yield* s.close
          return received
        }))
      )
    )
  ], { concurrency: 2 }).pipe(Effect.tap(([atClient, atServer]) =>
    Effect.sync(() => {
      // TLS delivers what was sent, in order, or stops: never altered bytes. A side that gave up
      // (NoAnswer) closes cleanly, so its peer may see a clean end before the whole message.
      if (Option.isSome(atServer) && !isPrefix(atServer.value, request)) {
        report.problems.push("the server received altered plaintext")
      }
      if (Option.isSome(atClient) && !isPrefix(atClient.value, response)) {
        report.problems.push("the client received altered plaintext")
      }
      if (Option.isSome(atServer) && Option.isSome(atClient) && atClient.value.length !== response.length) {
        report.problems.push("both sides succeeded, but the client did not receive the whole response")
      }
    })
  ))

const readExactly = (conn: TlsConnection.TlsConnection, length: number) =>
  Effect.gen(function*() {
    const chunks: Array<Uint8Array> = []
    let got = 0
    while (got < length) {
      const chunk = yield* conn.read
      if (Option.isNone(chunk)) break
      chunks.push(chunk.value)
      got += chunk.value.length
    }
    return concat(chunks)
  })

const isPrefix = (part: Uint8Array, whole: Uint8Array) =>
  part.length <= whole.length && part.every((b, i) => b === whole[i])

const runCase = (c: Case, data: Corpus, report: Report): Effect.Effect<void, SslError, OpenSsl | Scope.Scope> =>
  Effect.gen(function*() {
    switch (c._tag) {
      case "Replay": {
        const { client, server } = yield* contexts(c.version)
        const transcript = data.transcripts[c.version]
        const other = data.transcripts[c.version === "TLSv1.2" ? "TLSv1.3" : "TLSv1.2"]
        const heard = c.target === "server" ? transcript.toServer : transcript.toClient
        const donor = c.target === "server" ? other.toServer : other.toClient
        const mutated = Mutate.apply(c.mutations, "tls", concat(heard), concat(donor))
        const chunks = Mutation.apply({ _tag: "Split", cuts: c.cuts }, mutated)
        const [a, b] = yield* Transport.memoryPair
        const [local, peer] = c.target === "server" ? [b, a] : [a, b]
        const play = Effect.gen(function*() {
          // A client speaks first; a server answers the ClientHello.
          if (c.target === "client") yield* peer.receive
          for (const chunk of chunks) yield* peer.send(chunk)
          yield* peer.end
        }).pipe(Effect.ignore)
        yield* Effect.forkScoped(play)
        yield* report.part(
          c.target,
          connectionFailures,
          side(
            local,
            Effect.scoped(Effect.gen(function*() {
              const conn = c.target === "server"
                ? yield* TlsConnection.accept(local, server, driverOptions)
                : yield* TlsConnection.connect(local, client, { ...driverOptions, hostName: "localhost" })
              return yield* answered(readAll(conn))
            }))
          )
        )
        return
      }
      case "InFlight": {
        const { client, server } = yield* contexts(c.version)
        const transcript = data.transcripts[c.version]
        const chunks = c.direction === "toServer" ? transcript.toServer : transcript.toClient
        const donor = concat(c.direction === "toServer" ? transcript.toClient : transcript.toServer)
        const pair = yield* tamperingRelay(
          c.direction,
          c.chunk % chunks.length,
          (chunk) => Mutate.apply(c.mutations, "tls", chunk, donor)
        )
        yield* exchange(report, pair, client, server)
        return
      }
      case "Session": {
        const { client, server } = yield* contexts(c.version)
        const other = data.transcripts[c.version === "TLSv1.2" ? "TLSv1.3" : "TLSv1.2"].session
        const bytes = Mutate.apply(c.mutations, "der", data.transcripts[c.version].session, other)
        const session = yield* report.part("fromBytes", ["InvalidOptionError"], SslSession.fromBytes(client, bytes))
        if (Option.isNone(session)) return
        yield* report.part("toBytes", [], SslSession.toBytes(session.value))
        yield* report.part("isResumable", [], SslSession.isResumable(session.value))
        yield* exchange(report, yield* Transport.memoryPair, client, server, session.value)
        return
      }
      case "Pem": {
        const version = "TLSv1.3"
        const pem = c.part === "chain" ? data.chainPem : c.part === "key" ? data.keyPem : data.rootPem
        const donor = c.part === "trust" ? data.chainPem : data.rootPem
        const mutated = mutatePem(pem, c.inner, c.mutations, donor)
        const made = yield* report.part(
          "SslContext.make",
          ["InvalidOptionError"],
          c.part === "trust"
            ? SslContext.make({ role: "client", maxProtocol: version, trust: { certificates: mutated } })
            : SslContext.make({
              role: "server",
              maxProtocol: version,
              certificate: {
                chain: c.part === "chain" ? mutated : data.chainPem,
                key: Redacted.make(c.part === "key" ? mutated : data.keyPem)
              }
            })
        )
        if (Option.isNone(made)) return
        const { client, server } = yield* contexts(version)
        const pair = yield* Transport.memoryPair
        yield* c.part === "trust"
          ? exchange(report, pair, made.value, server)
          : exchange(report, pair, client, made.value)
        return
      }
      case "Der": {
        const openssl = yield* OpenSsl
        const original = data.certificates[c.certificate % data.certificates.length]!
        const donor = data.certificates[(c.certificate + 1) % data.certificates.length]!
        const der = Mutate.apply(c.mutations, "der", original, donor)
        yield* report.part(
          "parseCertificate",
          ["InvalidOptionError"],
          // The service throws SslError values; anything else it throws is a defect.
          Effect.suspend(() => {
            try {
              return Effect.succeed(openssl.pki!.parseCertificate(der))
            } catch (e) {
              return isSslError(e) ? Effect.fail(e) : Effect.die(e)
            }
          })
        )
        yield* report.part(
          "trust store",
          ["InvalidOptionError"],
          SslContext.make({ role: "client", trust: { certificates: pemOf("CERTIFICATE", der) } })
        )
        return
      }
    }
  })

/** Run one case, audited; what it ended in and any problem. */
export const run = (c: Case): Effect.Effect<Outcome, never, OpenSsl> =>
  Effect.gen(function*() {
    const data = yield* Effect.orDie(corpus)
    const report = new Report()
    const violations = yield* Effect.scoped(Effect.gen(function*() {
      const audit = yield* Effect.orDie(Audit.start)
      // Setting up (valid contexts, a memory pair) must not fail: if it does, the run dies.
      yield* Effect.orDie(Effect.scoped(runCase(c, data, report)))
      return yield* Effect.orDie(audit.finish)
    }))
    report.problems.push(...violations.map(Audit.describeViolation))
    return { results: report.results, problems: report.problems }
  })

/** A case as JSON (bytes as arrays), to print and replay. */
export const describeCase = (c: Case): string =>
  JSON.stringify(c, (_, value) => value instanceof Uint8Array ? Array.from(value) : value)
