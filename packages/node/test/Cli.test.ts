/**
 * The `effect-openssl` command as a person runs it: a process of its own (from the sources, as
 * `pnpm effect-openssl` runs it), against `openssl s_client` / `s_server` and curl.
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import { assert, describe, it, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { execFile } from "node:child_process"
import { createPrivateKey, X509Certificate } from "node:crypto"
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs"
import * as net from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { sourceCondition } from "../../../vitest.shared.js"
import * as TestPki from "../../test/src/TestPki.js"
import * as NodeOpenSsl from "../src/NodeOpenSsl.js"
import { bounded, type Child, interopPki, openssl, serverIdentity, spawned, sServer } from "./peers.js"

/** The binding, and the platform's FileSystem and Path that TestPki writes its files with. */
const CliLayer = Layer.merge(NodeOpenSsl.layer, NodeContext.layer)

const root = fileURLToPath(new URL("../../..", import.meta.url))
const bin = [`--conditions=${sourceCondition}`, "--import", "tsx", "packages/node/src/bin.ts"]
/** Starting the command (tsx compiling it) takes seconds on a loaded machine. */
const startup = "60 seconds"

interface Ran {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

/** Run the command to its end, with `input` on stdin. */
const run = (args: ReadonlyArray<string>, input = "", env: Record<string, string> = {}) =>
  Effect.async<Ran>((resume) => {
    const child = execFile(
      process.execPath,
      [...bin, ...args],
      { cwd: root, timeout: 90_000, env: { ...process.env, ...env } },
      (error, stdout, stderr) =>
        resume(Effect.succeed({ code: error === null ? 0 : Number(error.code ?? -1), stdout, stderr }))
    )
    child.stdin?.end(input)
    return Effect.sync(() => child.kill())
  })

/** The command as a child of the test's scope (killed with it if still running). */
const start = (args: ReadonlyArray<string>) =>
  spawned(process.execPath, [...bin, ...args], `effect-openssl ${args[0]}`, root)

/** Wait until the child ended and its output was read: its exit code. */
const closed = (child: Child) =>
  bounded(
    Effect.async<number | null>((resume) => {
      const done = () => resume(Effect.succeed(child.process.exitCode))
      if (child.process.exitCode !== null && child.process.stdout.readableEnded) return done()
      child.process.once("close", done)
    }),
    "the command to exit",
    startup,
    child.output
  )

/** `serve` with `args`, once it printed where it listens. */
const serve = (args: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const child = yield* start(["serve", "--port", "0", ...args])
    const [, port] = yield* child.waitFor(/ on 127\.0\.0\.1:(\d+) /, startup)
    return { child, port: Number(port) }
  })

/** A line of stderr per failure, and nothing of Effect's own reporting. */
const oneLine = (ran: Ran, pattern: RegExp) => {
  assert.strictEqual(ran.code, 1, ran.stderr)
  assert.match(ran.stderr, /^effect-openssl: [^\n]+\n$/, ran.stderr)
  assert.match(ran.stderr, pattern)
  assert.notMatch(ran.stderr, /Cause|Error:/)
}

/** curl to `https://localhost:<port>/`, trusting `ca`: its status and body. */
const curl = (port: number, args: ReadonlyArray<string>) =>
  Effect.async<Ran>((resume) => {
    const child = execFile(
      "curl",
      ["-sS", "--max-time", "20", "--resolve", `localhost:${port}:127.0.0.1`, ...args, `https://localhost:${port}/x`],
      (error, stdout, stderr) =>
        resume(Effect.succeed({ code: error === null ? 0 : Number(error.code ?? -1), stdout, stderr }))
    )
    return Effect.sync(() => child.kill())
  })

const temporaryDirectory = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "effect-openssl-cli-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)

