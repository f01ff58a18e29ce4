import * as HostName from "../HostName.js"
import type { NativeRef, OpenSsl } from "../OpenSsl.js"
import { capability } from "../OpenSsl.js"
import type { MakeOptions } from "../Ssl.js"
import type { SslContext } from "../SslContext.js"
import { InvalidOptionError } from "../SslError.js"
import { contextLease, sessionLease } from "./handles.js"

const parsed = (host: string | HostName.HostName, option: string): HostName.HostName =>
  typeof host === "string"
    ? HostName.parseOrThrow(host, option)
    : HostName.parseOrThrow(HostName.toString(host), option)

const sniName = (host: string | HostName.DnsName): HostName.DnsName => {
  const name = parsed(host, "hostName")
  if (name._tag !== "DnsName") {
    throw new InvalidOptionError({ option: "hostName", reason: "SNI carries DNS names, not IP addresses" })
  }
  return name
}

/**
 * How an `SSL` is made from `context` with `options` and freed: the synchronous acquire (throws
 * `SslError` or `InvalidOptionError`, having freed what it allocated) and release that
 * `Ssl.make` holds in a scope and `TlsConnection.unsafeAccept` in a connection's own group.
 */
export const sslAcquire = (
  context: SslContext,
  options: MakeOptions | undefined,
  operation: string
): { readonly openssl: OpenSsl; readonly acquire: () => NativeRef; readonly free: (ref: NativeRef) => void } => {
  const ctxLease = contextLease(context)
  const openssl = ctxLease.openssl
  return {
    openssl,
    acquire: () => {
      // Names are parsed before anything is allocated.
      const hostName = options?.hostName === undefined ? undefined : sniName(options.hostName)
      const verifyHost = options?.verifyHost === undefined ? undefined : parsed(options.verifyHost, "verifyHost")
      const ref = openssl.handles.sslNew(ctxLease.unsafeRef(operation))
      try {
        if (options?.role !== undefined) openssl.handles.sslSetRole(ref, options.role)
        if (hostName !== undefined) openssl.handles.sslSetHostName(ref, hostName)
        if (verifyHost !== undefined) openssl.handles.sslSetVerifyHost(ref, verifyHost)
        if (options?.session !== undefined) {
          // The same context object, not just the same id: ids are per binding, and a session of
          // another binding's context must never reach this one.
          if (contextLease(options.session.context) !== ctxLease) {
            throw new InvalidOptionError({ option: "session", reason: "the session belongs to another context" })
          }
          capability(openssl, "sessions", operation).set(ref, sessionLease(options.session).unsafeRef(operation))
        }
      } catch (e) {
        openssl.handles.sslFree(ref)
        throw e
      }
      return ref
    },
    free: (ref) => openssl.handles.sslFree(ref)
  }
}
