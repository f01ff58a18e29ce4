import { Duplex } from "node:stream"

/**
 * How a `ConnectingDuplex` gets its connection: started once, when the stream is constructed;
 * `ready` hands over the connected stream, `fail` ends the attempt. Returns what cancels the
 * attempt (the stream was destroyed before it was ready).
 */
export type Connect = (ready: (inner: Inner) => void, fail: (error: unknown) => void) => () => void

/** The connected stream: a `NodeTlsDuplex`, whose idle timer this stream uses. */
export type Inner = Duplex & { readonly setTimeout?: (ms: number) => unknown }

/**
 * The stream a `createConnection` returns at once, as `net.connect` returns a socket that is
 * still connecting, while the TLS connection behind it is being made.
 *
 * Node's stream construction (`_construct`) does the waiting: writes queue in the stream until
 * the connection is ready, and a failed attempt destroys the stream with the attempt's error,
 * never sooner than the tick after `createConnection` returned (so whoever took the stream has
 * its `error` listener on by then). Once ready, it passes bytes through to the connected stream
 * (`NodeTlsDuplex`), whose `setTimeout` it forwards.
 *
 * It also has what an `http.Agent` calls on its sockets: `setTimeout` and `timeout` (idle
 * connections are destroyed on `timeout`), `destroySoon`, and `ref` / `unref` / `setKeepAlive`
 * / `setNoDelay`, which do nothing: the connection belongs to an Effect scope, and its transport
 * to the library.
 */
export class ConnectingDuplex extends Duplex {
  /** As `net.Socket#timeout`: the idle time set by `setTimeout` (0: none). */
  timeout = 0
  #inner: Inner | undefined
  #cancel: (() => void) | undefined

  constructor(private readonly connect: Connect) {
    super({ allowHalfOpen: false })
  }

  override _construct(callback: (error?: Error | null) => void): void {
    // Destroyed before construction: no attempt (the deferred destroy completes on the callback).
    if (this.destroyed) return callback()
    let settled = false
    this.#cancel = this.connect(
      (inner) => {
        if (settled) return
        settled = true
        this.#cancel = undefined
        this.#attach(inner)
        callback()
      },
      (error) => {
        if (settled) return
        settled = true
        this.#cancel = undefined
        // A cancelled attempt: the stream is already being destroyed, with its own reason.
        callback(this.destroyed ? null : error as Error)
      }
    )
  }

  /** While connecting, destroying also cancels the attempt (Node defers `_destroy` until construction ends). */
  override destroy(error?: Error): this {
    const cancel = this.#cancel
    this.#cancel = undefined
    super.destroy(error)
    cancel?.()
    return this
  }

  override _read(): void {
    this.#inner?.resume()
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.#inner!.write(chunk, callback)
  }

  override _writev(
    chunks: Array<{ chunk: Buffer; encoding: BufferEncoding }>,
    callback: (error?: Error | null) => void
  ): void {
    const data = chunks.length === 1 ? chunks[0]!.chunk : Buffer.concat(chunks.map(({ chunk }) => chunk))
    this.#inner!.write(data, callback)
  }

  override _final(callback: (error?: Error | null) => void): void {
    // The inner stream may have ended its side already (it does when the peer closes), or be
    // gone; its failures reach this stream through its `error` event.
    const inner = this.#inner!
    if (inner.writableFinished || inner.destroyed) return callback()
    if (!inner.writableEnded) inner.end()
    const done = () => {
      inner.off("finish", done)
      inner.off("close", done)
      callback()
    }
    inner.once("finish", done)
    inner.once("close", done)
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#inner?.destroy()
    callback(error)
  }

  setTimeout(ms: number, callback?: () => void): this {
    this.timeout = ms
    if (callback !== undefined) {
      if (ms === 0) this.off("timeout", callback)
      else this.once("timeout", callback)
    }
    this.#inner?.setTimeout?.(ms)
    return this
  }

  /** As `net.Socket#destroySoon`: end, and destroy once the end went out. */
  destroySoon(): void {
    if (this.writable) this.end()
    if (this.writableFinished) this.destroy()
    else this.once("finish", () => this.destroy())
  }

  ref(): this {
    return this
  }

  unref(): this {
    return this
  }

  setKeepAlive(): this {
    return this
  }

  setNoDelay(): this {
    return this
  }

  #attach(inner: Inner): void {
    this.#inner = inner
    inner.on("data", (chunk: Buffer) => {
      if (!this.push(chunk)) inner.pause()
    })
    let ended = false
    inner.once("end", () => {
      ended = true
      this.push(null)
    })
    inner.on("error", (error) => this.destroy(error))
    // After a clean end this stream ends and finishes by itself (its reader still gets what was
    // pushed before the end); otherwise the connection went away under it.
    inner.once("close", () => {
      if (!ended) this.destroy()
    })
    inner.on("timeout", () => this.emit("timeout"))
    if (this.timeout > 0) this.setTimeout(this.timeout)
  }
}
