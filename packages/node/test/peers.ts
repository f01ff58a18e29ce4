/**
 * Real peers for the interop suites, all on loopback and all tied to the test's scope: a TCP
 * listener whose sockets our server accepts, node:tls servers and clients, and `openssl
 * s_server` / `s_client` child processes (killed when the scope closes). Every wait is bounded.
 */
import type * as SslContext from "@effect-openssl/core/SslContext"
import * as TlsConnection from "@effect-openssl/core/TlsConnection"
import * as Data from "effect/Data"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import type * as Scope from "effect/Scope"
import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process"
import * as net from "node:net"
import * as tls from "node:tls"
import * as TestPki from "../../test/src/TestPki.js"
import * as NodeTransport from "../src/NodeTransport.js"

/**
 * The binding without free observation, for suites with node:tls peers in the process. The
 * ex_data free callback runs for every SSL/SSL_CTX freed in the process, and node:tls frees its
 * contexts from garbage-collector callbacks, where V8 forbids entering JavaScript: with
 * observation on, such a free aborts the process (seen here: "Check failed:
 * AllowJavascriptExecution::IsAllowed" under `SecureContext::~SecureContext`). Leak checks in
 * these suites use `Diagnostics.counts`; the suites with free events have no node:tls peers.
 */
export { LiveOpenSsl } from "./util.js"

export const text = (bytes: Uint8Array): string => new TextDecoder().decode(bytes)
export const bytes = (s: string): Uint8Array => new TextEncoder().encode(s)

/** A wait that did not finish in time: names what was awaited, and what the peer said. */
export class PeerTimeout extends Data.TaggedError("PeerTimeout")<{ readonly what: string; readonly detail?: string }> {
  override get message(): string {
    return `timed out waiting for ${this.what}${this.detail === undefined ? "" : `\n${this.detail}`}`
  }
}

export const bounded = <A, E, R>(
  effect: Effect.Effect<A, E, R>,
  what: string,
  timeout: Duration.DurationInput = "10 seconds",
  detail?: () => string
): Effect.Effect<A, E | PeerTimeout, R> =>
  Effect.timeoutFail(effect, {
    duration: timeout,
    onTimeout: () => new PeerTimeout({ what, ...(detail === undefined ? {} : { detail: detail() }) })
  })

// --- TCP listener for our server ---------------------------------------------------------------

export interface Listener {
  readonly port: number
  /** The next accepted TCP socket (bounded wait). */
  readonly socket: Effect.Effect<net.Socket, PeerTimeout>
}

/** A TCP listener on 127.0.0.1 (port chosen by the kernel); it and its sockets close with the scope. */
export const listen: Effect.Effect<Listener, never, Scope.Scope> = Effect.gen(function*() {
  const queue = yield* Effect.acquireRelease(Queue.unbounded<net.Socket>(), Queue.shutdown)
  const open = new Set<net.Socket>()
  const server = yield* Effect.acquireRelease(
    Effect.async<net.Server>((resume) => {
      const server = net.createServer((socket) => {
        open.add(socket)
        socket.once("close", () => open.delete(socket))
        socket.setNoDelay(true)
        Queue.unsafeOffer(queue, socket)
      })
      server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
    }),
    (server) =>
      Effect.async<void>((resume) => {
        for (const socket of open) socket.destroy()
        server.close(() => resume(Effect.void))
      })
  )
  return { port: (server.address() as net.AddressInfo).port, socket: bounded(Queue.take(queue), "a TCP connection") }
})

/** Accept the next TCP connection with our server engine. */
export const acceptOn = (
  listener: Listener,
  context: SslContext.SslContext,
  options: TlsConnection.AcceptOptions = {}
): Effect.Effect<TlsConnection.TlsConnection, TlsConnection.TlsConnectionError | PeerTimeout, Scope.Scope> =>
  Effect.gen(function*() {
    const socket = yield* listener.socket
    const transport = yield* NodeTransport.fromDuplex(socket)
    return yield* TlsConnection.accept(transport, context, { handshakeTimeout: "10 seconds", ...options })
  })

