/**
 * The raw koffi column of the TLS benchmark: the C reference's memory-BIO loop (c/tls.c),
 * line for line, as TypeScript calling OpenSSL through koffi. It measures what the FFI
 * crossing costs with no engine around it, the floor for the library column.
 */
import * as koffi from "koffi"
import {
  BIO_C_SET_BUF_MEM_EOF_RETURN,
  SSL_CTRL,
  SSL_ERROR,
  SSL_VERIFY,
  TLSEXT_NAMETYPE_host_name
} from "../ffi/constants.js"
import { load } from "../ffi/load.js"
import type { Ptr, PtrOrNull } from "../ffi/table.js"
import type { TlsColumn, TlsFixture } from "./tls.js"

const TLS1_3_VERSION = 0x304
/** Larger than anything one end writes between two pumps (a handshake flight, a 16 KiB record). */
const WIRE = 65536

/**
 * The three functions this column needs that the library never calls, so its table does not
 * declare them: the library checks host names through the verify parameters, takes sessions
 * from the new-session callback, and reads the protocol version as a name.
 */
interface Extra {
  readonly SSL_set1_host: (ssl: Ptr<"SSL">, host: string) => number
  readonly SSL_get1_session: (ssl: Ptr<"SSL">) => PtrOrNull<"SSL_SESSION">
  readonly SSL_version: (ssl: Ptr<"SSL">) => number
}

const bindExtra = (): Extra => {
  const lib = koffi.load(null)
  return {
    SSL_set1_host: lib.func("int SSL_set1_host(void *ssl, const char *hostname)"),
    SSL_get1_session: lib.func("void *SSL_get1_session(void *ssl)"),
    SSL_version: lib.func("int SSL_version(const void *ssl)")
  }
}

/** One end of a connection: `input` carries bytes from the network to SSL, `output` the reverse. */
interface End {
  readonly ssl: Ptr<"SSL">
  readonly input: Ptr<"BIO">
  readonly output: Ptr<"BIO">
}

type Native = ReturnType<typeof load>["native"]

/** The error OpenSSL queued for `what`, as an Error (the queue is cleared). */
const failure = (native: Native, what: string): Error => {
  const code = native.ERR_get_error()
  const text = Buffer.alloc(256)
  if (code !== 0) native.ERR_error_string_n(code, text, text.length)
  native.ERR_clear_error()
  return new Error(code === 0 ? what : `${what}: ${text.toString("latin1").replace(/\0.*$/s, "")}`)
}

const readPem = <A>(native: Native, pem: string, read: (bio: Ptr<"BIO">) => A | null): A => {
  const bio = native.BIO_new(native.BIO_s_mem())
  if (bio === null) throw failure(native, "BIO_new")
  try {
    const bytes = Buffer.from(pem)
    if (native.BIO_write(bio, bytes, bytes.length) !== bytes.length) throw failure(native, "BIO_write")
    const value = read(bio)
    if (value === null) throw failure(native, "cannot parse PEM")
    return value
  } finally {
    native.BIO_free(bio)
  }
}

/** A TLS 1.3-only context with the fixture's one cipher suite. */
const newContext = (native: Native, fixture: TlsFixture, method: Ptr<"SSL_METHOD">): Ptr<"SSL_CTX"> => {
  const ctx = native.SSL_CTX_new(method)
  if (ctx === null) throw failure(native, "SSL_CTX_new")
  if (
    Number(native.SSL_CTX_ctrl(ctx, SSL_CTRL.SET_MIN_PROTO_VERSION, TLS1_3_VERSION, null)) !== 1 ||
    Number(native.SSL_CTX_ctrl(ctx, SSL_CTRL.SET_MAX_PROTO_VERSION, TLS1_3_VERSION, null)) !== 1 ||
    native.SSL_CTX_set_ciphersuites(ctx, fixture.cipher) !== 1
  ) {
    native.SSL_CTX_free(ctx)
    throw failure(native, `cannot create a TLS 1.3 context with ${fixture.cipher}`)
  }
  return ctx
}

