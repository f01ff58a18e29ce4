/** `effect-openssl version`: this package's version, and the OpenSSL the binding loaded, from where. */
import { OpenSsl } from "@effect-openssl/core/OpenSsl"
import * as Command from "@effect/cli/Command"
import * as Config from "effect/Config"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { packageInfo } from "../packageInfo.js"

const run = Effect.gen(function*() {
  const openssl = yield* OpenSsl
  // The same variables NodeOpenSsl.layerConfig read to bind it.
  const libssl = yield* Config.option(Config.nonEmptyString("EFFECT_OPENSSL_LIBSSL"))
  const libcrypto = yield* Config.option(Config.nonEmptyString("EFFECT_OPENSSL_LIBCRYPTO"))
  const source = openssl.implementation === "node"
    ? `Node's own (node ${process.versions.node}), through the process's symbols`
    : `the external library ${Option.getOrElse(libssl, () => "?")}${
      Option.match(libcrypto, { onNone: () => "", onSome: (file) => ` with ${file}` })
    } (EFFECT_OPENSSL_LIBSSL)`
  yield* Console.log(`${packageInfo.name} ${packageInfo.version}\n${openssl.version.text}: ${source}`)
}).pipe(Effect.orDie)

export const version = Command.make("version", {}, () => run).pipe(
  Command.withDescription("the version of this package and of the OpenSSL it binds, and which library that is")
)