/** Our client over TCP to 127.0.0.1:port. */
export const connectTo = (
  port: number,
  context: SslContext.SslContext,
  options: TlsConnection.ConnectOptions = { hostName: "localhost" }
): Effect.Effect<TlsConnection.TlsConnection, TlsConnection.TlsConnectionError, Scope.Scope> =>
  Effect.gen(function*() {
    const transport = yield* NodeTransport.connectTcp({ host: "127.0.0.1", port })
    return yield* TlsConnection.connect(transport, context, { handshakeTimeout: "10 seconds", ...options })
  })

/** Read until `n` bytes arrived (or close_notify): the concatenation. */
export const readBytes = (
  conn: TlsConnection.TlsConnection,
  n: number
): Effect.Effect<Uint8Array, TlsConnection.TlsConnectionError | PeerTimeout> =>
  bounded(
    Effect.gen(function*() {
      const chunks: Array<Uint8Array> = []
      let total = 0
      while (total < n) {
        const chunk = yield* conn.read
        if (Option.isNone(chunk)) break
        chunks.push(chunk.value)
        total += chunk.value.length
      }
      return Buffer.concat(chunks)
    }),
    `${n} bytes from the peer`
  )

/** Read one newline-terminated line (without the newline). */
export const readLine = (
  conn: TlsConnection.TlsConnection
): Effect.Effect<string, TlsConnection.TlsConnectionError | PeerTimeout> =>
  bounded(
    Effect.gen(function*() {
      let line = ""
      while (!line.includes("\n")) {
        const chunk = yield* conn.read
        if (Option.isNone(chunk)) break
        line += text(chunk.value)
      }
      return line.replace(/\n[\s\S]*$/, "")
    }),
    "a line from the peer"
  )

// --- node:tls ----------------------------------------------------------------------------------

export interface NodeTlsServer {
  readonly port: number
  /** The next connection that completed its handshake. */
  readonly secured: Effect.Effect<tls.TLSSocket, PeerTimeout>
  /** Errors the server reported for connections that failed (e.g. a client refused). */
  readonly errors: ReadonlyArray<Error>
  /** Wait for the server to report an error. */
  readonly failed: Effect.Effect<Error, PeerTimeout>
  /** NSS key log lines the server produced. */
  readonly keylog: ReadonlyArray<string>
}

/**
 * A node:tls server on 127.0.0.1; `onSecure` runs for each established connection (default:
 * echo). Closed, with its sockets, with the scope.
 */
export const nodeTlsServer = (
  options: tls.TlsOptions,
  onSecure: (socket: tls.TLSSocket) => void = (socket) => socket.pipe(socket)
): Effect.Effect<NodeTlsServer, never, Scope.Scope> =>
  Effect.gen(function*() {
    const queue = yield* Effect.acquireRelease(Queue.unbounded<tls.TLSSocket>(), Queue.shutdown)
    const errors: Array<Error> = []
    const keylog: Array<string> = []
    const open = new Set<net.Socket>()
    const waiters = new Set<() => void>()
    const record = (error: Error) => {
      errors.push(error)
      for (const wake of waiters) wake()
    }
    const server = yield* Effect.acquireRelease(
      Effect.async<tls.Server>((resume) => {
        const server = tls.createServer(options, (socket) => {
          socket.on("error", record)
          Queue.unsafeOffer(queue, socket)
          onSecure(socket)
        })
        server.on("connection", (socket: net.Socket) => {
          open.add(socket)
          socket.once("close", () => open.delete(socket))
        })
        server.on("tlsClientError", record)
        server.on("keylog", (line: Buffer) => keylog.push(line.toString("latin1").trimEnd()))
        server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
      }),
      (server) =>
        Effect.async<void>((resume) => {
          for (const socket of open) socket.destroy()
          server.close(() => resume(Effect.void))
        })
    )
    return {
      port: (server.address() as net.AddressInfo).port,
      secured: bounded(Queue.take(queue), "a node:tls connection"),
      errors,
      failed: bounded(
        Effect.async<Error>((resume) => {
          const wake = () => {
            if (errors.length > 0) {
              waiters.delete(wake)
              resume(Effect.succeed(errors[0]!))
            }
          }
          waiters.add(wake)
          wake()
          return Effect.sync(() => waiters.delete(wake))
        }),
        "an error on the node:tls server"
      ),
      keylog
    }
  })

