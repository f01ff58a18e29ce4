/**
 * libcrypto functions for issuing test certificates (`pkiGenerateKey`, `pkiIssueCertificate`),
 * declared like `table.ts` and bound together with it by `load.ts`.
 *
 * Only functions present in OpenSSL 1.1.1 and every 3.x are required. Macros go through
 * `EVP_PKEY_CTX_ctrl` with the constants in `pki.ts` (the 3.x function forms such as
 * `EVP_PKEY_CTX_set_rsa_keygen_bits` are macros in 1.1.1). `EVP_PKEY_base_id` became a macro
 * over `EVP_PKEY_get_base_id` in 3.0, so both names are optional and one of them is bound.
 */
import { type Bytes, crypto, type Decl, optional, type Ptr, type PtrOrNull } from "./table.js"

export const pkiTable = {
  // keys
  EVP_PKEY_CTX_new_id: crypto<[id: number, engine: null], PtrOrNull<"EVP_PKEY_CTX">>(
    "void *EVP_PKEY_CTX_new_id(int id, void *e)"
  ),
  EVP_PKEY_CTX_free: crypto<[ctx: Ptr<"EVP_PKEY_CTX">], void>("void EVP_PKEY_CTX_free(void *ctx)"),
  EVP_PKEY_keygen_init: crypto<[ctx: Ptr<"EVP_PKEY_CTX">], number>("int EVP_PKEY_keygen_init(void *ctx)"),
  EVP_PKEY_CTX_ctrl: crypto<
    [ctx: Ptr<"EVP_PKEY_CTX">, keyType: number, operation: number, cmd: number, p1: number, p2: null],
    number
  >(
    "int EVP_PKEY_CTX_ctrl(void *ctx, int keytype, int optype, int cmd, int p1, void *p2)"
  ),
  EVP_PKEY_keygen: crypto<[ctx: Ptr<"EVP_PKEY_CTX">, out: Array<PtrOrNull<"EVP_PKEY">>], number>(
    "int EVP_PKEY_keygen(void *ctx, _Out_ void **ppkey)"
  ),
  EVP_PKEY_get_base_id: optional(crypto<[pkey: Ptr<"EVP_PKEY">], number>("int EVP_PKEY_get_base_id(const void *pkey)")),
  EVP_PKEY_base_id: optional(crypto<[pkey: Ptr<"EVP_PKEY">], number>("int EVP_PKEY_base_id(const void *pkey)")),
  PEM_write_bio_PKCS8PrivateKey: crypto<
    [
      bio: Ptr<"BIO">,
      pkey: Ptr<"EVP_PKEY">,
      cipher: null,
      passphrase: null,
      passphraseLength: number,
      callback: null,
      userdata: null
    ],
    number
  >("int PEM_write_bio_PKCS8PrivateKey(void *bio, const void *pkey, const void *enc, const char *kstr, int klen, void *cb, void *u)"),
  EVP_sha256: crypto<[], Ptr<"EVP_MD">>("const void *EVP_sha256()"),

  // serial numbers
  BN_bin2bn: crypto<[bytes: Bytes, length: number, reuse: null], PtrOrNull<"BIGNUM">>(
    "void *BN_bin2bn(const void *s, int len, void *ret)"
  ),
  BN_free: crypto<[bn: Ptr<"BIGNUM">], void>("void BN_free(void *bn)"),
  BN_to_ASN1_INTEGER: crypto<[bn: Ptr<"BIGNUM">, reuse: null], PtrOrNull<"ASN1_INTEGER">>(
    "void *BN_to_ASN1_INTEGER(const void *bn, void *ai)"
  ),
  ASN1_INTEGER_free: crypto<[integer: Ptr<"ASN1_INTEGER">], void>("void ASN1_INTEGER_free(void *a)"),

  // certificates
  X509_new: crypto<[], PtrOrNull<"X509">>("void *X509_new()"),
  X509_set_version: crypto<[x509: Ptr<"X509">, version: number], number>(
    "int X509_set_version(void *x509, long version)"
  ),
  X509_set_serialNumber: crypto<[x509: Ptr<"X509">, serial: Ptr<"ASN1_INTEGER">], number>(
    "int X509_set_serialNumber(void *x509, void *serial)"
  ),
  X509_getm_notBefore: crypto<[x509: Ptr<"X509">], PtrOrNull<"ASN1_TIME">>(
    "void *X509_getm_notBefore(const void *x509)"
  ),
  X509_getm_notAfter: crypto<[x509: Ptr<"X509">], PtrOrNull<"ASN1_TIME">>("void *X509_getm_notAfter(const void *x509)"),
  // time_t is 64 bits on the platforms Node supports.
  ASN1_TIME_set: crypto<[time: Ptr<"ASN1_TIME">, seconds: number], PtrOrNull<"ASN1_TIME">>(
    "void *ASN1_TIME_set(void *s, int64_t t)"
  ),
  X509_NAME_add_entry_by_txt: crypto<
    [name: Ptr<"X509_NAME">, field: string, type: number, bytes: Bytes, length: number, location: number, set: number],
    number
  >("int X509_NAME_add_entry_by_txt(void *name, const char *field, int type, const void *bytes, int len, int loc, int set)"),
  X509_set_issuer_name: crypto<[x509: Ptr<"X509">, name: Ptr<"X509_NAME">], number>(
    "int X509_set_issuer_name(void *x509, const void *name)"
  ),
  X509_set_pubkey: crypto<[x509: Ptr<"X509">, pkey: Ptr<"EVP_PKEY">], number>(
    "int X509_set_pubkey(void *x509, void *pkey)"
  ),
  X509_check_private_key: crypto<[x509: Ptr<"X509">, pkey: Ptr<"EVP_PKEY">], number>(
    "int X509_check_private_key(const void *x509, const void *pkey)"
  ),
  X509V3_set_ctx: crypto<
    [ctx: Bytes, issuer: Ptr<"X509">, subject: Ptr<"X509">, request: null, crl: null, flags: number],
    void
  >(
    "void X509V3_set_ctx(void *ctx, void *issuer, void *subject, void *req, void *crl, int flags)"
  ),
  X509V3_EXT_nconf_nid: crypto<[conf: null, ctx: Bytes, nid: number, value: string], PtrOrNull<"X509_EXTENSION">>(
    "void *X509V3_EXT_nconf_nid(void *conf, void *ctx, int ext_nid, const char *value)"
  ),
  X509_add_ext: crypto<[x509: Ptr<"X509">, extension: Ptr<"X509_EXTENSION">, location: number], number>(
    "int X509_add_ext(void *x509, void *ex, int loc)"
  ),
  X509_EXTENSION_free: crypto<[extension: Ptr<"X509_EXTENSION">], void>("void X509_EXTENSION_free(void *ex)"),
  X509_sign: crypto<[x509: Ptr<"X509">, pkey: Ptr<"EVP_PKEY">, digest: Ptr<"EVP_MD"> | null], number>(
    "int X509_sign(void *x509, void *pkey, const void *md)"
  ),
  PEM_write_bio_X509: crypto<[bio: Ptr<"BIO">, x509: Ptr<"X509">], number>(
    "int PEM_write_bio_X509(void *bio, void *x509)"
  )
} as const satisfies Record<string, Decl<ReadonlyArray<any>, unknown, boolean>>
