import * as koffi from "koffi"
import { callbackPrototypes } from "./table.js"

export type CallbackTypes = Readonly<Record<keyof typeof callbackPrototypes, koffi.TypeObject>>

let declared: CallbackTypes | undefined

/**
 * Pointer types of the callback prototypes, for `koffi.register`. koffi type names are
 * process-wide and cannot be declared twice, so this runs once per process.
 */
export const callbackTypes = (): CallbackTypes => {
  declared ??= Object.fromEntries(
    Object.entries(callbackPrototypes).map(([name, proto]) => [name, koffi.pointer(koffi.proto(proto))])
  ) as CallbackTypes
  return declared
}
