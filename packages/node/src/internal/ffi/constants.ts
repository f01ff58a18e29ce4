/**
 * Named constants for the macros the binding calls through `*_ctrl`, and the flag tables.
 * Values from OpenSSL's `ssl.h`, `tls1.h`, `bio.h`, `crypto.h`, `err.h` (stable from 1.1.1
 * through 3.5 unless noted).
 */
import type { ProtocolVersion } from "@effect-openssl/core/OpenSsl"

export const SSL_CTRL = {
  MODE: 33,
  SET_TLSEXT_SERVERNAME_CB: 53,
  SET_SESS_CACHE_MODE: 44,
  GET_SESS_CACHE_MODE: 45,
  SET_TLSEXT_HOSTNAME: 55,
  CHAIN_CERT: 89,
  SET_GROUPS_LIST: 92,
  SET_MIN_PROTO_VERSION: 123,
  SET_MAX_PROTO_VERSION: 124,
  GET_MIN_PROTO_VERSION: 130,
  GET_MAX_PROTO_VERSION: 131
} as const

export const BIO_C_SET_BUF_MEM_EOF_RETURN = 130

export const TLSEXT_NAMETYPE_host_name = 0

export const SSL_ERROR = {
  NONE: 0,
  SSL: 1,
  WANT_READ: 2,
  WANT_WRITE: 3,
  WANT_X509_LOOKUP: 4,
  SYSCALL: 5,
  ZERO_RETURN: 6,
  WANT_CONNECT: 7,
  WANT_ACCEPT: 8,
  WANT_ASYNC: 9,
  WANT_ASYNC_JOB: 10,
  WANT_CLIENT_HELLO_CB: 11
} as const

export const SSL_ERROR_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(SSL_ERROR).map(([name, code]) => [code, `SSL_ERROR_${name}`])
)

export const SSL_VERIFY = { NONE: 0, PEER: 1, FAIL_IF_NO_PEER_CERT: 2, CLIENT_ONCE: 4, POST_HANDSHAKE: 8 } as const

export const SSL_SESS_CACHE = { off: 0, client: 1, server: 2, both: 3 } as const

/** Pass new sessions to the callback only, not to the context's internal cache. */
export const SSL_SESS_CACHE_NO_INTERNAL_STORE = 0x0200

export const CRYPTO_EX_INDEX = { SSL: 0, SSL_CTX: 1, SSL_SESSION: 2 } as const

export const OPENSSL_VERSION_TEXT = 0

export const protocolVersions: Record<ProtocolVersion, number> = {
  "TLSv1": 0x301,
  "TLSv1.1": 0x302,
  "TLSv1.2": 0x303,
  "TLSv1.3": 0x304
}

export const SSL_MODE = { ENABLE_PARTIAL_WRITE: 1, ACCEPT_MOVING_WRITE_BUFFER: 2 } as const

export const SSL_TLSEXT_ERR = { OK: 0, ALERT_FATAL: 2, NOACK: 3 } as const

export const SSL_CLIENT_HELLO = { ERROR: 0, SUCCESS: 1, RETRY: -1 } as const

/** TLS extension types read from a ClientHello. */
export const TLSEXT_TYPE = { server_name: 0, alpn: 16 } as const

export const X509_V_OK = 0
export const X509_V_ERR_APPLICATION_VERIFICATION = 50

/** TLS alert numbers written through a callback's `*al`. */
export const TLS_ALERT = { unrecognized_name: 112, handshake_failure: 40, no_application_protocol: 120 } as const

/** Reason code of "unexpected eof while reading" (`SSL_R_UNEXPECTED_EOF_WHILE_READING`, 3.0+). */
export const SSL_R_UNEXPECTED_EOF_WHILE_READING = 294
