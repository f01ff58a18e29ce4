/**
 * What the hardening runs share: certificates issued once per process, contexts for both roles,
 * the binding with free observation, and a real-time bound that turns a hang into a defect.
 */
import { OpenSsl } from "@effect-openssl/core/OpenSsl"
import * as SslContext from "@effect-openssl/core/SslContext"
import type { SslError } from "@effect-openssl/core/SslError"
import * as NodeOpenSsl from "@effect-openssl/node/NodeOpenSsl"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as TestPki from "../src/TestPki.js"

/**
 * The binding with native frees observed (what every hardening run audits against): the system's
 * OpenSSL 3, a copy of its own beside Node's, the only kind that can observe frees.
 */
export const ObservedOpenSsl: Layer.Layer<OpenSsl, NodeOpenSsl.OpenSslLoadError> = NodeOpenSsl.layerLibrary({
  libssl: "libssl.so.3",
  observeFrees: true
})

export type Version = "TLSv1.2" | "TLSv1.3"

export const versions: ReadonlyArray<Version> = ["TLSv1.2", "TLSv1.3"]

const issued = new WeakMap<OpenSsl, TestPki.Pki>()

/** One test PKI per binding (issuing keys costs milliseconds; the runs make thousands of contexts). */
export const pki: Effect.Effect<TestPki.Pki, SslError, OpenSsl> = Effect.flatMap(OpenSsl, (openssl) => {
  const existing = issued.get(openssl)
  if (existing !== undefined) return Effect.succeed(existing)
  return Effect.tap(TestPki.make(), (made) => Effect.sync(() => issued.set(openssl, made)))
})

export interface Contexts {
  readonly client: SslContext.SslContext
  readonly server: SslContext.SslContext
}

/** A client that verifies the server (host `localhost`) and a server, both at most `version`. */
export const contexts = (
  version: Version,
  extra: { readonly client?: Partial<SslContext.Options>; readonly server?: Partial<SslContext.Options> } = {}
): Effect.Effect<Contexts, SslError, OpenSsl | Scope.Scope> =>
  Effect.gen(function*() {
    const { server, trust } = yield* pki
    return {
      client: yield* SslContext.make({
        role: "client",
        trust: { certificates: trust },
        maxProtocol: version,
        ...extra.client
      }),
      server: yield* SslContext.make({
        role: "server",
        certificate: { chain: server.chain, key: server.key },
        maxProtocol: version,
        ...extra.server
      })
    }
  })

/** Bound `effect` in real time: a hang becomes a defect naming what hung. */
export const bounded = <A, E, R>(what: string, millis: number, effect: Effect.Effect<A, E, R>) =>
  Effect.raceFirst(
    effect,
    Effect.zipRight(Effect.sleep(millis), Effect.dieMessage(`${what}: still running after ${millis} ms`))
  )