/** A server context presenting the fixture's certificate (owned by the caller, never freed here). */
const serverContext = (native: Native, fixture: TlsFixture): Ptr<"SSL_CTX"> => {
  const cert = readPem(native, fixture.certPem, (bio) => native.PEM_read_bio_X509(bio, null, null, null))
  try {
    const key = readPem(native, fixture.keyPem, (bio) => native.PEM_read_bio_PrivateKey(bio, null, null, null))
    try {
      const server = newContext(native, fixture, native.TLS_server_method())
      if (
        native.SSL_CTX_use_certificate(server, cert) !== 1 || native.SSL_CTX_use_PrivateKey(server, key) !== 1 ||
        native.SSL_CTX_check_private_key(server) !== 1
      ) {
        native.SSL_CTX_free(server)
        throw failure(native, "cannot install the server certificate")
      }
      return server
    } finally {
      native.EVP_PKEY_free(key) // the context holds its own reference
    }
  } finally {
    native.X509_free(cert)
  }
}

/**
 * The binding's table over the OpenSSL inside Node, and a server context as `rawKoffiColumn`'s:
 * what the loopback table's floor server (`bench/loopback/servers/echoFloor.ts`) drives.
 */
export const rawServerContext = (fixture: TlsFixture): { readonly native: Native; readonly ctx: Ptr<"SSL_CTX"> } => {
  const { native } = load({ _tag: "Process" })
  return { native, ctx: serverContext(native, fixture) }
}

