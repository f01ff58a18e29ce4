import { globalValue } from "effect/GlobalValue"
import * as koffi from "koffi"
import { callbackPrototypes } from "./table.js"

export type CallbackTypes = Readonly<Record<keyof typeof callbackPrototypes, koffi.TypeObject>>

/**
 * Pointer types of the callback prototypes, for `koffi.register`. koffi type names are
 * process-wide and cannot be declared twice, so they are declared once per process.
 */
export const callbackTypes = (): CallbackTypes =>
  globalValue(
    Symbol.for("@effect-openssl/node/callbackTypes"),
    () =>
      Object.fromEntries(
        Object.entries(callbackPrototypes).map(([name, proto]) => [name, koffi.pointer(koffi.proto(proto))])
      ) as CallbackTypes
  )