export interface NodeTlsClient {
  readonly socket: tls.TLSSocket
  /** Everything received so far. */
  readonly received: () => string
  /** Wait until the received text matches. */
  readonly waitFor: (pattern: RegExp) => Effect.Effect<RegExpMatchArray, PeerTimeout>
  /** Sessions the client was given (`'session'` events). */
  readonly sessions: ReadonlyArray<Buffer>
  /** Wait for the first error the socket reports. */
  readonly failed: Effect.Effect<Error, PeerTimeout>
}

/**
 * A node:tls client to 127.0.0.1:port; succeeds once the handshake completed (and the
 * certificate verified), fails with the client's error otherwise. Destroyed with the scope.
 */
export const nodeTlsConnect = (
  port: number,
  options: tls.ConnectionOptions
): Effect.Effect<NodeTlsClient, Error | PeerTimeout, Scope.Scope> =>
  Effect.gen(function*() {
    let received = ""
    let secured = false
    let failure: Error | undefined
    const sessions: Array<Buffer> = []
    const waiters = new Set<() => void>()
    const wakeAll = () => {
      for (const wake of waiters) wake()
    }
    // The acquire only creates the socket (it is uninterruptible); the waits below are bounded.
    const socket = yield* Effect.acquireRelease(
      Effect.sync(() => {
        const socket = tls.connect({ host: "127.0.0.1", port, ...options })
        socket.on("session", (session: Buffer) => {
          sessions.push(session)
          wakeAll()
        })
        socket.on("data", (chunk: Buffer) => {
          received += chunk.toString("utf8")
          wakeAll()
        })
        socket.on("error", (error) => {
          failure ??= error
          wakeAll()
        })
        socket.once("secureConnect", () => {
          secured = true
          wakeAll()
        })
        return socket
      }),
      (socket) => Effect.sync(() => socket.destroy())
    )
    const until = <A, E>(what: string, check: () => Effect.Effect<A, E> | undefined) =>
      bounded(
        Effect.async<A, E>((resume) => {
          const wake = () => {
            const result = check()
            if (result !== undefined) {
              waiters.delete(wake)
              resume(result)
            }
          }
          waiters.add(wake)
          wake()
          return Effect.sync(() => waiters.delete(wake))
        }),
        what,
        "10 seconds",
        () => received
      )
    yield* until("a node:tls handshake", () =>
      secured ? Effect.void : failure !== undefined ? Effect.fail(failure) : undefined)
    const waitFor = (pattern: RegExp) =>
      until(`${pattern} from the node:tls server`, () => {
        const match = received.match(pattern)
        return match === null ? undefined : Effect.succeed(match)
      })
    const failed = until("an error on the node:tls client", () =>
      failure === undefined ? undefined : Effect.succeed(failure))
    return {
      socket,
      received: () =>
        received,
      waitFor,
      sessions,
      failed
    }
  })

/** How a socket ended: closed cleanly, or with an error. */
export const socketEnd = (socket: net.Socket): Effect.Effect<Error | undefined, PeerTimeout> =>
  bounded(
    Effect.async<Error | undefined>((resume) => {
      if (socket.destroyed) return resume(Effect.succeed(socket.errored ?? undefined))
      let error: Error | undefined
      socket.on("error", (e) => (error ??= e))
      socket.once("close", () => resume(Effect.succeed(error)))
    }),
    "the socket to close"
  )

// --- openssl command-line peers ----------------------------------------------------------------

