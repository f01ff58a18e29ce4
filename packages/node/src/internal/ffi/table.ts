/**
 * Every native function the binding calls, declared once. Each entry is a C prototype plus
 * the library that exports it; the TypeScript signature comes from the type parameters, so
 * the bound object (`Native`) is typed without a second list. Macros have no symbol and go
 * through `SSL_ctrl` / `SSL_CTX_ctrl` / `BIO_ctrl` with the constants in `constants.ts`.
 *
 * `optional` entries are feature-detected: they are `undefined` when the library lacks them.
 *
 * Pointers are BigInts in koffi 3 (NULL is `null`); `long`/`uint64_t` values arrive as
 * numbers when they fit, BigInts otherwise.
 */

import type { pkiTable } from "./pkiTable.js"

declare const PtrKindId: unique symbol

/** What a native pointer points to. */
export type PtrKind =
  | "SSL"
  | "SSL_CTX"
  | "SSL_SESSION"
  | "SSL_METHOD"
  | "SSL_CIPHER"
  | "BIO"
  | "BIO_METHOD"
  | "X509"
  | "X509_NAME"
  | "X509_STORE"
  | "X509_STORE_CTX"
  | "X509_VERIFY_PARAM"
  | "X509_EXTENSION"
  | "EVP_PKEY"
  | "EVP_PKEY_CTX"
  | "EVP_MD"
  | "BIGNUM"
  | "ASN1_INTEGER"
  | "ASN1_TIME"
  | "STACK"
  | "Callback"
  /** Memory OpenSSL allocated for the caller (released with `CRYPTO_free`). */
  | "Memory"

/**
 * A native pointer to a `K`: a branded bigint, so that an `SSL_CTX*` passed where an `SSL*` is
 * expected does not type-check. Pointers come out of the table typed; `Ptr` alone (any kind) is
 * for the generic `*_ctrl` and stack functions, whose callers name the kind.
 */
export type Ptr<K extends PtrKind = PtrKind> = bigint & { readonly [PtrKindId]: K }
/** A native pointer argument or result that may be NULL. */
export type PtrOrNull<K extends PtrKind = PtrKind> = Ptr<K> | null
/** An id the binding keeps in an ex_data slot (a pointer-sized integer, not a pointer). */
export type Stamp = bigint
/** Memory passed to a `void *` parameter: zero-copy for the duration of the call. */
export type Bytes = Uint8Array
type Long = number | bigint

/** One table entry: prototype and where to find it; the type parameters carry the TS signature. */
export interface Decl<Args extends ReadonlyArray<unknown>, R, Optional extends boolean = false> {
  readonly proto: string
  readonly library: "ssl" | "crypto"
  readonly optional: Optional
  /** Phantom: never set. */
  readonly signature?: (...args: Args) => R
}

const ssl = <Args extends ReadonlyArray<unknown>, R>(proto: string): Decl<Args, R> => ({
  proto,
  library: "ssl",
  optional: false
})
const crypto = <Args extends ReadonlyArray<unknown>, R>(proto: string): Decl<Args, R> => ({
  proto,
  library: "crypto",
  optional: false
})
const optional = <Args extends ReadonlyArray<unknown>, R>(decl: Decl<Args, R>): Decl<Args, R, true> => ({
  ...decl,
  optional: true
})
/** For the tables of other concerns (`pkiTable.ts`). */
export { crypto, optional }

/** Callback prototypes referenced by name in the table (declared before the functions). */
export const callbackPrototypes = {
  ExDataFree: "void ExDataFree(void *parent, void *ptr, void *ad, int idx, long argl, void *argp)",
  ExDataDup: "int ExDataDup(void *to, const void *from, void *from_d, int idx, long argl, void *argp)",
  Verify: "int VerifyCallback(int preverify_ok, void *store_ctx)",
  Keylog: "void KeylogCallback(const void *ssl, const char *line)",
  NewSession: "int NewSessionCallback(void *ssl, void *session)",
  ClientHello: "int ClientHelloCallback(void *ssl, void *alert, void *arg)",
  ServerName: "int ServerNameCallback(void *ssl, void *alert, void *arg)",
  AlpnSelect:
    "int AlpnSelectCallback(void *ssl, void *out, void *outlen, const void *in, unsigned int inlen, void *arg)"
} as const

