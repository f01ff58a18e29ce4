#!/usr/bin/env node
/**
 * The `effect-openssl` command.
 *
 * @since 0.1.0
 */
import { OpenSsl } from "@effect-openssl/core/OpenSsl"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import { demo } from "./internal/demo.js"
import * as NodeOpenSsl from "./NodeOpenSsl.js"

const usage = `usage: effect-openssl <command>

commands:
  demo      a tour: the handle lifecycle, TLS over memory, sessions, verification, node:http over our TLS
  version   the OpenSSL this binding uses`

const commands: Record<string, Effect.Effect<void, unknown>> = {
  demo: Effect.scoped(demo).pipe(Effect.provide(NodeOpenSsl.layerWith({ observeFrees: true }))),
  version: OpenSsl.pipe(
    Effect.flatMap((openssl) => Console.log(openssl.version.text)),
    Effect.provide(NodeOpenSsl.layerConfig())
  )
}

const command = commands[process.argv[2] ?? ""]
if (command === undefined) {
  console.error(usage)
  process.exitCode = 2
} else {
  Effect.runPromiseExit(command).then((exit) => {
    if (exit._tag === "Failure") {
      console.error(exit.cause)
      process.exitCode = 1
    }
  })
}
