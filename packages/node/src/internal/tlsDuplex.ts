/**
 * The Duplex of plaintext over a `TlsConnection` (`NodeTlsDuplex`), for the modules that make
 * one per connection from callbacks: `NodeTlsDuplex.listen` and the HTTPS server.
 */
import type * as TlsConnection from "@effect-openssl/core/TlsConnection"
import { Duplex } from "node:stream"
import type { Options } from "../NodeTlsDuplex.js"

/**
 * Runs on the connection's callback forms (`TlsConnection.unsafe`): see `NodeTlsDuplex`. The
 * connection is not released with the stream: whoever made the stream releases it.
 */
export class TlsDuplex extends Duplex {
  readonly #subscription: TlsConnection.Subscription
  #timeout = 0
  #timer: ReturnType<typeof setTimeout> | undefined

  constructor(readonly connection: TlsConnection.TlsConnection, options: Options) {
    super({
      allowHalfOpen: options.allowHalfOpen ?? false,
      ...(options.readableHighWaterMark === undefined ? {} : { readableHighWaterMark: options.readableHighWaterMark }),
      ...(options.writableHighWaterMark === undefined ? {} : { writableHighWaterMark: options.writableHighWaterMark })
    })
    // Plaintext is pushed as the driver reads it, in the same synchronous step: a push that
    // returns false pauses delivery (and the transport) until the next `_read`.
    this.#subscription = connection.unsafe.subscribe({
      data: (chunk) => {
        this.#touch()
        return this.push(chunk)
      },
      end: () => this.push(null),
      error: (error) => this.destroy(error)
    })
  }

  override _read(): void {
    this.#subscription.resume()
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.#touch()
    this.connection.unsafe.write(chunk, (error) => callback(error ?? null))
  }

  /** Chunks queued while a write was in progress go out as one write (fewer, fuller records). */
  override _writev(
    chunks: Array<{ chunk: Buffer; encoding: BufferEncoding }>,
    callback: (error?: Error | null) => void
  ): void {
    this.#touch()
    const data = chunks.length === 1 ? chunks[0]!.chunk : Buffer.concat(chunks.map(({ chunk }) => chunk))
    this.connection.unsafe.write(data, (error) => callback(error ?? null))
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.connection.unsafe.closeWrite((error) => callback(error ?? null))
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    clearTimeout(this.#timer)
    this.#subscription.unsubscribe()
    callback(error)
  }

  /**
   * As `net.Socket#setTimeout`: emit `timeout` after `ms` without reads or writes (0 turns it
   * off). `node:http` servers use it to close idle keep-alive connections.
   */
  setTimeout(ms: number, callback?: () => void): this {
    this.#timeout = ms
    if (callback !== undefined) {
      if (ms === 0) this.off("timeout", callback)
      else this.once("timeout", callback)
    }
    clearTimeout(this.#timer)
    this.#timer = undefined
    if (ms > 0 && !this.destroyed) {
      this.#timer = setTimeout(() => this.emit("timeout"), ms)
      this.#timer.unref()
    }
    return this
  }

  /** As `net.Socket#destroySoon`: end, and destroy once the close_notify went out. */
  destroySoon(): void {
    if (this.writable) this.end()
    if (this.writableFinished) this.destroy()
    else this.once("finish", () => this.destroy())
  }

  /** As `net.Socket#setNoDelay` / `setKeepAlive`: the transport underneath decides; kept for callers that ask. */
  setNoDelay(): this {
    return this
  }

  setKeepAlive(): this {
    return this
  }

  #touch(): void {
    if (this.#timeout > 0) this.#timer?.refresh()
  }
}