export const table = {
  // version
  OpenSSL_version_num: crypto<[], number>("unsigned long OpenSSL_version_num()"),
  OpenSSL_version: crypto<[type: number], string>("const char *OpenSSL_version(int type)"),

  // methods
  TLS_method: ssl<[], Ptr<"SSL_METHOD">>("const void *TLS_method()"),
  TLS_client_method: ssl<[], Ptr<"SSL_METHOD">>("const void *TLS_client_method()"),
  TLS_server_method: ssl<[], Ptr<"SSL_METHOD">>("const void *TLS_server_method()"),

  // SSL_CTX
  SSL_CTX_new: ssl<[method: Ptr<"SSL_METHOD">], PtrOrNull<"SSL_CTX">>("void *SSL_CTX_new(const void *method)"),
  SSL_CTX_free: ssl<[ctx: Ptr<"SSL_CTX">], void>("void SSL_CTX_free(void *ctx)"),
  SSL_CTX_ctrl: ssl<[ctx: Ptr<"SSL_CTX">, cmd: number, larg: Long, parg: PtrOrNull | Bytes], Long>(
    "long SSL_CTX_ctrl(void *ctx, int cmd, long larg, void *parg)"
  ),
  SSL_CTX_get_ssl_method: ssl<[ctx: Ptr<"SSL_CTX">], Ptr<"SSL_METHOD">>(
    "const void *SSL_CTX_get_ssl_method(const void *ctx)"
  ),
  SSL_CTX_set_options: ssl<[ctx: Ptr<"SSL_CTX">, options: Long], Long>(
    "uint64_t SSL_CTX_set_options(void *ctx, uint64_t op)"
  ),
  SSL_CTX_get_options: ssl<[ctx: Ptr<"SSL_CTX">], Long>("uint64_t SSL_CTX_get_options(const void *ctx)"),
  SSL_CTX_set_verify: ssl<[ctx: Ptr<"SSL_CTX">, mode: number, callback: PtrOrNull<"Callback">], void>(
    "void SSL_CTX_set_verify(void *ctx, int mode, void *callback)"
  ),
  SSL_CTX_set_verify_depth: ssl<[ctx: Ptr<"SSL_CTX">, depth: number], void>(
    "void SSL_CTX_set_verify_depth(void *ctx, int depth)"
  ),
  SSL_CTX_get_verify_mode: ssl<[ctx: Ptr<"SSL_CTX">], number>("int SSL_CTX_get_verify_mode(const void *ctx)"),
  SSL_CTX_get_verify_depth: ssl<[ctx: Ptr<"SSL_CTX">], number>("int SSL_CTX_get_verify_depth(const void *ctx)"),
  SSL_CTX_set_session_id_context: ssl<[ctx: Ptr<"SSL_CTX">, sidCtx: Bytes, length: number], number>(
    "int SSL_CTX_set_session_id_context(void *ctx, const uint8_t *sid_ctx, unsigned int sid_ctx_len)"
  ),
  SSL_CTX_set_timeout: ssl<[ctx: Ptr<"SSL_CTX">, seconds: Long], Long>("long SSL_CTX_set_timeout(void *ctx, long t)"),
  SSL_CTX_get_timeout: ssl<[ctx: Ptr<"SSL_CTX">], Long>("long SSL_CTX_get_timeout(const void *ctx)"),
  SSL_CTX_set_default_verify_paths: ssl<[ctx: Ptr<"SSL_CTX">], number>(
    "int SSL_CTX_set_default_verify_paths(void *ctx)"
  ),
  SSL_CTX_get_cert_store: ssl<[ctx: Ptr<"SSL_CTX">], Ptr<"X509_STORE">>(
    "void *SSL_CTX_get_cert_store(const void *ctx)"
  ),
  SSL_CTX_use_certificate: ssl<[ctx: Ptr<"SSL_CTX">, x509: Ptr<"X509">], number>(
    "int SSL_CTX_use_certificate(void *ctx, void *x509)"
  ),
  SSL_CTX_use_PrivateKey: ssl<[ctx: Ptr<"SSL_CTX">, pkey: Ptr<"EVP_PKEY">], number>(
    "int SSL_CTX_use_PrivateKey(void *ctx, void *pkey)"
  ),
  SSL_CTX_check_private_key: ssl<[ctx: Ptr<"SSL_CTX">], number>("int SSL_CTX_check_private_key(const void *ctx)"),
  SSL_CTX_set_cipher_list: ssl<[ctx: Ptr<"SSL_CTX">, list: string], number>(
    "int SSL_CTX_set_cipher_list(void *ctx, const char *list)"
  ),
  SSL_CTX_set_ciphersuites: ssl<[ctx: Ptr<"SSL_CTX">, list: string], number>(
    "int SSL_CTX_set_ciphersuites(void *ctx, const char *list)"
  ),
  SSL_CTX_set_alpn_protos: ssl<[ctx: Ptr<"SSL_CTX">, wire: Bytes, length: number], number>(
    "int SSL_CTX_set_alpn_protos(void *ctx, const uint8_t *wire, unsigned int length)"
  ),
  SSL_CTX_get_ciphers: ssl<[ctx: Ptr<"SSL_CTX">], PtrOrNull<"STACK">>("void *SSL_CTX_get_ciphers(const void *ctx)"),
  SSL_CTX_set_ex_data: ssl<[ctx: Ptr<"SSL_CTX">, index: number, data: Stamp | null], number>(
    "int SSL_CTX_set_ex_data(void *ctx, int idx, void *data)"
  ),
  SSL_CTX_set_keylog_callback: optional(
    ssl<[ctx: Ptr<"SSL_CTX">, callback: PtrOrNull<"Callback">], void>(
      "void SSL_CTX_set_keylog_callback(void *ctx, void *cb)"
    )
  ),
  SSL_CTX_set_client_hello_cb: optional(
    ssl<[ctx: Ptr<"SSL_CTX">, callback: PtrOrNull<"Callback">, arg: null], void>(
      "void SSL_CTX_set_client_hello_cb(void *ctx, void *cb, void *arg)"
    )
  ),
  SSL_CTX_compress_certs: optional(
    ssl<[ctx: Ptr<"SSL_CTX">, alg: number], number>("int SSL_CTX_compress_certs(void *ctx, int alg)")
  ),

  // SSL
  SSL_new: ssl<[ctx: Ptr<"SSL_CTX">], PtrOrNull<"SSL">>("void *SSL_new(void *ctx)"),
  SSL_free: ssl<[ssl: Ptr<"SSL">], void>("void SSL_free(void *ssl)"),
  SSL_up_ref: ssl<[ssl: Ptr<"SSL">], number>("int SSL_up_ref(void *ssl)"),
  SSL_dup: ssl<[ssl: Ptr<"SSL">], PtrOrNull<"SSL">>("void *SSL_dup(void *ssl)"),
  SSL_in_before: ssl<[ssl: Ptr<"SSL">], number>("int SSL_in_before(const void *ssl)"),
  SSL_is_server: ssl<[ssl: Ptr<"SSL">], number>("int SSL_is_server(const void *ssl)"),
  SSL_set_connect_state: ssl<[ssl: Ptr<"SSL">], void>("void SSL_set_connect_state(void *ssl)"),
  SSL_set_accept_state: ssl<[ssl: Ptr<"SSL">], void>("void SSL_set_accept_state(void *ssl)"),
  SSL_ctrl: ssl<[ssl: Ptr<"SSL">, cmd: number, larg: Long, parg: PtrOrNull | Bytes], Long>(
    "long SSL_ctrl(void *ssl, int cmd, long larg, void *parg)"
  ),
  SSL_get_ssl_method: ssl<[ssl: Ptr<"SSL">], Ptr<"SSL_METHOD">>("const void *SSL_get_ssl_method(const void *ssl)"),
  SSL_get_SSL_CTX: ssl<[ssl: Ptr<"SSL">], Ptr<"SSL_CTX">>("void *SSL_get_SSL_CTX(const void *ssl)"),
  SSL_get_options: ssl<[ssl: Ptr<"SSL">], Long>("uint64_t SSL_get_options(const void *ssl)"),
  SSL_get_verify_mode: ssl<[ssl: Ptr<"SSL">], number>("int SSL_get_verify_mode(const void *ssl)"),
  SSL_get_verify_depth: ssl<[ssl: Ptr<"SSL">], number>("int SSL_get_verify_depth(const void *ssl)"),
  SSL_get_ciphers: ssl<[ssl: Ptr<"SSL">], PtrOrNull<"STACK">>("void *SSL_get_ciphers(const void *ssl)"),
  SSL_get_servername: ssl<[ssl: Ptr<"SSL">, type: number], string | null>(
    "const char *SSL_get_servername(const void *ssl, int type)"
  ),
  SSL_set_ex_data: ssl<[ssl: Ptr<"SSL">, index: number, data: Stamp | null], number>(
    "int SSL_set_ex_data(void *ssl, int idx, void *data)"
  ),
  SSL_get_ex_data: ssl<[ssl: Ptr<"SSL">, index: number], Stamp | null>(
    "void *SSL_get_ex_data(const void *ssl, int idx)"
  ),
  SSL_set_bio: ssl<[ssl: Ptr<"SSL">, rbio: Ptr<"BIO">, wbio: Ptr<"BIO">], void>(
    "void SSL_set_bio(void *ssl, void *rbio, void *wbio)"
  ),
  SSL_get_rbio: ssl<[ssl: Ptr<"SSL">], PtrOrNull<"BIO">>("void *SSL_get_rbio(const void *ssl)"),
  SSL_get_wbio: ssl<[ssl: Ptr<"SSL">], PtrOrNull<"BIO">>("void *SSL_get_wbio(const void *ssl)"),
  SSL_do_handshake: ssl<[ssl: Ptr<"SSL">], number>("int SSL_do_handshake(void *ssl)"),
  SSL_get_error: ssl<[ssl: Ptr<"SSL">, ret: number], number>("int SSL_get_error(const void *ssl, int ret)"),
  SSL_CIPHER_get_name: ssl<[cipher: Ptr<"SSL_CIPHER">], string>("const char *SSL_CIPHER_get_name(const void *cipher)"),

  // connections
  SSL_read: ssl<[ssl: Ptr<"SSL">, buffer: Bytes, length: number], number>(
    "int SSL_read(void *ssl, void *buf, int num)"
  ),
  SSL_write: ssl<[ssl: Ptr<"SSL">, data: Bytes, length: number], number>(
    "int SSL_write(void *ssl, const void *buf, int num)"
  ),
  SSL_shutdown: ssl<[ssl: Ptr<"SSL">], number>("int SSL_shutdown(void *ssl)"),
  SSL_get0_param: ssl<[ssl: Ptr<"SSL">], Ptr<"X509_VERIFY_PARAM">>("void *SSL_get0_param(void *ssl)"),
  SSL_get_verify_result: ssl<[ssl: Ptr<"SSL">], Long>("long SSL_get_verify_result(const void *ssl)"),
  SSL_get_version: ssl<[ssl: Ptr<"SSL">], string>("const char *SSL_get_version(const void *ssl)"),
  SSL_get_current_cipher: ssl<[ssl: Ptr<"SSL">], PtrOrNull<"SSL_CIPHER">>(
    "const void *SSL_get_current_cipher(const void *ssl)"
  ),
  SSL_get0_alpn_selected: ssl<[ssl: Ptr<"SSL">, data: Bytes, length: Bytes], void>(
    "void SSL_get0_alpn_selected(const void *ssl, void *data, void *len)"
  ),
  SSL_session_reused: ssl<[ssl: Ptr<"SSL">], number>("int SSL_session_reused(const void *ssl)"),
  SSL_get_peer_cert_chain: ssl<[ssl: Ptr<"SSL">], PtrOrNull<"STACK">>("void *SSL_get_peer_cert_chain(const void *ssl)"),
  SSL_get1_peer_certificate: optional(
    ssl<[ssl: Ptr<"SSL">], PtrOrNull<"X509">>("void *SSL_get1_peer_certificate(const void *ssl)")
  ),
  SSL_get_peer_certificate: optional(
    ssl<[ssl: Ptr<"SSL">], PtrOrNull<"X509">>("void *SSL_get_peer_certificate(const void *ssl)")
  ),
  SSL_export_keying_material: ssl<[
    ssl: Ptr<"SSL">,
    out: Bytes,
    length: number,
    label: Bytes,
    labelLength: number,
    context: Bytes | null,
    contextLength: number,
    useContext: number
  ], number>(
    "int SSL_export_keying_material(void *ssl, void *out, size_t olen, const void *label, size_t llen, const void *context, size_t contextlen, int use_context)"
  ),
  SSL_set_SSL_CTX: ssl<[ssl: Ptr<"SSL">, ctx: Ptr<"SSL_CTX">], PtrOrNull<"SSL_CTX">>(
    "void *SSL_set_SSL_CTX(void *ssl, void *ctx)"
  ),
  SSL_get_ex_data_X509_STORE_CTX_idx: ssl<[], number>("int SSL_get_ex_data_X509_STORE_CTX_idx()"),

  // callbacks
  SSL_CTX_sess_set_new_cb: ssl<[ctx: Ptr<"SSL_CTX">, callback: PtrOrNull<"Callback">], void>(
    "void SSL_CTX_sess_set_new_cb(void *ctx, void *cb)"
  ),
  SSL_CTX_set_alpn_select_cb: ssl<[ctx: Ptr<"SSL_CTX">, callback: PtrOrNull<"Callback">, arg: null], void>(
    "void SSL_CTX_set_alpn_select_cb(void *ctx, void *cb, void *arg)"
  ),
  SSL_CTX_callback_ctrl: ssl<[ctx: Ptr<"SSL_CTX">, cmd: number, callback: PtrOrNull<"Callback">], Long>(
    "long SSL_CTX_callback_ctrl(void *ctx, int cmd, void *cb)"
  ),
  SSL_client_hello_get0_ext: optional(
    ssl<[ssl: Ptr<"SSL">, type: number, out: Bytes, outLength: Bytes], number>(
      "int SSL_client_hello_get0_ext(void *ssl, unsigned int type, void *out, void *outlen)"
    )
  ),
  SSL_client_hello_get0_legacy_version: optional(
    ssl<[ssl: Ptr<"SSL">], number>("unsigned int SSL_client_hello_get0_legacy_version(void *ssl)")
  ),

  // sessions
  SSL_set_session: ssl<[ssl: Ptr<"SSL">, session: Ptr<"SSL_SESSION">], number>(
    "int SSL_set_session(void *ssl, void *session)"
  ),
  SSL_SESSION_free: ssl<[session: Ptr<"SSL_SESSION">], void>("void SSL_SESSION_free(void *session)"),
  SSL_SESSION_up_ref: ssl<[session: Ptr<"SSL_SESSION">], number>("int SSL_SESSION_up_ref(void *session)"),
  SSL_SESSION_is_resumable: ssl<[session: Ptr<"SSL_SESSION">], number>(
    "int SSL_SESSION_is_resumable(const void *session)"
  ),
  SSL_SESSION_set_ex_data: ssl<[session: Ptr<"SSL_SESSION">, index: number, data: Stamp | null], number>(
    "int SSL_SESSION_set_ex_data(void *session, int idx, void *data)"
  ),
  SSL_SESSION_get_ex_data: ssl<[session: Ptr<"SSL_SESSION">, index: number], Stamp | null>(
    "void *SSL_SESSION_get_ex_data(const void *session, int idx)"
  ),
  i2d_SSL_SESSION: ssl<[session: Ptr<"SSL_SESSION">, out: Bytes | null], number>(
    "int i2d_SSL_SESSION(void *session, void *pp)"
  ),
  d2i_SSL_SESSION: ssl<[reuse: null, input: Bytes, length: number], PtrOrNull<"SSL_SESSION">>(
    "void *d2i_SSL_SESSION(void *a, void *pp, long length)"
  ),

  // stacks
  OPENSSL_sk_num: crypto<[stack: Ptr<"STACK">], number>("int OPENSSL_sk_num(const void *stack)"),
  OPENSSL_sk_value: crypto<[stack: Ptr<"STACK">, i: number], PtrOrNull>(
    "void *OPENSSL_sk_value(const void *stack, int i)"
  ),

  // BIO
  BIO_s_mem: crypto<[], Ptr<"BIO_METHOD">>("const void *BIO_s_mem()"),
  BIO_new: crypto<[method: Ptr<"BIO_METHOD">], PtrOrNull<"BIO">>("void *BIO_new(const void *method)"),
  BIO_free: crypto<[bio: Ptr<"BIO">], number>("int BIO_free(void *bio)"),
  BIO_write: crypto<[bio: Ptr<"BIO">, data: Bytes, length: number], number>(
    "int BIO_write(void *bio, const void *data, int dlen)"
  ),
  BIO_read: crypto<[bio: Ptr<"BIO">, data: Bytes, length: number], number>(
    "int BIO_read(void *bio, void *data, int dlen)"
  ),
  BIO_ctrl: crypto<[bio: Ptr<"BIO">, cmd: number, larg: Long, parg: PtrOrNull], Long>(
    "long BIO_ctrl(void *bio, int cmd, long larg, void *parg)"
  ),
  BIO_ctrl_pending: crypto<[bio: Ptr<"BIO">], Long>("size_t BIO_ctrl_pending(void *bio)"),

  // PEM, X509, keys
  PEM_read_bio_X509: crypto<[bio: Ptr<"BIO">, out: null, callback: null, userdata: null], PtrOrNull<"X509">>(
    "void *PEM_read_bio_X509(void *bio, void *out, void *cb, void *u)"
  ),
  PEM_read_bio_PrivateKey: crypto<
    [bio: Ptr<"BIO">, out: null, callback: null, passphrase: Bytes | null],
    PtrOrNull<"EVP_PKEY">
  >(
    "void *PEM_read_bio_PrivateKey(void *bio, void *out, void *cb, void *u)"
  ),
  X509_free: crypto<[x509: Ptr<"X509">], void>("void X509_free(void *x509)"),
  i2d_X509_bio: crypto<[bio: Ptr<"BIO">, x509: Ptr<"X509">], number>("int i2d_X509_bio(void *bio, void *x509)"),
  X509_STORE_CTX_get_error: crypto<[ctx: Ptr<"X509_STORE_CTX">], number>("int X509_STORE_CTX_get_error(void *ctx)"),
  X509_STORE_CTX_set_error: crypto<[ctx: Ptr<"X509_STORE_CTX">, error: number], void>(
    "void X509_STORE_CTX_set_error(void *ctx, int s)"
  ),
  X509_STORE_CTX_get_error_depth: crypto<[ctx: Ptr<"X509_STORE_CTX">], number>(
    "int X509_STORE_CTX_get_error_depth(void *ctx)"
  ),
  X509_STORE_CTX_get_current_cert: crypto<[ctx: Ptr<"X509_STORE_CTX">], PtrOrNull<"X509">>(
    "void *X509_STORE_CTX_get_current_cert(void *ctx)"
  ),
  X509_STORE_CTX_get_ex_data: crypto<[ctx: Ptr<"X509_STORE_CTX">, index: number], PtrOrNull<"SSL">>(
    "void *X509_STORE_CTX_get_ex_data(void *ctx, int idx)"
  ),
  X509_verify_cert_error_string: crypto<[code: number], string>("const char *X509_verify_cert_error_string(long n)"),
  X509_get_subject_name: crypto<[x509: Ptr<"X509">], Ptr<"X509_NAME">>("void *X509_get_subject_name(const void *x509)"),
  X509_NAME_oneline: crypto<[name: Ptr<"X509_NAME">, buffer: Bytes, size: number], PtrOrNull<"Memory">>(
    "void *X509_NAME_oneline(const void *name, void *buf, int size)"
  ),
  X509_VERIFY_PARAM_set1_host: crypto<[param: Ptr<"X509_VERIFY_PARAM">, name: Bytes, length: number], number>(
    "int X509_VERIFY_PARAM_set1_host(void *param, const void *name, size_t namelen)"
  ),
  // Reading the checked name back (3.0+): settings, and the tests that hold core and binding to one parse.
  X509_VERIFY_PARAM_get0_host: optional(
    crypto<[param: Ptr<"X509_VERIFY_PARAM">, index: number], string | null>(
      "const char *X509_VERIFY_PARAM_get0_host(void *param, int idx)"
    )
  ),
  X509_VERIFY_PARAM_get1_ip_asc: optional(
    crypto<[param: Ptr<"X509_VERIFY_PARAM">], PtrOrNull<"Memory">>("void *X509_VERIFY_PARAM_get1_ip_asc(void *param)")
  ),
  X509_VERIFY_PARAM_set1_ip_asc: crypto<[param: Ptr<"X509_VERIFY_PARAM">, ip: string], number>(
    "int X509_VERIFY_PARAM_set1_ip_asc(void *param, const char *ipasc)"
  ),
  X509_STORE_add_cert: crypto<[store: Ptr<"X509_STORE">, x509: Ptr<"X509">], number>(
    "int X509_STORE_add_cert(void *store, void *x509)"
  ),
  EVP_PKEY_free: crypto<[pkey: Ptr<"EVP_PKEY">], void>("void EVP_PKEY_free(void *pkey)"),

  // errors
  ERR_get_error: crypto<[], number>("unsigned long ERR_get_error()"),
  ERR_clear_error: crypto<[], void>("void ERR_clear_error()"),
  ERR_error_string_n: crypto<[code: number, buffer: Bytes, length: number], void>(
    "void ERR_error_string_n(unsigned long e, void *buf, size_t len)"
  ),
  ERR_lib_error_string: crypto<[code: number], string | null>("const char *ERR_lib_error_string(unsigned long e)"),
  ERR_reason_error_string: crypto<[code: number], string | null>(
    "const char *ERR_reason_error_string(unsigned long e)"
  ),

  // ex_data
  CRYPTO_get_ex_new_index: crypto<
    [
      classIndex: number,
      argl: number,
      argp: null,
      newFn: null,
      dupFn: Ptr<"Callback"> | null,
      freeFn: Ptr<"Callback"> | null
    ],
    number
  >("int CRYPTO_get_ex_new_index(int class_index, long argl, void *argp, void *new_func, ExDataDup *dup_func, ExDataFree *free_func)"),
  CRYPTO_free: crypto<[pointer: Ptr<"Memory">, file: null, line: number], void>(
    "void CRYPTO_free(void *ptr, const char *file, int line)"
  ),
  CRYPTO_free_ex_index: crypto<[classIndex: number, index: number], number>(
    "int CRYPTO_free_ex_index(int class_index, int idx)"
  )
} as const

type Table = typeof table & typeof pkiTable

/** The bound functions, typed from the table. Optional entries may be `undefined`. */
export type Native =
  & {
    readonly [K in keyof Table as Table[K]["optional"] extends true ? never : K]: Table[K] extends
      Decl<infer A, infer R, false> ? (...args: A) => R : never
  }
  & {
    readonly [K in keyof Table as Table[K]["optional"] extends true ? K : never]?: Table[K] extends
      Decl<infer A, infer R, true> ? (...args: A) => R : never
  }
