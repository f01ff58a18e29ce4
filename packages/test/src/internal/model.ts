import type { IpAddress } from "@effect-openssl/core/HostName"
import type {
  ContextConfig,
  Features,
  FreeEvent,
  Handles,
  Handshake,
  HandshakeStep,
  NativeRef,
  OpenSsl,
  Role,
  Settings,
  SslSettings,
  VerifyMode,
  Version
} from "@effect-openssl/core/OpenSsl"
import { TypeId } from "@effect-openssl/core/OpenSsl"
import * as OptionFlag from "@effect-openssl/core/OptionFlag"
import type { NativeKind, OpenSslErrorEntry } from "@effect-openssl/core/SslError"
import {
  driverConflict,
  InvalidOptionError,
  OpenSslError,
  ReleasedHandleError,
  TlsError
} from "@effect-openssl/core/SslError"
import * as Data from "effect/Data"

/** What `SSL_CTX_new` sets before any configuration (OpenSSL 3.0 and 3.5 agree). */
const defaultOptions: ReadonlyArray<OptionFlag.OptionFlag> = ["NO_COMPRESSION", "ENABLE_MIDDLEBOX_COMPAT"]
const SSL_MODE_AUTO_RETRY = 4
/** What the binding sets when it attaches memory BIOs: partial writes, moving write buffers. */
const SSL_MODE_ENGINE = 1 | 2
const DEFAULT_SESSION_TIMEOUT = 7200
const verifyBits: Record<VerifyMode, number> = { none: 0, peer: 1, require: 3 }

export const version: Version = {
  text: "effect-openssl lifecycle model (OpenSSL 3.0 semantics)",
  number: 0x30000000,
  major: 3,
  minor: 0,
  patch: 0
}

// A model has no handshake, so it has none of the callback or compression features; it always
// reports its frees.
export const features: Features = {
  optionFlags: OptionFlag.all,
  postQuantumGroups: false,
  keylog: false,
  clientHelloCallback: false,
  certificateCompression: false
}

/** The error queue entries OpenSSL 3.0 leaves for the handshake failures the model reproduces. */
const sslEntry = (reason: number, code: number, reasonText: string): OpenSslErrorEntry => ({
  code,
  library: 20,
  libraryName: "SSL routines",
  reason,
  reasonText,
  message: `error:${code.toString(16).toUpperCase().padStart(8, "0")}:SSL routines::${reasonText}`
})
const CONNECTION_TYPE_NOT_SET = sslEntry(144, 0x0a000090, "connection type not set")
const SHOULD_NOT_HAVE_BEEN_CALLED = sslEntry(0xc0101, 0x0a0c0101, "called a function you should not call")
const READ_BIO_NOT_SET = sslEntry(211, 0x0a0000d3, "read bio not set")

// The binding's reading of SSL_get_error: SSL_ERROR_SSL is a protocol failure; SSL_ERROR_SYSCALL
// with an empty queue is an end of stream.
const protocolError = (entry: OpenSslErrorEntry) =>
  new TlsError({ reason: "Protocol", operation: "SSL_do_handshake (SSL_ERROR_SSL)", entries: [entry] })
const eofError = () => new TlsError({ reason: "UnexpectedEof", operation: "SSL_do_handshake", entries: [] })

const utf8 = new TextEncoder()

/** An address as OpenSSL prints it back: dotted decimal, or eight upper-case hex groups. */
const openSslIpText = (ip: IpAddress): string => {
  if (ip.family === 4) return ip.address
  const [head, tail] = ip.address.split("::") as [string, string | undefined]
  const groups = (part: string | undefined): Array<number> =>
    part === undefined || part === "" ? [] : part.split(":").flatMap((g) => {
      if (!g.includes(".")) return [parseInt(g, 16)]
      const [a, b, c, d] = g.split(".").map(Number) as [number, number, number, number]
      return [(a << 8) | b, (c << 8) | d]
    })
  const left = groups(head)
  const right = groups(tail)
  const zeros = tail === undefined ? [] : Array<number>(8 - left.length - right.length).fill(0)
  return [...left, ...zeros, ...right].map((g) => g.toString(16).toUpperCase()).join(":")
}

export class WouldCrash extends Data.TaggedError("WouldCrash")<{
  readonly operation: string
  readonly reason: string
}> {
  override get message(): string {
    return `${this.operation} would crash OpenSSL: ${this.reason}`
  }
}

interface ContextObject {
  readonly kind: "SSL_CTX"
  readonly id: number
  readonly address: bigint
  refs: number
  readonly config: ContextConfig
  readonly settings: Settings
}

/**
 * One `SSL`. The handshake state is what `SSL_in_before` and `SSL_do_handshake` can tell
 * without any record ever being exchanged: not started, started, or failed fatally.
 */
