/**
 * The parent's side of a server program (`servers/*.ts`, bundled to `.build/<name>.mjs`): start
 * it as its own `node` process, check that it negotiates what every server must, ask it for its
 * CPU time, stop it.
 */
import { type ChildProcess, fork } from "node:child_process"
import * as path from "node:path"
import * as tls from "node:tls"
import { benchDir, type TlsFixture } from "../fixture.js"
import type { CpuReport } from "./serve.js"

export interface Server {
  readonly name: string
  readonly port: number
  /** The process's CPU time so far (user + system, every thread), in microseconds. */
  readonly cpuMicros: () => Promise<number>
  readonly stop: () => Promise<void>
}

const nextMessage = <A>(child: ChildProcess, name: string): Promise<A> =>
  new Promise((resolve, reject) => {
    const onExit = () => reject(new Error(`server program ${name} exited (code ${child.exitCode})`))
    if (child.exitCode !== null || child.signalCode !== null) return onExit()
    child.once("exit", onExit)
    child.once("message", (message) => {
      child.off("exit", onExit)
      resolve(message as A)
    })
  })

/** The HTTPS pair: `servers/httpsOurs.ts` and `servers/httpsNode.ts`. */
export interface HttpsServers {
  readonly ours: Server
  readonly node: Server
}

/**
 * The TLS echo servers: `servers/echoConnection.ts`, `servers/echoSocket.ts`,
 * `servers/echoSocketServer.ts`, `servers/echoNode.ts`.
 */
export interface EchoServers {
  readonly connection: Server
  readonly socket: Server
  readonly socketServer: Server
  /** No library: the floor (`servers/echoFloor.ts`). */
  readonly floor: Server
  readonly node: Server
}

/** Our echo servers, each compared with `node`, and how the table names them. */
export const ourEchoServers = [
  ["connection", "TlsConnection over NodeTransport"],
  ["socket", "TlsSocket over NodeSocket"],
  ["socketServer", "NodeTlsSocketServer (limits, metrics, spans)"],
  ["floor", "no library (koffi and OpenSSL straight on node:net: the floor)"]
] as const

/** Every echo server, ours and node's, in the order of their rounds. */
export const echoServerKeys: ReadonlyArray<keyof EchoServers> = [...ourEchoServers.map(([key]) => key), "node"]

/** Start the server program `name` on the running Node, and check it with `probe`. */
export const startServer = async (name: string, fixture: TlsFixture): Promise<Server> => {
  const child = fork(path.join(benchDir, ".build", `${name}.mjs`), [], {
    stdio: ["ignore", "inherit", "inherit", "ipc"]
  })
  const { port } = await nextMessage<{ port: number }>(child, name)
  const server: Server = {
    name,
    port,
    cpuMicros: async () => {
      const reply = nextMessage<CpuReport>(child, name)
      child.send("cpu")
      return (await reply).cpuMicros
    },
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve()
        child.once("exit", () => resolve())
        child.disconnect()
      })
  }
  try {
    await probe(server, fixture)
  } catch (error) {
    await server.stop()
    throw error
  }
  return server
}

/**
 * Every server must present the bench's certificate (verified, for its host name) and negotiate
 * TLS 1.3 with the bench's cipher, and must not resume a session (every new connection is a
 * full handshake): two connections, the second offering the first one's ticket.
 */
const probe = async (server: Server, fixture: TlsFixture): Promise<void> => {
  const first = await connect(server, fixture, undefined)
  const second = await connect(server, fixture, first)
  if (second.reused) throw new Error(`${server.name} resumed a session`)
}

/** One connection: checks what it negotiated, waits for a ticket, and returns it. */
const connect = (server: Server, fixture: TlsFixture, previous: { session: Buffer } | undefined) =>
  new Promise<{ session: Buffer; reused: boolean }>((resolve, reject) => {
    const socket = tls.connect({
      host: "127.0.0.1",
      port: server.port,
      servername: fixture.host,
      ca: fixture.caPem,
      ...(previous === undefined ? {} : { session: previous.session })
    })
    const fail = (error: Error) => {
      clearTimeout(timer)
      socket.destroy()
      reject(new Error(`${server.name}: ${error.message}`))
    }
    const timer = setTimeout(() => fail(new Error("no session ticket within 5 s")), 5000)
    let reused = false
    socket.once("secureConnect", () => {
      const cipher = socket.getCipher().standardName
      if (socket.getProtocol() !== "TLSv1.3" || cipher !== fixture.cipher) {
        return fail(new Error(`negotiated ${socket.getProtocol()} with ${cipher}`))
      }
      reused = socket.isSessionReused()
    })
    socket.once("session", (session: Buffer) => {
      clearTimeout(timer)
      socket.destroy()
      resolve({ session, reused })
    })
    socket.on("error", fail)
  })

/** Run `load` against `server`: its result, and the server's CPU time meanwhile (µs). */
export const withCpu = async <A>(server: Server, load: () => Promise<A>): Promise<{ result: A; cpuMicros: number }> => {
  const before = await server.cpuMicros()
  const result = await load()
  return { result, cpuMicros: (await server.cpuMicros()) - before }
}

/** Start the server programs `names`, all at once (all or none). */
export const startServers = async <K extends string>(
  names: ReadonlyArray<K>,
  fixture: TlsFixture
): Promise<Record<K, Server>> => {
  const started = await Promise.allSettled(names.map((name) => startServer(name, fixture)))
  const servers = started.flatMap((result) => result.status === "fulfilled" ? [result.value] : [])
  const failed = started.find((result) => result.status === "rejected")
  if (failed !== undefined) {
    await Promise.all(servers.map((server) => server.stop()))
    throw failed.reason
  }
  return Object.fromEntries(servers.map((server) => [server.name, server])) as Record<K, Server>
}

export const stopServers = async (servers: Record<string, Server>): Promise<void> => {
  await Promise.all(Object.values(servers).map((server) => server.stop()))
}