export interface Child {
  readonly process: ChildProcessWithoutNullStreams
  /** stdout and stderr so far, interleaved in arrival order. */
  readonly output: () => string
  readonly stdout: () => string
  readonly stderr: () => string
  /** Wait until the output matches. */
  readonly waitFor: (pattern: RegExp, timeout?: Duration.DurationInput) => Effect.Effect<RegExpMatchArray, PeerTimeout>
  readonly write: (input: string) => Effect.Effect<void>
  readonly endInput: Effect.Effect<void>
  /** Wait for the process to exit: its exit code (null when killed by a signal). */
  readonly exited: Effect.Effect<number | null, PeerTimeout>
}

/**
 * Spawn `openssl <args>`; killed (SIGKILL) when the scope closes if it is still running, and
 * waited for, so no child outlives its test.
 */
export const openssl = (args: ReadonlyArray<string>): Effect.Effect<Child, never, Scope.Scope> =>
  spawned("openssl", args, `openssl ${args[0]}`)

/** Spawn `file <args>` (in `cwd`) as `openssl` does; `name` says which program in timeouts. */
export const spawned = (
  file: string,
  args: ReadonlyArray<string>,
  name: string,
  cwd?: string
): Effect.Effect<Child, never, Scope.Scope> =>
  Effect.gen(function*() {
    let output = ""
    let stdout = ""
    let stderr = ""
    const waiters = new Set<() => void>()
    const wakeAll = () => {
      for (const wake of waiters) wake()
    }
    let exitCode: number | null | undefined
    const child = yield* Effect.acquireRelease(
      Effect.sync(() => {
        const child = spawn(file, args, { stdio: ["pipe", "pipe", "pipe"], ...(cwd === undefined ? {} : { cwd }) })
        child.stdout.on("data", (chunk: Buffer) => {
          output += chunk.toString("utf8")
          stdout += chunk.toString("utf8")
          wakeAll()
        })
        child.stderr.on("data", (chunk: Buffer) => {
          output += chunk.toString("utf8")
          stderr += chunk.toString("utf8")
          wakeAll()
        })
        // Writing to a child that already exited raises EPIPE on stdin: the exit code says enough.
        child.stdin.on("error", () => {})
        child.once("exit", (code) => {
          exitCode = code
          wakeAll()
        })
        return child
      }),
      (child) =>
        Effect.async<void>((resume) => {
          if (exitCode !== undefined) return resume(Effect.void)
          child.once("exit", () => resume(Effect.void))
          child.kill("SIGKILL")
        }).pipe(Effect.timeout("5 seconds"), Effect.ignore)
    )
    const until = <A>(what: string, check: () => A | undefined, timeout: Duration.DurationInput = "10 seconds") =>
      bounded(
        Effect.async<A>((resume) => {
          const wake = () => {
            const result = check()
            if (result !== undefined) {
              waiters.delete(wake)
              resume(Effect.succeed(result))
            }
          }
          waiters.add(wake)
          wake()
          return Effect.sync(() => waiters.delete(wake))
        }),
        `${what} from ${name}`,
        timeout,
        () => output
      )
    return {
      process: child,
      output: () => output,
      stdout: () => stdout,
      stderr: () => stderr,
      waitFor: (pattern, timeout) => until(String(pattern), () => output.match(pattern) ?? undefined, timeout),
      write: (input) => Effect.sync(() => void child.stdin.write(input)),
      endInput: Effect.sync(() => void child.stdin.end()),
      exited: until("exit", () => exitCode === undefined ? undefined : { code: exitCode }).pipe(
        Effect.map(({ code }) => code)
      )
    }
  })

/**
 * `openssl s_server` on 127.0.0.1 with a kernel-chosen port, in `-rev` mode (each line comes
 * back reversed) unless `args` says otherwise. Ready once it printed the port it listens on.
 */
