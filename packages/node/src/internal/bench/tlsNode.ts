/**
 * The node:tls column of the TLS benchmark: a client `TLSSocket` and a server `TLSSocket` over
 * an in-process duplex pair (no TCP), one connection at a time, with one secure context per
 * side, as the C reference has one `SSL_CTX` per side.
 */
import { once } from "node:events"
import { Duplex } from "node:stream"
import * as tls from "node:tls"
import type { TlsColumn, TlsFixture } from "./tls.js"

/**
 * One end of an in-memory duplex pair (the shape of Node's `stream.duplexPair`, which Node 20
 * lacks): a write becomes the peer's readable data, and its callback waits until the peer
 * reads, so a fast writer is held back the way a socket would hold it back.
 */
class PairEnd extends Duplex {
  peer: PairEnd | undefined
  private pendingWrite: (() => void) | undefined

  override _read(): void {
    const callback = this.pendingWrite
    if (callback !== undefined) {
      this.pendingWrite = undefined
      callback()
    }
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (chunk.length === 0) {
      process.nextTick(callback)
      return
    }
    this.peer!.push(chunk)
    this.peer!.pendingWrite = callback
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.peer!.on("end", () => callback())
    this.peer!.push(null)
  }
}

const duplexPair = (): readonly [PairEnd, PairEnd] => {
  const a = new PairEnd()
  const b = new PairEnd()
  a.peer = b
  b.peer = a
  return [a, b]
}

interface Connection {
  readonly client: tls.TLSSocket
  readonly server: tls.TLSSocket
  /** The ticket the client received after a full handshake, or the one it offered. */
  readonly session: Buffer
}

export const nodeTlsColumn = (fixture: TlsFixture): TlsColumn => {
  const common = { minVersion: "TLSv1.3", maxVersion: "TLSv1.3", ciphers: fixture.cipher } as const
  const serverContext = tls.createSecureContext({ ...common, cert: fixture.certPem, key: fixture.keyPem })
  const clientContext = tls.createSecureContext({ ...common, ca: fixture.caPem })

  /**
   * Resolves once both handshakes completed and, after a full handshake, the client received a
   * ticket, like the C loop (which reads the tickets before closing). A resumed connection gets
   * no ticket: node:tls servers decrypt tickets with their own key callback, which does not ask
   * OpenSSL to renew them. Verification is node:tls's default: the chain against the CA and the
   * host name against the certificate.
   */
  const connect = (session: Buffer | undefined): Promise<Connection> =>
    new Promise((resolve, reject) => {
      const [clientEnd, serverEnd] = duplexPair()
      const server = new tls.TLSSocket(serverEnd, { isServer: true, secureContext: serverContext })
      const client = tls.connect({
        socket: clientEnd,
        secureContext: clientContext,
        servername: fixture.host,
        ...(session === undefined ? {} : { session })
      })
      let pending = session === undefined ? 3 : 2
      let ticket = session
      const step = () => {
        if (--pending > 0) return
        const cipher = client.getCipher().standardName
        if (client.getProtocol() !== "TLSv1.3" || cipher !== fixture.cipher) {
          fail(new Error(`node:tls negotiated ${client.getProtocol()} with ${cipher}`))
        } else if (client.isSessionReused() !== (session !== undefined)) {
          fail(new Error(session === undefined ? "a full handshake was resumed" : "the session was not resumed"))
        } else {
          resolve({ client, server, session: ticket! })
        }
      }
      const fail = (error: Error) => {
        client.destroy()
        server.destroy()
        reject(error)
      }
      client.on("error", fail)
      server.on("error", fail)
      server.once("secure", step)
      client.once("secureConnect", step)
      if (session === undefined) {
        client.once("session", (data: Buffer) => {
          ticket = data
          step()
        })
      }
    })

  const close = ({ client, server }: Connection) => {
    client.destroy()
    server.destroy()
  }

  const handshakes = async (n: number, session: Buffer | undefined) => {
    const start = process.hrtime.bigint()
    for (let i = 0; i < n; i++) close(await connect(session))
    return perSecond(n, start)
  }

  return {
    fullHandshake: (n) => handshakes(n, undefined),
    resumed: async (n) => {
      const first = await connect(undefined)
      close(first)
      return handshakes(n, first.session)
    },
    bulk: async (bytes) => {
      const connection = await connect(undefined)
      const { client, server } = connection
      const record = Buffer.alloc(fixture.recordSize, "x")
      let received = 0
      const done = new Promise<void>((resolve, reject) => {
        server.on("error", reject)
        server.on("data", (chunk: Buffer) => {
          received += chunk.length
          if (received >= bytes) resolve()
        })
      })
      const start = process.hrtime.bigint()
      for (let sent = 0; sent < bytes; sent += record.length) {
        if (!client.write(record)) await once(client, "drain")
      }
      await done
      const seconds = Number(process.hrtime.bigint() - start) / 1e9
      close(connection)
      return received / 1e6 / seconds
    }
  }
}

const perSecond = (n: number, start: bigint) => n / (Number(process.hrtime.bigint() - start) / 1e9)
