/**
 * The in-repo load client of the loopback table, a `node` program of its own (bundled to
 * `.build/loadClient.mjs`), run with one job as JSON in its first argument; it prints its
 * result as one line of JSON.
 *
 * - `http`: `connections` node:tls connections, each sending `GET /` and waiting for the whole
 *   response before the next request (as wrk does), for `seconds`; with `newConnections`, each
 *   request on a connection of its own (`Connection: close`).
 * - `echo`: one node:tls connection writing `recordSize`-byte records as fast as the socket takes
 *   them, for `seconds`, counting the bytes that come back.
 *
 * Every connection verifies the server's certificate against `ca` for `host`.
 */
import * as tls from "node:tls"

export interface Target {
  readonly port: number
  readonly host: string
  readonly ca: string
  readonly seconds: number
}

export type Job =
  | Target & { readonly mode: "http"; readonly connections: number; readonly newConnections: boolean }
  | Target & { readonly mode: "echo"; readonly recordSize: number }

export interface HttpResult {
  /** Requests answered with 200 within the run. */
  readonly requests: number
  readonly requestsPerSecond: number
  readonly p50Ms: number
  readonly p99Ms: number
  /** Failed connections and responses other than 200. */
  readonly errors: number
}

export interface EchoResult {
  /** Payload bytes echoed back per second, in 10^6 bytes. */
  readonly mbPerSecond: number
}

const open = (target: Target): Promise<tls.TLSSocket> =>
  new Promise((resolve, reject) => {
    const socket = tls.connect({ host: "127.0.0.1", port: target.port, servername: target.host, ca: target.ca })
    socket.once("secureConnect", () => {
      socket.off("error", reject)
      resolve(socket)
    })
    socket.once("error", reject)
  })

/** One HTTP/1.1 exchange at a time over `socket`: resolves with the response's status line. */
const exchanger = (socket: tls.TLSSocket) => {
  let buffer = ""
  let pending: { resolve: (status: string) => void; reject: (error: Error) => void } | undefined
  const fail = (error: Error) => {
    pending?.reject(error)
    pending = undefined
  }
  socket.setEncoding("latin1")
  socket.on("data", (chunk: string) => {
    buffer += chunk
    const headersEnd = buffer.indexOf("\r\n\r\n")
    if (headersEnd < 0) return
    const length = /\r\ncontent-length: *(\d+)/i.exec(buffer.slice(0, headersEnd))
    if (length === null) return fail(new Error("response without Content-Length"))
    if (buffer.length < headersEnd + 4 + Number(length[1])) return
    const status = buffer.slice(0, buffer.indexOf("\r\n"))
    buffer = ""
    pending?.resolve(status)
    pending = undefined
  })
  socket.on("error", fail)
  socket.on("close", () => fail(new Error("connection closed before the response")))
  return (request: Buffer) =>
    new Promise<string>((resolve, reject) => {
      pending = { resolve, reject }
      socket.write(request)
    })
}

const runHttp = async (job: Extract<Job, { mode: "http" }>): Promise<HttpResult> => {
  const request = Buffer.from(
    `GET / HTTP/1.1\r\nHost: ${job.host}\r\n${job.newConnections ? "Connection: close\r\n" : ""}\r\n`
  )
  const latencies: Array<number> = []
  let errors = 0
  const start = performance.now()
  const deadline = start + job.seconds * 1000
  const worker = async () => {
    while (performance.now() < deadline) {
      let socket: tls.TLSSocket | undefined
      try {
        socket = await open(job)
        const exchange = exchanger(socket)
        do {
          const sent = performance.now()
          const status = await exchange(request)
          const now = performance.now()
          if (!status.startsWith("HTTP/1.1 200")) errors++
          else if (now <= deadline) latencies.push(now - sent)
        } while (!job.newConnections && performance.now() < deadline)
      } catch {
        errors++
      } finally {
        socket?.end()
      }
    }
  }
  await Promise.all(Array.from({ length: job.connections }, worker))
  latencies.sort((a, b) => a - b)
  const percentile = (q: number) => latencies[Math.max(0, Math.ceil(q * latencies.length) - 1)] ?? NaN
  return {
    requests: latencies.length,
    requestsPerSecond: latencies.length / job.seconds,
    p50Ms: percentile(0.5),
    p99Ms: percentile(0.99),
    errors
  }
}

const runEcho = async (job: Extract<Job, { mode: "echo" }>): Promise<EchoResult> => {
  const socket = await open(job)
  const record = Buffer.alloc(job.recordSize, "x")
  let received = 0
  socket.on("data", (chunk: Buffer) => {
    received += chunk.length
  })
  const start = performance.now()
  let writing = true
  const pump = () => {
    while (writing && socket.write(record)) { /* until the socket asks to wait for "drain" */ }
  }
  socket.on("drain", pump)
  pump()
  await new Promise((resolve) => setTimeout(resolve, job.seconds * 1000))
  writing = false
  const seconds = (performance.now() - start) / 1000
  socket.destroy()
  return { mbPerSecond: received / 1e6 / seconds }
}

const job = JSON.parse(process.argv[2]!) as Job
console.log(JSON.stringify(job.mode === "http" ? await runHttp(job) : await runEcho(job)))