describe("effect-openssl", () => {
  describe("command lines", () => {
    it.live(
      "--help prints every command on stdout and exits 0; a command's --help its flags",
      () =>
        Effect.gen(function*() {
          const [help, serveHelp] = yield* Effect.all([run(["--help"]), run(["serve", "--help"])], { concurrency: 2 })
          assert.strictEqual(help.code, 0)
          assert.strictEqual(help.stderr, "")
          for (const command of ["serve", "connect", "cert", "bench", "demo", "version"]) {
            assert.match(help.stdout, new RegExp(`- ${command}\\b`))
          }
          // A pipe gets no ANSI styles.
          assert.notInclude(help.stdout, "\x1b[")
          assert.strictEqual(serveHelp.code, 0)
          for (
            const flag of [
              "--port N",
              "--host H",
              "--cert F",
              "--key F",
              "--ca F",
              "--require-client-cert",
              "--alpn a,b"
            ]
          ) {
            assert.include(serveHelp.stdout, flag)
          }
          assert.include(serveHelp.stdout, "--mode echo | http")
        }),
      120_000
    )

    it.live("an unknown flag or command: one line saying so, the usage, exit 2", () =>
      Effect.gen(function*() {
        const [flag, command] = yield* Effect.all([run(["serve", "--prot", "8443"]), run(["serv"])], {
          concurrency: 2
        })
        assert.strictEqual(flag.code, 2)
        assert.strictEqual(flag.stdout, "")
        const lines = flag.stderr.trimEnd().split("\n")
        assert.deepStrictEqual(lines.slice(0, 1), ["The flag '--prot' is not recognized. Did you mean '--port'?"])
        assert.match(lines[1]!, /^usage: effect-openssl serve --port N \[--host H\]/)
        assert.strictEqual(lines.length, 3)
        assert.strictEqual(command.code, 2)
        assert.match(command.stderr, /usage: effect-openssl <serve\|connect\|cert\|bench\|demo\|version>/)
      }), 120_000)

    it.live(
      "version names the OpenSSL it bound and where it comes from: Node's own, or EFFECT_OPENSSL_LIBSSL's",
      () =>
        Effect.gen(function*() {
          const [own, external, missing] = yield* Effect.all([
            run(["version"]),
            run(["version"], "", { EFFECT_OPENSSL_LIBSSL: "libssl.so.3" }),
            run(["version"], "", { EFFECT_OPENSSL_LIBSSL: "libssl-none.so.9" })
          ], { concurrency: 2 })
          assert.strictEqual(own.code, 0, own.stderr)
          assert.match(own.stdout, /^@effect-openssl\/node \d+\.\d+\.\d+\n/)
          assert.include(own.stdout, `OpenSSL ${process.versions.openssl}`)
          assert.include(own.stdout, "Node's own")
          assert.strictEqual(external.code, 0, external.stderr)
          assert.match(
            external.stdout,
            /\nOpenSSL 3\.\S+ .*: the external library libssl\.so\.3 \(EFFECT_OPENSSL_LIBSSL\)\n$/
          )
          oneLine(missing, /cannot bind OpenSSL \(LibraryNotFound\): .*libssl-none\.so\.9/)
        }),
      120_000
    )
  })

  layer(CliLayer)("cert", (it) => {
    it.scoped(
      "a CA, a server certificate for the names given and a client certificate: openssl verify accepts them for their purposes",
      () =>
        Effect.gen(function*() {
          const dir = yield* temporaryDirectory
          const out = join(dir, "certs")
          const ran = yield* run([
            "cert",
            "--out",
            out,
            "--host",
            "app.test",
            "--host",
            "10.1.2.3",
            "--key-type",
            "Ed25519"
          ])
          assert.strictEqual(ran.code, 0, ran.stderr)
          assert.include(ran.stdout, `wrote 6 files to ${out} (Ed25519 keys)`)
          const file = (name: string) => join(out, name)
          for (const key of ["ca-key.pem", "server-key.pem", "client-key.pem"]) {
            assert.strictEqual(statSync(file(key)).mode & 0o777, 0o600, `${key} is private`)
          }
          const verify = (purpose: string, leaf: string) =>
            openssl([
              "verify",
              "-x509_strict",
              "-no-CApath",
              "-no-CAstore",
              "-CAfile",
              file("ca.pem"),
              "-purpose",
              purpose,
              leaf
            ])
              .pipe(Effect.flatMap((child) => Effect.zip(child.exited, Effect.sync(child.output))))
          const [serverCode, serverOut] = yield* verify("sslserver", file("server.pem"))
          assert.strictEqual(serverCode, 0, serverOut)
          const [clientCode, clientOut] = yield* verify("sslclient", file("client.pem"))
          assert.strictEqual(clientCode, 0, clientOut)
          const server = new X509Certificate(readFileSync(file("server.pem")))
          assert.strictEqual(server.subjectAltName, "DNS:app.test, IP Address:10.1.2.3")
          assert.isTrue(server.checkPrivateKey(createPrivateKey(readFileSync(file("server-key.pem")))))

          // A second run into the same directory overwrites nothing.
          const again = yield* run(["cert", "--out", out])
          oneLine(again, /already has ca\.pem/)
          assert.strictEqual(
            new X509Certificate(readFileSync(file("server.pem"))).subjectAltName,
            server.subjectAltName
          )
        }),
      120_000
    )
  })

  layer(CliLayer)("serve", (it) => {
    it.scoped(
      "echo with a self-signed certificate: openssl s_client verifies it against the PEM it names; SIGTERM stops it, removing the PEM",
      () =>
        Effect.gen(function*() {
          const { child, port } = yield* serve([])
          const [, pem] = yield* child.waitFor(/its PEM: (\S+)/)
          const [, fingerprint] = yield* child.waitFor(/SHA-256 fingerprint: ([0-9A-F:]+)/)
          assert.strictEqual(new X509Certificate(readFileSync(pem!)).fingerprint256, fingerprint)

          const client = yield* openssl([
            "s_client",
            "-connect",
            `127.0.0.1:${port}`,
            "-servername",
            "localhost",
            "-verify_hostname",
            "localhost",
            "-CAfile",
            pem!,
            "-verify_return_error",
            "-quiet"
          ])
          yield* client.write("ping over effect-openssl\n")
          yield* client.waitFor(/ping over effect-openssl/)
          assert.match(client.output(), /verify return:1/)

          child.process.kill("SIGTERM")
          assert.strictEqual(yield* closed(child), 0)
          assert.include(child.stderr(), "effect-openssl serve: stopped")
          assert.isFalse(existsSync(pem!), "the PEM is removed")
          // The server's close reached the client, which ended by itself.
          assert.notStrictEqual(yield* client.exited, null)
        }),
      120_000
    )

    it.scoped(
      "http answers curl with JSON about its connection: client certificate required, ALPN http/1.1 though curl offers h2, TLS 1.2",
      () =>
        Effect.gen(function*() {
          const pki = yield* interopPki
          const { paths } = pki
          const serverChain = yield* TestPki.writeFiles({
            chain: pki.server.chain,
            key: pki.server.key,
            clientChain: pki.client.chain
          })
          const { port } = yield* serve([
            "--mode",
            "http",
            "--cert",
            serverChain.paths.chain,
            "--key",
            serverChain.paths.key,
            "--ca",
            paths.ca,
            "--require-client-cert",
            "--tls",
            "1.2"
          ])
          const withCa = ["--cacert", paths.ca]
          const refused = yield* curl(port, withCa)
          assert.notStrictEqual(refused.code, 0, "no client certificate: refused")

          const answered = yield* curl(port, [
            ...withCa,
            "--cert",
            serverChain.paths.clientChain,
            "--key",
            paths.clientKey
          ])
          assert.strictEqual(answered.code, 0, answered.stderr)
          const body = JSON.parse(answered.stdout)
          assert.deepStrictEqual(body, {
            protocol: "TLSv1.2",
            cipher: body.cipher,
            alpn: "http/1.1",
            serverName: "localhost",
            sessionReused: false,
            clientCertificate: "CN=client"
          })
          assert.match(body.cipher, /^ECDHE-ECDSA-/)
        }),
      120_000
    )

    it.scoped(
      "a busy port, an unreadable or malformed PEM, a key that is not the certificate's: one line each",
      () =>
        Effect.gen(function*() {
          const pki = yield* TestPki.make()
          const files = yield* TestPki.writeFiles({
            cert: pki.server.chain,
            key: pki.server.key,
            otherKey: pki.client.key
          })
          const dir = yield* temporaryDirectory
          const damaged = join(dir, "damaged.pem")
          writeFileSync(damaged, pki.server.certificate.slice(0, 200))
          const busy = net.createServer()
          yield* Effect.acquireRelease(
            Effect.async<void>((resume) => void busy.listen(0, "127.0.0.1", () => resume(Effect.void))),
            () => Effect.sync(() => busy.close())
          )
          const busyPort = (busy.address() as net.AddressInfo).port
          const cert = ["--cert", files.paths.cert]
          const results = yield* Effect.all([
            run(["serve", "--port", String(busyPort)]),
            run(["serve", "--port", "0", "--cert", join(dir, "missing.pem"), "--key", files.paths.key]),
            run(["serve", "--port", "0", "--cert", damaged, "--key", files.paths.key]),
            run(["serve", "--port", "0", ...cert, "--key", files.paths.otherKey])
          ], { concurrency: 2 })
          oneLine(results[0], new RegExp(`cannot listen on 127\\.0\\.0\\.1:${busyPort}: the port is in use`))
          oneLine(results[1], new RegExp(`cannot read --cert ${join(dir, "missing.pem")} \\(NotFound\\)`))
          oneLine(results[2], new RegExp(`--cert ${damaged}: block at line 1 has no END line`))
          oneLine(
            results[3],
            new RegExp(`--key ${files.paths.otherKey} is not the key of the certificate in --cert ${files.paths.cert}`)
          )
        }),
      180_000
    )
  })

  layer(CliLayer)("connect", (it) => {
    it.scoped(
      "to openssl s_server: a summary line on stderr, stdin to the server and its answer to stdout",
      () =>
        Effect.gen(function*() {
          const { paths } = yield* interopPki
          const server = yield* sServer([
            ...serverIdentity(paths),
            "-rev",
            "-naccept",
            "1",
            "-alpn",
            "h2"
          ])
          const ran = yield* run(
            ["connect", `localhost:${server.port}`, "--ca", paths.ca, "--alpn", "h2,http/1.1"],
            "hello from effect-openssl\n"
          )
          assert.strictEqual(ran.code, 0, ran.stderr)
          assert.strictEqual(ran.stdout, `${[..."hello from effect-openssl"].reverse().join("")}\n`)
          assert.strictEqual(
            ran.stderr,
            `TLSv1.3, ${ran.stderr.split(", ")[1]}, ALPN h2, verified (CN=localhost), new session\n`
          )
        }),
      120_000
    )

    it.scoped(
      "a chain that does not verify: exit 1 with the X509 error; with --insecure it goes on and says why",
      () =>
        Effect.gen(function*() {
          const { paths } = yield* interopPki
          const server = yield* sServer([
            ...serverIdentity(paths),
            "-rev"
          ])
          const stranger = yield* TestPki.make()
          const strangerCa = yield* TestPki.writeFiles({ ca: stranger.trust })
          const [refused, insecure] = yield* Effect.all([
            run(["connect", `localhost:${server.port}`, "--ca", strangerCa.paths.ca], "x\n"),
            run(["connect", `localhost:${server.port}`, "--ca", strangerCa.paths.ca, "--insecure"], "abc\n")
          ], { concurrency: 2 })
          oneLine(
            refused,
            /certificate verification failed at depth \d+: unable to get local issuer certificate \(X509 code 20\)/
          )
          assert.strictEqual(refused.stdout, "")
          assert.strictEqual(insecure.code, 0, insecure.stderr)
          assert.strictEqual(insecure.stdout, "cba\n")
          assert.match(
            insecure.stderr,
            /, not verified: unable to get local issuer certificate \(X509 code 20\) at depth \d+ .*, going on \(--insecure\), new session\n$/
          )
        }),
      120_000
    )

    it.scoped("--sess-out stores the session and --sess-in resumes it", () =>
      Effect.gen(function*() {
        const { paths } = yield* interopPki
        const server = yield* sServer([
          ...serverIdentity(paths),
          "-rev",
          "-naccept",
          "2"
        ])
        const dir = yield* temporaryDirectory
        const session = join(dir, "session.der")
        const target = `localhost:${server.port}`
        const first = yield* run(["connect", target, "--ca", paths.ca, "--sess-out", session], "one\n")
        assert.strictEqual(first.code, 0, first.stderr)
        assert.match(first.stderr, /, new session\n$/)
        assert.strictEqual(statSync(session).mode & 0o777, 0o600, "a session file is private")
        const second = yield* run(["connect", target, "--ca", paths.ca, "--sess-in", session], "two\n")
        assert.strictEqual(second.code, 0, second.stderr)
        assert.strictEqual(second.stdout, "owt\n")
        assert.match(second.stderr, /, session resumed\n$/)
      }), 120_000)

    it.scoped(
      "against serve asking for client certificates: --sess-in resumes; a client without one is a line on the server's stderr",
      () =>
        Effect.gen(function*() {
          const pki = yield* TestPki.make()
          const files = yield* TestPki.writeFiles({
            cert: pki.server.chain,
            key: pki.server.key,
            ca: pki.trust,
            clientCert: pki.client.chain,
            clientKey: pki.client.key
          })
          const { child, port } = yield* serve([
            "--cert",
            files.paths.cert,
            "--key",
            files.paths.key,
            "--ca",
            files.paths.ca,
            "--require-client-cert"
          ])
          const session = join(yield* temporaryDirectory, "session.der")
          const connect = (extra: ReadonlyArray<string>, input: string) =>
            run([
              "connect",
              `localhost:${port}`,
              "--ca",
              files.paths.ca,
              "--cert",
              files.paths.clientCert,
              "--key",
              files.paths.clientKey,
              ...extra
            ], input)
          const first = yield* connect(["--sess-out", session], "first\n")
          assert.strictEqual(first.code, 0, first.stderr)
          assert.match(first.stderr, /, new session\n$/)
          const second = yield* connect(["--sess-in", session], "second\n")
          assert.strictEqual(second.code, 0, second.stderr)
          assert.strictEqual(second.stdout, "second\n")
          assert.match(second.stderr, /, session resumed\n$/)

          const anonymous = yield* run(["connect", `localhost:${port}`, "--ca", files.paths.ca], "hello\n")
          assert.notStrictEqual(anonymous.code, 0)
          yield* child.waitFor(/connection failed: .*peer did not return a certificate/, startup)
        }),
      180_000
    )

    it.scoped(
      "against serve: echo through both ends of the command, and a refused connection in one line",
      () =>
        Effect.gen(function*() {
          const pki = yield* TestPki.make()
          const files = yield* TestPki.writeFiles({ cert: pki.server.chain, key: pki.server.key, ca: pki.trust })
          const { port } = yield* serve(["--cert", files.paths.cert, "--key", files.paths.key])
          const echoed = yield* run([
            "connect",
            `127.0.0.1:${port}`,
            "--servername",
            "localhost",
            "--ca",
            files.paths.ca
          ], "round trip\n")
          assert.strictEqual(echoed.code, 0, echoed.stderr)
          assert.strictEqual(echoed.stdout, "round trip\n")
          // A port nobody listens on: the one the echo server had, once it is gone.
          const closedPort = yield* Effect.async<number>((resume) => {
            const probe = net.createServer().listen(0, "127.0.0.1", () => {
              const { port } = probe.address() as net.AddressInfo
              probe.close(() => resume(Effect.succeed(port)))
            })
          })
          oneLine(
            yield* run(["connect", `127.0.0.1:${closedPort}`]),
            /cannot connect to 127\.0\.0\.1:\d+: connection refused/
          )
        }),
      180_000
    )
  })

  describe("bench", () => {
    it.live(
      "--quick --json: every row of the in-memory table, for every column, measured",
      () =>
        Effect.gen(function*() {
          const ran = yield* run(["bench", "--quick", "--json"])
          assert.strictEqual(ran.code, 0, ran.stderr)
          const table = JSON.parse(ran.stdout)
          assert.deepStrictEqual(table.columns, ["raw koffi", "node:tls", "library"])
          assert.deepStrictEqual(
            table.rows.map((row: { name: string }) => row.name),
            ["full handshakes", "resumed handshakes", "bulk, 16 KiB writes"]
          )
          for (const row of table.rows as ReadonlyArray<{ unit: string; values: Record<string, number> }>) {
            for (const column of table.columns) {
              const value = row.values[column]!
              assert.isTrue(Number.isFinite(value) && value > 0, `${column}: ${value} ${row.unit}`)
            }
          }
          assert.strictEqual(table.openssl, process.versions.openssl)
        }),
      240_000
    )
  })
})
