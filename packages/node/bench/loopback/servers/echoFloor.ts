/**
 * TLS echo, the floor: no library and no Effect, each socket of a `net.Server` driven straight
 * through the binding's koffi table (memory BIOs, `SSL_do_handshake`, `SSL_read`/`SSL_write`) in
 * the socket's own callbacks, with the same context settings as every other server. What a server
 * on this machine's node:net, koffi and OpenSSL costs with nothing of ours in between: the
 * loopback table's counterpart of the in-memory tables' raw koffi column.
 */
import * as OptionFlag from "@effect-openssl/core/OptionFlag"
import * as net from "node:net"
import { rawServerContext } from "../../../src/internal/bench/tlsKoffi.js"
import {
  BIO_C_SET_BUF_MEM_EOF_RETURN,
  SSL_CTRL,
  SSL_ERROR,
  SSL_SESS_CACHE
} from "../../../src/internal/ffi/constants.js"
import type { Ptr } from "../../../src/internal/ffi/table.js"
import { loadTlsFixture } from "../../fixture.js"
import { listen, serve } from "../serve.js"

const { ctx, native } = rawServerContext(loadTlsFixture())
native.SSL_CTX_set_options(ctx, OptionFlag.toBits(["NO_TICKET"]))
native.SSL_CTX_ctrl(ctx, SSL_CTRL.SET_SESS_CACHE_MODE, SSL_SESS_CACHE.off, null)

/** Plaintext read and echoed at once: one record at most per read. */
const plaintext = Buffer.allocUnsafeSlow(16 * 1024)

const echo = (socket: net.Socket) => {
  const ssl = native.SSL_new(ctx)
  const input = native.BIO_new(native.BIO_s_mem())
  const output = native.BIO_new(native.BIO_s_mem())
  if (ssl === null || input === null || output === null) throw new Error("SSL_new/BIO_new")
  native.BIO_ctrl(input, BIO_C_SET_BUF_MEM_EOF_RETURN, -1, null)
  native.SSL_set_bio(ssl, input, output)
  native.SSL_set_accept_state(ssl)
  let established = false
  let freed = false
  const free = () => {
    if (freed) return
    freed = true
    native.SSL_free(ssl as Ptr<"SSL">)
  }
  /** Everything waiting for the peer, as one write; pauses reading while the socket is full. */
  const flush = () => {
    const pending = Number(native.BIO_ctrl_pending(output))
    if (pending === 0 || socket.destroyed) return
    const out = Buffer.allocUnsafe(pending)
    native.BIO_read(output, out, pending)
    if (!socket.write(out)) {
      socket.pause()
      socket.once("drain", () => socket.resume())
    }
  }
  socket.on("data", (chunk: Buffer) => {
    if (freed) return
    native.BIO_write(input, chunk, chunk.length)
    if (!established) {
      const r = native.SSL_do_handshake(ssl)
      if (r !== 1 && native.SSL_get_error(ssl, r) !== SSL_ERROR.WANT_READ) {
        flush() // the alert
        return socket.destroy()
      }
      established = r === 1
      if (!established) return flush()
    }
    for (;;) {
      const n = native.SSL_read(ssl, plaintext, plaintext.length)
      if (n > 0) {
        native.SSL_write(ssl, plaintext, n)
        continue
      }
      const error = native.SSL_get_error(ssl, n)
      if (error === SSL_ERROR.ZERO_RETURN) {
        native.SSL_shutdown(ssl)
        flush()
        return socket.end()
      }
      if (error !== SSL_ERROR.WANT_READ) return socket.destroy()
      break
    }
    flush()
  })
  socket.on("error", () => {})
  socket.on("close", free)
}

listen(net.createServer({ noDelay: true }, echo)).then(serve)