export const rawKoffiColumn = (fixture: TlsFixture): TlsColumn => {
  const { native } = load({ _tag: "Process" })
  const extra = bindExtra()
  const wire = Buffer.allocUnsafe(WIRE)
  const hostName = Buffer.from(`${fixture.host}\0`)
  const fail = (what: string): Error => failure(native, what)

  /** One context per side: the server presents the certificate; the client trusts the CA and verifies the chain. */
  const contexts = (): { readonly client: Ptr<"SSL_CTX">; readonly server: Ptr<"SSL_CTX"> } => {
    const server = serverContext(native, fixture)
    let client: PtrOrNull<"SSL_CTX"> = null
    try {
      const ca = readPem(native, fixture.caPem, (bio) => native.PEM_read_bio_X509(bio, null, null, null))
      try {
        client = newContext(native, fixture, native.TLS_client_method())
        if (native.X509_STORE_add_cert(native.SSL_CTX_get_cert_store(client), ca) !== 1) {
          throw fail("cannot add the CA to the client's store")
        }
      } finally {
        native.X509_free(ca) // the store holds its own reference
      }
      native.SSL_CTX_set_verify(client, SSL_VERIFY.PEER, null)
      const both = { client, server }
      client = null // now owned by the column, freed by its close()
      return both
    } catch (e) {
      native.SSL_CTX_free(server)
      if (client !== null) native.SSL_CTX_free(client)
      throw e
    }
  }
  const ctx = contexts()

  const newEnd = (context: Ptr<"SSL_CTX">, server: boolean): End => {
    const ssl = native.SSL_new(context)
    const input = native.BIO_new(native.BIO_s_mem())
    const output = native.BIO_new(native.BIO_s_mem())
    // An empty input BIO means "no bytes yet" (WANT_READ), not end of stream.
    if (
      ssl === null || input === null || output === null ||
      Number(native.BIO_ctrl(input, BIO_C_SET_BUF_MEM_EOF_RETURN, -1, null)) !== 1
    ) {
      if (ssl !== null) native.SSL_free(ssl)
      if (input !== null) native.BIO_free(input)
      if (output !== null) native.BIO_free(output)
      throw fail("SSL_new/BIO_new")
    }
    native.SSL_set_bio(ssl, input, output) // the SSL owns both BIOs from here
    if (server) native.SSL_set_accept_state(ssl)
    else native.SSL_set_connect_state(ssl)
    return { ssl, input, output }
  }

  const pump = (from: End, to: End) => {
    for (;;) {
      const n = native.BIO_read(from.output, wire, wire.length)
      if (n <= 0) return
      if (native.BIO_write(to.input, wire, n) !== n) throw fail("BIO_write")
    }
  }

  const handshake = (client: End, server: End) => {
    let clientDone = false
    let serverDone = false
    // TLS 1.3 needs two round trips at most; more means a stuck handshake.
    for (let round = 0; round < 8 && !(clientDone && serverDone); round++) {
      if (!clientDone) clientDone = step(client.ssl, "client handshake")
      pump(client, server)
      if (!serverDone) serverDone = step(server.ssl, "server handshake")
      pump(server, client)
    }
    if (!(clientDone && serverDone)) throw fail("handshake did not finish")
  }

  const step = (ssl: Ptr<"SSL">, what: string): boolean => {
    const r = native.SSL_do_handshake(ssl)
    if (r === 1) return true
    if (native.SSL_get_error(ssl, r) !== SSL_ERROR.WANT_READ) throw fail(what)
    return false
  }

  const oneByte = Buffer.alloc(1)
  /** The client processes the NewSessionTickets; SSL_read stops with WANT_READ when the input is empty. */
  const readTickets = (client: End) => {
    const r = native.SSL_read(client.ssl, oneByte, 1)
    if (r > 0) throw new Error("unexpected application data")
    if (native.SSL_get_error(client.ssl, r) !== SSL_ERROR.WANT_READ) throw fail("client read after handshake")
  }

  const open = (session: Ptr<"SSL_SESSION"> | undefined): { readonly client: End; readonly server: End } => {
    const client = newEnd(ctx.client, false)
    let server: End
    try {
      server = newEnd(ctx.server, true)
    } catch (error) {
      native.SSL_free(client.ssl)
      throw error
    }
    try {
      if (
        Number(native.SSL_ctrl(client.ssl, SSL_CTRL.SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name, hostName)) !==
          1 ||
        extra.SSL_set1_host(client.ssl, fixture.host) !== 1 ||
        (session !== undefined && native.SSL_set_session(client.ssl, session) !== 1)
      ) throw fail("cannot set the host name or session")
      handshake(client, server)
      readTickets(client)
      const current = native.SSL_get_current_cipher(client.ssl)
      const cipher = current === null ? "(none)" : native.SSL_CIPHER_get_name(current)
      if (extra.SSL_version(client.ssl) !== TLS1_3_VERSION || cipher !== fixture.cipher) {
        throw new Error(`negotiated version 0x${extra.SSL_version(client.ssl).toString(16)} with ${cipher}`)
      }
      if ((native.SSL_session_reused(client.ssl) === 1) !== (session !== undefined)) {
        throw new Error(session === undefined ? "a full handshake was resumed" : "the session was not resumed")
      }
      return { client, server }
    } catch (error) {
      native.SSL_free(client.ssl)
      native.SSL_free(server.ssl)
      throw error
    }
  }

  /**
   * A clean close from the client (SSL_free after close_notify keeps the session resumable), then
   * both ends freed, whatever SSL_shutdown returned.
   */
  const close = ({ client, server }: { readonly client: End; readonly server: End }) => {
    const r = native.SSL_shutdown(client.ssl) // 0: close_notify sent, the peer's not read yet
    const error = r < 0 ? fail("SSL_shutdown") : undefined
    native.SSL_free(client.ssl)
    native.SSL_free(server.ssl)
    if (error !== undefined) throw error
  }

  const handshakes = (n: number, session: Ptr<"SSL_SESSION"> | undefined): number => {
    native.ERR_clear_error()
    const start = process.hrtime.bigint()
    for (let i = 0; i < n; i++) close(open(session))
    return n / (Number(process.hrtime.bigint() - start) / 1e9)
  }

  return {
    fullHandshake: (n) => handshakes(n, undefined),
    resumed: (n) => {
      const first = open(undefined)
      // Taken after readTickets: the session that carries a ticket.
      const session = extra.SSL_get1_session(first.client.ssl)
      close(first)
      if (session === null) throw fail("no session after the handshake")
      try {
        if (native.SSL_SESSION_is_resumable(session) !== 1) throw new Error("the session is not resumable")
        return handshakes(n, session)
      } finally {
        native.SSL_SESSION_free(session)
      }
    },
    bulk: (bytes) => {
      native.ERR_clear_error()
      const connection = open(undefined)
      const { client, server } = connection
      const record = Buffer.alloc(fixture.recordSize, "x")
      const sink = Buffer.allocUnsafe(fixture.recordSize)
      let received = 0
      try {
        const start = process.hrtime.bigint()
        while (received < bytes) {
          if (native.SSL_write(client.ssl, record, record.length) !== record.length) throw fail("SSL_write")
          pump(client, server)
          for (;;) {
            const r = native.SSL_read(server.ssl, sink, sink.length)
            if (r > 0) received += r
            else if (native.SSL_get_error(server.ssl, r) === SSL_ERROR.WANT_READ) break
            else throw fail("server SSL_read")
          }
        }
        return received / 1e6 / (Number(process.hrtime.bigint() - start) / 1e9)
      } finally {
        close(connection)
      }
    },
    close: () => {
      native.SSL_CTX_free(ctx.client)
      native.SSL_CTX_free(ctx.server)
    }
  }
}
