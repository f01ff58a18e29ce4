/**
 * Run as a process of its own (with `--expose-gc`) by NodeOpenSsl.test.ts: Node frees the native
 * objects of its own TLS (SecureContext, TLSSocket) during garbage collection, where no JavaScript
 * may run. A binding that observes frees must never be called from there. Binds as asked (`node`:
 * Node's own OpenSSL, `library`: the system's libssl.so.3), with free observation, does a handshake,
 * then makes and drops node:tls contexts and collects them. Prints what the binding gave.
 */
import { OpenSsl } from "@effect-openssl/core/OpenSsl"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { createSecureContext } from "node:tls"
import * as NodeOpenSsl from "../../src/NodeOpenSsl.js"
import { handshake } from "./worker.js"

const which = process.argv[2]
const layer = which === "node"
  ? NodeOpenSsl.layerConfig({ observeFrees: true })
  : NodeOpenSsl.layerLibrary({ libssl: "libssl.so.3", observeFrees: true })

const dropContexts = () => {
  for (let i = 0; i < 200; i++) createSecureContext({})
  ;(globalThis as { gc?: () => void }).gc!()
}

// The binding stays open while Node's objects are collected.
const result = await Effect.runPromise(
  Effect.gen(function*() {
    const binding = yield* Layer.build(layer)
    const freed: Array<string> = []
    Context.get(binding, OpenSsl).frees!.observe((event) => freed.push(event.kind))
    const outcome = yield* handshake(Layer.succeedContext(binding))
    dropContexts()
    yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 50)))
    dropContexts()
    // Our own objects only: Node's never reach this binding's callback.
    return { ...outcome, freed: freed.sort() }
  }).pipe(
    Effect.scoped,
    Effect.catchTag("OpenSslLoadError", (error) => Effect.succeed({ error: error.reason }))
  )
)
console.log(JSON.stringify(result))
