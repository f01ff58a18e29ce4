/**
 * `effect-openssl demo`: the tour of internal/demo.ts. Native frees are observed only on an
 * OpenSSL of the binding's own: `EFFECT_OPENSSL_LIBSSL`, or the system's libssl.so.3, when it
 * loads; else Node's own OpenSSL (the tour then shows released leases).
 */
import * as Command from "@effect/cli/Command"
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as NodeOpenSsl from "../../NodeOpenSsl.js"
import { demo as tour } from "../demo.js"
import { failure } from "./failure.js"

const binding = Layer.unwrapEffect(
  Effect.map(
    Config.withDefault(Config.nonEmptyString("EFFECT_OPENSSL_LIBSSL"), "libssl.so.3"),
    (libssl) => NodeOpenSsl.layerLibrary({ libssl, observeFrees: true })
  )
).pipe(Layer.orElse(() => NodeOpenSsl.layer))

export const demo = Command.make("demo", {}, () =>
  Effect.scoped(tour).pipe(
    Effect.provide(binding),
    Effect.mapError((error) => failure(`the demo failed: ${error instanceof Error ? error.message : String(error)}`))
  )).pipe(
    Command.withDescription(
      "a tour: the handle lifecycle, TLS over memory, sessions, verification, node:http over our TLS"
    )
  )
