/** `effect-openssl demo`: the tour of internal/demo.ts, on Node's own OpenSSL with native frees observed. */
import * as Command from "@effect/cli/Command"
import * as Effect from "effect/Effect"
import * as NodeOpenSsl from "../../NodeOpenSsl.js"
import { demo as tour } from "../demo.js"
import { failure } from "./failure.js"

export const demo = Command.make("demo", {}, () =>
  Effect.scoped(tour).pipe(
    Effect.provide(NodeOpenSsl.layerWith({ observeFrees: true })),
    Effect.mapError((error) => failure(`the demo failed: ${error instanceof Error ? error.message : String(error)}`))
  )).pipe(
    Command.withDescription(
      "a tour: the handle lifecycle, TLS over memory, sessions, verification, node:http over our TLS"
    )
  )