interface SslObject {
  readonly kind: "SSL"
  readonly id: number
  readonly address: bigint
  refs: number
  readonly ctx: ContextObject
  /** The handshake function: set by `SSL_set_connect_state` / `SSL_set_accept_state`. */
  connection: "client" | "server" | undefined
  /** `SSL_is_server`: from the method until a role is set. */
  isServer: boolean
  hostName: string | undefined
  /** As OpenSSL reads it back (`X509_VERIFY_PARAM_get0_host` / `get1_ip_asc`). */
  verifyHost: string | undefined
  mode: number
  bio: boolean
  state: "before" | "started" | "error"
}

const settingsOf = (config: ContextConfig): Settings => {
  // As the binding does on 3.0: a server that allows renegotiation accepts a client's.
  const allowClient: ReadonlyArray<OptionFlag.OptionFlag> = config.allowRenegotiation && config.role !== "client"
    ? ["ALLOW_CLIENT_RENEGOTIATION"]
    : []
  const set = new Set([...defaultOptions, ...config.options, ...allowClient])
  const options = OptionFlag.all.filter((flag) => set.has(flag))
  return {
    role: config.role,
    minProtocol: config.minProtocol,
    maxProtocol: config.maxProtocol,
    options,
    optionBits: OptionFlag.toBits(options),
    mode: SSL_MODE_AUTO_RETRY,
    verifyMode: config.verifyMode,
    verifyModeBits: verifyBits[config.verifyMode],
    verifyDepth: config.verifyDepth ?? -1,
    // The model has no cipher tables: expanding a cipher string is OpenSSL's own language.
    ciphers: [],
    sessionTimeoutSeconds: config.sessionTimeoutSeconds ?? DEFAULT_SESSION_TIMEOUT,
    // OpenSSL's default is "server"; the binding makes clients cache so new sessions are reported.
    sessionCacheMode: config.sessionCacheMode ?? (config.role === "client" ? "client" : "server")
  }
}

/** Whether the context's method has the handshake function for this role. */
const methodAllows = (method: Role, connection: "client" | "server") => method === "any" || method === connection

/** The capability records the model provides; the others (`io`, `sessions`, `pki`) it leaves out. */
export const capabilities = ["handles", "handshake", "frees"] as const satisfies ReadonlyArray<keyof OpenSsl>

