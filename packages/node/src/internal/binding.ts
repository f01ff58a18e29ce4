import type { Features, OpenSsl } from "@effect-openssl/core/OpenSsl"
import { TypeId } from "@effect-openssl/core/OpenSsl"
import * as OptionFlag from "@effect-openssl/core/OptionFlag"
import type { Loaded } from "./ffi/load.js"
import { observeFrees, type Observer } from "./frees.js"
import { makeHandles } from "./handles.js"
import { makeIo } from "./io.js"
import { makeKit } from "./kit.js"
import { libraryOf } from "./library.js"
import { makePki } from "./pki.js"
import { makeSessions } from "./sessions.js"

export interface BindingOptions {
  readonly implementation: "node" | "library"
  /**
   * Observe native frees through ex_data free callbacks. The callback runs for every
   * SSL/SSL_CTX/SSL_SESSION freed in the process (node:tls's too), so it is opt-in.
   */
  readonly observeFrees: boolean
}

export interface Binding {
  readonly service: OpenSsl
  /** Give back what this binding holds of its own (free observation); the library's shared part stays. */
  readonly close: () => void
}

/** Build the `OpenSsl` service over a loaded library: its capability records, owned by a token of this binding. */
export const makeBinding = (loaded: Loaded, options: BindingOptions): Binding => {
  const library = libraryOf(loaded)
  const observer: Observer | undefined = options.observeFrees ? observeFrees(library) : undefined
  const owner = {}
  const kit = makeKit(library, owner, observer === undefined ? () => {} : observer.stamp)
  const { native, version } = library
  const { handshake, io } = makeIo(kit)

  const features: Features = {
    optionFlags: OptionFlag.knownBy(version.number),
    postQuantumGroups: version.number >= 0x30500000,
    keylog: native.SSL_CTX_set_keylog_callback !== undefined,
    clientHelloCallback: native.SSL_CTX_set_client_hello_cb !== undefined,
    certificateCompression: native.SSL_CTX_compress_certs !== undefined
  }

  const service: OpenSsl = {
    [TypeId]: TypeId,
    implementation: options.implementation,
    version,
    features,
    handles: makeHandles(kit),
    handshake,
    io,
    sessions: makeSessions(kit),
    pki: makePki(native, library.errors),
    frees: observer?.frees
  }
  return { service, close: () => observer?.close() }
}
