/**
 * Run in worker threads by workers.ts: builds the binding (with free observation when asked),
 * does a handshake over memory, and reports back to the parent.
 */
import type { OpenSsl } from "@effect-openssl/core/OpenSsl"
import * as SslContext from "@effect-openssl/core/SslContext"
import * as TlsConnection from "@effect-openssl/core/TlsConnection"
import * as Transport from "@effect-openssl/core/Transport"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import { readFileSync } from "node:fs"
import { isMainThread, parentPort, workerData } from "node:worker_threads"
import * as NodeOpenSsl from "../../src/NodeOpenSsl.js"

const fixture = (name: string) => readFileSync(new URL(`../fixtures/${name}`, import.meta.url), "utf8")
/** The binding a worker builds: Node's own OpenSSL, or the system's with free observation. */
export const bindingOf = (observeFrees: boolean): Layer.Layer<OpenSsl, NodeOpenSsl.OpenSslLoadError> =>
  observeFrees ? NodeOpenSsl.layerLibrary({ libssl: "libssl.so.3", observeFrees: true }) : NodeOpenSsl.layer

/** A handshake over memory with a binding of this thread: the protocol, or why the binding failed. */
export const handshake = (binding: Layer.Layer<OpenSsl, NodeOpenSsl.OpenSslLoadError>) =>
  Effect.gen(function*() {
    const server = yield* SslContext.make({
      role: "server",
      certificate: { chain: fixture("server.pem"), key: Redacted.make(fixture("server.key")) }
    })
    const client = yield* SslContext.make({ role: "client", trust: { certificates: fixture("ca.pem") } })
    const [a, b] = yield* Transport.memoryPair
    const [c] = yield* Effect.all([
      TlsConnection.connect(a, client, { hostName: "localhost" }),
      TlsConnection.accept(b, server)
    ], { concurrency: 2 })
    return (yield* c.info).protocol
  }).pipe(
    Effect.scoped,
    Effect.provide(binding),
    Effect.match({
      onSuccess: (protocol) => ({ ok: protocol }),
      onFailure: (error) => ({ error: error._tag === "OpenSslLoadError" ? error.reason : String(error) })
    })
  )

if (!isMainThread) {
  const { observeFrees } = workerData as { readonly observeFrees: boolean }
  void Effect.runPromise(handshake(bindingOf(observeFrees))).then((result) => parentPort!.postMessage(result))
}