export const makeModel = (): OpenSsl => {
  const objects = new Map<number, ContextObject | SslObject>()
  const listeners = new Set<(event: FreeEvent) => void>()
  // One counter for every kind, as the binding stamps ids.
  let nextId = 1
  const stamp = () => {
    const id = nextId++
    // Addresses look like pointers and are never reused, so pointer identity means object identity.
    return { id, address: 0x10000n + BigInt(id) * 0x400n }
  }

  // A freed or foreign object is what the real library would crash on (use after free, double
  // free); the model reports it as a typed error instead.
  const lookup = <K extends NativeKind>(ref: NativeRef, kind: K, operation: string) => {
    const object = objects.get(ref.id)
    if (ref.owner !== owner) {
      throw new InvalidOptionError({ option: kind, reason: `${operation}: this ${kind} belongs to another OpenSsl` })
    }
    if (object === undefined || object.kind !== kind || object.address !== ref.address || ref.kind !== kind) {
      throw new ReleasedHandleError({ kind, operation: `${operation} (no live ${kind} #${ref.id} in the model)` })
    }
    return object as K extends "SSL" ? SslObject : ContextObject
  }
  // The model's identity, as a binding's: refs it did not make are refused.
  const owner = {}
  const refOf = (object: ContextObject | SslObject): NativeRef => ({
    kind: object.kind,
    address: object.address,
    id: object.id,
    owner
  })
  const emit = (object: ContextObject | SslObject) => {
    objects.delete(object.id)
    const event: FreeEvent = { kind: object.kind, id: object.id }
    for (const listener of listeners) listener(event)
  }
  const dropContext = (ctx: ContextObject) => {
    if (--ctx.refs === 0) emit(ctx)
  }
  const newSsl = (ctx: ContextObject): SslObject => {
    const ssl: SslObject = {
      kind: "SSL",
      ...stamp(),
      refs: 1,
      ctx,
      connection: undefined,
      isServer: ctx.config.role !== "client",
      hostName: undefined,
      verifyHost: undefined,
      mode: ctx.settings.mode,
      bio: false,
      state: "before"
    }
    // SSL_new holds its context: the context lives until its last SSL is freed.
    ctx.refs++
    objects.set(ssl.id, ssl)
    return ssl
  }

  const handles: Handles = {
    contextNew: (config) => {
      const ctx: ContextObject = { kind: "SSL_CTX", ...stamp(), refs: 1, config, settings: settingsOf(config) }
      objects.set(ctx.id, ctx)
      return refOf(ctx)
    },
    contextFree: (ref) => dropContext(lookup(ref, "SSL_CTX", "SSL_CTX_free")),
    contextSettings: (ref) => lookup(ref, "SSL_CTX", "contextSettings").settings,

    sslNew: (ref) => refOf(newSsl(lookup(ref, "SSL_CTX", "SSL_new"))),
    sslUpRef: (ref) => {
      lookup(ref, "SSL", "SSL_up_ref").refs++
    },
    sslFree: (ref) => {
      const ssl = lookup(ref, "SSL", "SSL_free")
      if (--ssl.refs > 0) return
      // SSL_free frees the SSL's ex_data (its free event) before it drops the context.
      emit(ssl)
      dropContext(ssl.ctx)
    },
    sslDup: (ref) => {
      const ssl = lookup(ref, "SSL", "SSL_dup")
      if (ssl.state !== "before") {
        ssl.refs++
        return ref
      }
      // What SSL_dup copies of a fresh handle: settings (the mode; the rest is the context's here)
      // and the handshake role. Not the BIOs, not the SNI host name.
      const copy = newSsl(ssl.ctx)
      copy.connection = ssl.connection
      copy.isServer = ssl.isServer
      copy.mode = ssl.mode
      copy.verifyHost = ssl.verifyHost // X509_VERIFY_PARAM_inherit
      return refOf(copy)
    },
    sslInBefore: (ref) => lookup(ref, "SSL", "SSL_in_before").state === "before",
    sslSettings: (ref): SslSettings => {
      const ssl = lookup(ref, "SSL", "sslSettings")
      return {
        ...ssl.ctx.settings,
        mode: ssl.mode,
        isServer: ssl.isServer,
        hostName: ssl.hostName,
        inBefore: ssl.state === "before",
        verifyHost: ssl.verifyHost
      }
    },
    sslSetRole: (ref, role) => {
      const ssl = lookup(ref, "SSL", role === "client" ? "SSL_set_connect_state" : "SSL_set_accept_state")
      ssl.connection = role
      ssl.isServer = role === "server"
      // Setting the state clears the state machine: even a started handle is back before the
      // handshake (SSL_in_before is true again).
      ssl.state = "before"
    },
    sslSetHostName: (ref, { name: hostName }) => {
      const ssl = lookup(ref, "SSL", "SSL_set_tlsext_host_name")
      if (hostName.length === 0 || utf8.encode(hostName).length > 255 || hostName.includes("\0")) {
        throw new InvalidOptionError({ option: "hostName", reason: "a host name is 1 to 255 bytes without NUL" })
      }
      ssl.hostName = hostName
    },
    // The name is parsed before it gets here; only a handshake, which the model never completes, uses it.
    sslSetVerifyHost: (ref, host) => {
      lookup(ref, "SSL", "SSL_set1_host").verifyHost = host._tag === "DnsName" ? host.name : openSslIpText(host)
    }
  }

  const handshake: Handshake = {
    attachMemory: (ref) => {
      const ssl = lookup(ref, "SSL", "sslAttachMemory")
      if (ssl.bio) {
        throw driverConflict("attach")
      }
      ssl.bio = true
      ssl.mode |= SSL_MODE_ENGINE
    },
    step: (ref): HandshakeStep => {
      const ssl = lookup(ref, "SSL", "SSL_do_handshake")
      if (ssl.connection === undefined) throw protocolError(CONNECTION_TYPE_NOT_SET)
      if (!methodAllows(ssl.ctx.config.role, ssl.connection)) throw protocolError(SHOULD_NOT_HAVE_BEEN_CALLED)
      if (ssl.state === "error") {
        if (ssl.bio) throw eofError()
        // OpenSSL 3.0 and 3.5 dereference the missing BIO here and the process dies (SIGSEGV).
        throw new OpenSslError({
          operation: "SSL_do_handshake",
          entries: [],
          cause: new WouldCrash({
            operation: "SSL_do_handshake",
            reason: "a server handshake step after a fatal error, with no BIOs attached"
          })
        })
      }
      ssl.state = "started"
      if (ssl.bio) return "want-read" // the client wrote its ClientHello; both now wait for the peer
      if (ssl.connection === "client") {
        // Writing the ClientHello failed; the write is retried on the next call.
        throw eofError()
      }
      // A server without a read BIO fails fatally; later calls report a syscall error.
      ssl.state = "error"
      throw protocolError(READ_BIO_NOT_SET)
    }
  }

  return {
    [TypeId]: TypeId,
    implementation: "model",
    version,
    features,
    handles,
    handshake,
    io: undefined,
    sessions: undefined,
    pki: undefined,
    frees: {
      observe: (listener) => {
        listeners.add(listener)
        return () => {
          listeners.delete(listener)
        }
      }
    }
  }
}
