/**
 * Errors raised by effect-openssl. Every failure is a value: OpenSSL's error
 * queue is drained into the error at the point of failure.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import * as Predicate from "effect/Predicate"

/**
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: unique symbol = Symbol.for("@effect-openssl/core/SslError")

/**
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

/**
 * One entry of OpenSSL's per-thread error queue.
 *
 * @since 0.1.0
 * @category models
 */
export interface OpenSslErrorEntry {
  /** The packed error code as returned by `ERR_get_error`. */
  readonly code: number
  /** Library number (`ERR_GET_LIB`). */
  readonly library: number
  /** Library name, e.g. `"SSL routines"`, when OpenSSL knows it. */
  readonly libraryName: string | undefined
  /** Reason number (`ERR_GET_REASON`). */
  readonly reason: number
  /** Reason text, e.g. `"no cipher match"`, when OpenSSL knows it. */
  readonly reasonText: string | undefined
  /** The full line from `ERR_error_string_n`. */
  readonly message: string
}

/**
 * A native call failed. `entries` is OpenSSL's error queue at that point, oldest first.
 *
 * @since 0.1.0
 * @category errors
 */
export class OpenSslError extends Data.TaggedError("OpenSslError")<{
  /** The native function (or library operation) that failed. */
  readonly operation: string
  readonly entries: ReadonlyArray<OpenSslErrorEntry>
  readonly cause?: unknown
}> {
  /** @since 0.1.0 */
  readonly [TypeId]: TypeId = TypeId
  /** @since 0.1.0 */
  override get message(): string {
    const reasons = this.entries.map((e) => e.reasonText ?? e.message)
    return reasons.length === 0 ? `${this.operation} failed` : `${this.operation} failed: ${reasons.join("; ")}`
  }
}

/**
 * An option given to a constructor is invalid. Nothing was leaked: any native object
 * allocated before the check was released.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidOptionError extends Data.TaggedError("InvalidOptionError")<{
  /** Dotted path of the offending option, e.g. `"certificate.key"`. */
  readonly option: string
  /** Why it was rejected, in words. */
  readonly reason: string
  /** OpenSSL's own error, when the native library rejected the value. */
  readonly cause?: OpenSslError | undefined
}> {
  /** @since 0.1.0 */
  readonly [TypeId]: TypeId = TypeId
  /** @since 0.1.0 */
  override get message(): string {
    const native = this.cause === undefined ? "" : ` (${this.cause.message})`
    return `invalid option ${this.option}: ${this.reason}${native}`
  }
}

/**
 * A handle was used after its lease was released (its scope closed, or it was released
 * early). The native object was not touched.
 *
 * @since 0.1.0
 * @category errors
 */
export class ReleasedHandleError extends Data.TaggedError("ReleasedHandleError")<{
  readonly kind: NativeKind
  /** What was attempted on the released handle. */
  readonly operation: string
}> {
  /** @since 0.1.0 */
  readonly [TypeId]: TypeId = TypeId
  /** @since 0.1.0 */
  override get message(): string {
    return `${this.operation}: the ${this.kind} handle was already released`
  }
}

/**
 * The operation is not available in the OpenSSL in use (too old, a feature compiled out,
 * or an implementation without native code such as a model).
 *
 * @since 0.1.0
 * @category errors
 */
export class UnsupportedError extends Data.TaggedError("UnsupportedError")<{
  readonly operation: string
  readonly reason: string
}> {
  /** @since 0.1.0 */
  readonly [TypeId]: TypeId = TypeId
  /** @since 0.1.0 */
  override get message(): string {
    return `${this.operation} is not supported: ${this.reason}`
  }
}

/**
 * A TLS connection failed or was used wrongly. `reason`:
 * - `"Protocol"`: OpenSSL rejected the peer's data or the peer sent an alert (`entries` says why);
 * - `"UnexpectedEof"`: the transport ended without close_notify;
 * - `"Syscall"`: an I/O-level failure reported by OpenSSL;
 * - `"Closed"`: the connection is closed (close_notify received or sent) for this operation;
 * - `"Timeout"`: a bounded step (e.g. the closing handshake) ran out of time;
 * - `"Callback"`: a callback failed; the handshake was aborted (fail closed) and `cause` holds the failure;
 * - `"DriverConflict"`: another driver already owns this native `SSL`.
 *
 * @since 0.1.0
 * @category errors
 */
export class TlsError extends Data.TaggedError("TlsError")<{
  readonly reason: "Protocol" | "UnexpectedEof" | "Syscall" | "Closed" | "Timeout" | "Callback" | "DriverConflict"
  readonly operation: string
  readonly entries?: ReadonlyArray<OpenSslErrorEntry> | undefined
  readonly cause?: unknown
}> {
  /** @since 0.1.0 */
  readonly [TypeId]: TypeId = TypeId
  /** @since 0.1.0 */
  override get message(): string {
    const reasons = (this.entries ?? []).map((e) => e.reasonText ?? e.message)
    return `${this.operation}: ${this.reason}${reasons.length > 0 ? ` (${reasons.join("; ")})` : ""}`
  }
}

/**
 * The `TlsError` of a second driver for one native `SSL`: what the binding, the model and the
 * drivers all report, worded once.
 *
 * @since 0.1.0
 * @category constructors
 */
export const driverConflict = (operation: string): TlsError =>
  new TlsError({ reason: "DriverConflict", operation: `${operation}: this SSL already has a driver` })

/**
 * The peer's certificate did not verify. `code` is the X509 verification result
 * (e.g. 62 `X509_V_ERR_HOSTNAME_MISMATCH`, 20 `X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY`,
 * 10 `X509_V_ERR_CERT_HAS_EXPIRED`).
 *
 * @since 0.1.0
 * @category errors
 */
export class VerifyError extends Data.TaggedError("VerifyError")<{
  readonly code: number
  readonly reason: string
  readonly depth: number
  readonly subject: string | undefined
  readonly entries: ReadonlyArray<OpenSslErrorEntry>
}> {
  /** @since 0.1.0 */
  readonly [TypeId]: TypeId = TypeId
  /** @since 0.1.0 */
  override get message(): string {
    return `certificate verification failed at depth ${this.depth}: ${this.reason} (X509 code ${this.code})${
      this.subject === undefined ? "" : ` for ${this.subject}`
    }`
  }
}

/**
 * The kinds of native object the library owns references to.
 *
 * @since 0.1.0
 * @category models
 */
export type NativeKind = "SSL_CTX" | "SSL" | "SSL_SESSION"

/**
 * Any error of the handle lifecycle.
 *
 * @since 0.1.0
 * @category errors
 */
export type SslError =
  | OpenSslError
  | InvalidOptionError
  | ReleasedHandleError
  | UnsupportedError
  | TlsError
  | VerifyError

/**
 * @since 0.1.0
 * @category guards
 */
export const isSslError = (u: unknown): u is SslError => Predicate.hasProperty(u, TypeId)
