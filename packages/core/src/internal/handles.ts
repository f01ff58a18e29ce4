import { pipeArguments } from "effect/Pipeable"
import type { ContextConfig, Role } from "../OpenSsl.js"
import type { HandshakeState, Ssl } from "../Ssl.js"
import type { SslContext } from "../SslContext.js"
import type { SslSession } from "../SslSession.js"
import type { Lease } from "./lease.js"

// Type ids live here, not in the public modules, so the classes below can use them without an
// import cycle; the public modules re-export them.
export const SslTypeId: unique symbol = Symbol.for("@effect-openssl/core/Ssl")
export const ContextTypeId: unique symbol = Symbol.for("@effect-openssl/core/SslContext")
export const SessionTypeId: unique symbol = Symbol.for("@effect-openssl/core/SslSession")

/** The runtime object behind `SslContext`: the lease plus the frozen configuration. */
export class SslContextImpl implements SslContext {
  readonly [ContextTypeId]: typeof ContextTypeId = ContextTypeId
  readonly config: ContextConfig
  constructor(readonly lease: Lease, config: ContextConfig) {
    this.config = Object.freeze({ ...config })
  }
  get role(): Role {
    return this.config.role
  }
  pipe() {
    return pipeArguments(this, arguments)
  }
  toString() {
    return `SslContext(${this.config.role}${this.lease.released ? ", released" : ""})`
  }
}

/** The runtime object behind `Ssl<S>`; the state parameter exists only in the type. */
export class SslImpl implements Ssl<HandshakeState> {
  declare readonly [SslTypeId]: { readonly _S: HandshakeState }
  constructor(readonly lease: Lease, readonly context: SslContext) {}
  pipe() {
    return pipeArguments(this, arguments)
  }
  toString() {
    return `Ssl(#${this.lease.ref.id}${this.lease.released ? ", released" : ""})`
  }
}

/** The runtime object behind `SslSession`. */
export class SslSessionImpl implements SslSession {
  readonly [SessionTypeId]: typeof SessionTypeId = SessionTypeId
  constructor(readonly lease: Lease, readonly context: SslContext) {}
  pipe() {
    return pipeArguments(this, arguments)
  }
  toString() {
    return `SslSession(#${this.lease.ref.id}${this.lease.released ? ", released" : ""})`
  }
}

export const contextLease = (self: SslContext): Lease => (self as SslContextImpl).lease
export const sslLease = (self: Ssl): Lease => (self as SslImpl).lease
export const sessionLease = (self: SslSession): Lease => (self as SslSessionImpl).lease
