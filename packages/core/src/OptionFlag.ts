/**
 * Named `SSL_OP_*` flags: one table, from which the option type, the validation of
 * `SslContext.make`, the binding's bits and the model's bits all derive. A flag added here is
 * known everywhere at once.
 *
 * @since 0.1.0
 */

/**
 * Each flag's bit number in `SSL_OP_*` (OpenSSL's `ssl.h`, stable since 1.1.1) and the first
 * version that has it (`OPENSSL_VERSION_NUMBER`).
 *
 * @since 0.1.0
 * @category models
 */
export const table = {
  NO_EXTENDED_MASTER_SECRET: { bit: 0, since: 0x30000000 },
  CLEANSE_PLAINTEXT: { bit: 1, since: 0x30000000 },
  LEGACY_SERVER_CONNECT: { bit: 2, since: 0x10101000 },
  ENABLE_KTLS: { bit: 3, since: 0x30000000 },
  TLSEXT_PADDING: { bit: 4, since: 0x10101000 },
  SAFARI_ECDHE_ECDSA_BUG: { bit: 6, since: 0x10101000 },
  IGNORE_UNEXPECTED_EOF: { bit: 7, since: 0x30000000 },
  ALLOW_CLIENT_RENEGOTIATION: { bit: 8, since: 0x30000000 },
  DISABLE_TLSEXT_CA_NAMES: { bit: 9, since: 0x30000000 },
  ALLOW_NO_DHE_KEX: { bit: 10, since: 0x10101000 },
  DONT_INSERT_EMPTY_FRAGMENTS: { bit: 11, since: 0x10101000 },
  NO_QUERY_MTU: { bit: 12, since: 0x10101000 },
  COOKIE_EXCHANGE: { bit: 13, since: 0x10101000 },
  NO_TICKET: { bit: 14, since: 0x10101000 },
  CISCO_ANYCONNECT: { bit: 15, since: 0x10101000 },
  NO_SESSION_RESUMPTION_ON_RENEGOTIATION: { bit: 16, since: 0x10101000 },
  NO_COMPRESSION: { bit: 17, since: 0x10101000 },
  ALLOW_UNSAFE_LEGACY_RENEGOTIATION: { bit: 18, since: 0x10101000 },
  NO_ENCRYPT_THEN_MAC: { bit: 19, since: 0x10101000 },
  ENABLE_MIDDLEBOX_COMPAT: { bit: 20, since: 0x10101000 },
  PRIORITIZE_CHACHA: { bit: 21, since: 0x10101000 },
  CIPHER_SERVER_PREFERENCE: { bit: 22, since: 0x10101000 },
  TLS_ROLLBACK_BUG: { bit: 23, since: 0x10101000 },
  NO_ANTI_REPLAY: { bit: 24, since: 0x10101000 },
  NO_SSLv3: { bit: 25, since: 0x10101000 },
  NO_TLSv1: { bit: 26, since: 0x10101000 },
  NO_TLSv1_2: { bit: 27, since: 0x10101000 },
  NO_TLSv1_1: { bit: 28, since: 0x10101000 },
  NO_TLSv1_3: { bit: 29, since: 0x10101000 },
  NO_RENEGOTIATION: { bit: 30, since: 0x10101000 },
  CRYPTOPRO_TLSEXT_BUG: { bit: 31, since: 0x10101000 }
} as const satisfies Record<string, { readonly bit: number; readonly since: number }>

/**
 * A named `SSL_OP_*` flag. Flags that only exist from OpenSSL 3.0 on are refused with a typed
 * error on older libraries.
 *
 * @since 0.1.0
 * @category models
 */
export type OptionFlag = keyof typeof table

/**
 * Every flag, in bit order (as the binding lists the flags it reads back).
 *
 * @since 0.1.0
 * @category constants
 */
export const all: ReadonlyArray<OptionFlag> = (Object.keys(table) as Array<OptionFlag>).sort(
  (a, b) => table[a].bit - table[b].bit
)

/**
 * @since 0.1.0
 * @category guards
 */
export const isOptionFlag = (u: unknown): u is OptionFlag => typeof u === "string" && Object.hasOwn(table, u)

/**
 * The mask of a set of flags.
 *
 * @since 0.1.0
 * @category conversions
 */
export const toBits = (flags: Iterable<OptionFlag>): bigint => {
  let bits = 0n
  for (const flag of flags) bits |= 1n << BigInt(table[flag].bit)
  return bits
}

/**
 * The named flags set in a mask, in bit order.
 *
 * @since 0.1.0
 * @category conversions
 */
export const fromBits = (bits: bigint): Array<OptionFlag> =>
  all.filter((flag) => (bits >> BigInt(table[flag].bit)) & 1n)

/**
 * The flags a library of this version (`OpenSSL_version_num()`) knows.
 *
 * @since 0.1.0
 * @category constants
 */
export const knownBy = (versionNumber: number): Array<OptionFlag> =>
  all.filter((flag) => table[flag].since <= versionNumber)
