/**
 * The metrics a TLS server records, as Effect `Metric`s: an app that exports metrics (for
 * instance with `@effect/opentelemetry`) sees them under these names. The server layers of
 * `@effect-openssl/node` update them once per event (a handshake, a connection opening or
 * closing), never per record, so they cost nothing on the data path.
 *
 * | name | kind | tags |
 * |---|---|---|
 * | `effect_openssl_handshakes_total` | counter | `outcome` (`success`, `failure`), `reason` (failures: `TlsError` reason, `VerifyError`, `TransportError`, `InvalidOptionError`, …) |
 * | `effect_openssl_handshake_duration_seconds` | histogram | `outcome` |
 * | `effect_openssl_connections_active` | gauge | |
 * | `effect_openssl_connections_refused_total` | counter | `limit` (`connections`) |
 * | `effect_openssl_bytes_received_total` | counter | |
 * | `effect_openssl_bytes_sent_total` | counter | |
 *
 * Byte counts are TLS bytes on the wire (records, not plaintext), added when a connection closes.
 *
 * @since 0.1.0
 */
import * as Metric from "effect/Metric"
import * as MetricBoundaries from "effect/MetricBoundaries"
import * as MetricLabel from "effect/MetricLabel"

/**
 * Handshakes completed or failed.
 *
 * @since 0.1.0
 * @category metrics
 */
export const handshakes = Metric.counter("effect_openssl_handshakes_total", {
  description: "TLS handshakes a server completed (outcome=success) or failed (outcome=failure, reason)",
  incremental: true
})

/**
 * How long handshakes took, from the accepted connection to the handshake's end.
 *
 * @since 0.1.0
 * @category metrics
 */
export const handshakeDuration = Metric.histogram(
  "effect_openssl_handshake_duration_seconds",
  MetricBoundaries.exponential({ start: 0.0005, factor: 2, count: 16 }),
  "TLS handshake duration in seconds, by outcome"
)

/**
 * Connections open now (handshake done, not yet closed).
 *
 * @since 0.1.0
 * @category metrics
 */
export const activeConnections = Metric.gauge("effect_openssl_connections_active", {
  description: "TLS connections open on a server"
})

/**
 * Connections closed at once because a limit was reached.
 *
 * @since 0.1.0
 * @category metrics
 */
export const refusedConnections = Metric.counter("effect_openssl_connections_refused_total", {
  description: "Connections a server closed at once because a limit was reached (limit)",
  incremental: true
})

/**
 * TLS bytes received, counted when connections close.
 *
 * @since 0.1.0
 * @category metrics
 */
export const bytesReceived = Metric.counter("effect_openssl_bytes_received_total", {
  description: "TLS bytes a server received (records on the wire), added when a connection closes",
  incremental: true
})

/**
 * TLS bytes sent, counted when connections close.
 *
 * @since 0.1.0
 * @category metrics
 */
export const bytesSent = Metric.counter("effect_openssl_bytes_sent_total", {
  description: "TLS bytes a server sent (records on the wire), added when a connection closes",
  incremental: true
})

/**
 * Tags of a handshake outcome.
 *
 * @since 0.1.0
 * @category tags
 */
export const outcomeTags = (failure: { readonly _tag: string; readonly reason?: unknown } | undefined) =>
  failure === undefined
    ? successTags
    : [
      MetricLabel.make("outcome", "failure"),
      MetricLabel.make(
        "reason",
        typeof failure.reason === "string" && failure._tag === "TlsError" ? failure.reason : failure._tag
      )
    ]

const successTags = [MetricLabel.make("outcome", "success")]