export const sServer = (
  args: ReadonlyArray<string>
): Effect.Effect<Child & { readonly port: number }, PeerTimeout, Scope.Scope> =>
  Effect.gen(function*() {
    const child = yield* openssl(["s_server", "-accept", "127.0.0.1:0", ...args])
    const match = yield* child.waitFor(/ACCEPT 127\.0\.0\.1:(\d+)/)
    return { ...child, port: Number(match[1]) }
  })

/**
 * `openssl s_client` to 127.0.0.1:port. Its full report (protocol, ALPN, "New" or "Reused",
 * verify result) is in the output.
 */
export const sClient = (port: number, args: ReadonlyArray<string>): Effect.Effect<Child, never, Scope.Scope> =>
  openssl(["s_client", "-connect", `127.0.0.1:${port}`, ...args])

// --- curl --------------------------------------------------------------------------------------

export interface CurlResult {
  readonly body: Buffer
  /** `%{http_version}`: "1.1" or "2". */
  readonly httpVersion: string
  readonly status: number
}

/**
 * Run curl against `https://localhost:<port><path>` (resolved to 127.0.0.1), trusting `cacert`;
 * `input` is POSTed. Fails with curl's message unless it exits 0.
 */
export const curlRequest = (
  port: number,
  path: string,
  options: { readonly cacert: string; readonly input?: Uint8Array | undefined; readonly http2?: boolean | undefined }
) =>
  Effect.async<CurlResult, Error>((resume) => {
    const args = [
      "-sS",
      "--fail",
      "--max-time",
      "10",
      "--cacert",
      options.cacert,
      "--resolve",
      `localhost:${port}:127.0.0.1`,
      "-w",
      "\n%{http_version} %{http_code}",
      options.http2 === true ? "--http2" : "--http1.1"
    ]
    if (options.input !== undefined) {
      args.push("--data-binary", "@-", "-H", "content-type: application/octet-stream")
    }
    const child = spawn("curl", [...args, `https://localhost:${port}${path}`])
    const out: Array<Buffer> = []
    let err = ""
    child.stdout.on("data", (chunk: Buffer) => out.push(chunk))
    child.stderr.on("data", (chunk: Buffer) => (err += chunk.toString()))
    child.on("error", (error) => resume(Effect.fail(error)))
    child.on("close", (code) => {
      if (code !== 0) return resume(Effect.fail(new Error(`curl exited ${code}: ${err}`)))
      const all = Buffer.concat(out)
      const at = all.lastIndexOf("\n")
      const [httpVersion, status] = all.subarray(at + 1).toString().split(" ") as [string, string]
      resume(Effect.succeed({ body: all.subarray(0, at), httpVersion, status: Number(status) }))
    })
    child.stdin.end(options.input)
    return Effect.sync(() => child.kill())
  }).pipe(Effect.timeout("15 seconds"))

// --- certificates ------------------------------------------------------------------------------

/** A test PKI, a second server certificate for SNI, and all of it as PEM files for openssl. */
export const interopPki = Effect.gen(function*() {
  const pki = yield* TestPki.make()
  // Issued by the root itself, so its chain is the leaf alone (s_server's -cert2 takes no chain).
  const other = yield* TestPki.server(pki.ca, { hostNames: [otherHost] })
  const files = yield* TestPki.writeFiles({
    ca: pki.trust,
    intermediate: pki.intermediate.certificate,
    server: pki.server.certificate,
    serverKey: pki.server.key,
    client: pki.client.certificate,
    clientKey: pki.client.key,
    other: other.certificate,
    otherKey: other.key
  })
  return { ...pki, other, paths: files.paths }
})

/** s_server's certificate, chain and key: the server leaf under the intermediate, as `interopPki` writes them. */
export const serverIdentity = (paths: {
  readonly server: string
  readonly intermediate: string
  readonly serverKey: string
}): Array<string> => ["-cert", paths.server, "-cert_chain", paths.intermediate, "-key", paths.serverKey]

/** The second host name the SNI tests serve. */
export const otherHost = "other.test"
