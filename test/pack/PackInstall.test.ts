/**
 * The packages as users get them: `pnpm -r pack` builds and packs the three packages, `npm install`
 * puts the tarballs into fresh projects outside the workspace (everything else from the
 * registry), one at the lowest versions the peer ranges accept and one at the versions the
 * workspace pins; then plain `node`, `npx` and `tsc` use what was installed.
 */
import { assert, layer } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { type ChildProcess, execFile, spawn } from "node:child_process"
import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { basename, dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

const root = fileURLToPath(new URL("../..", import.meta.url))
const consumer = fileURLToPath(new URL("./consumer", import.meta.url))

interface Output {
  readonly stdout: string
  readonly stderr: string
}

// Plain node from the same installation as this test, first on the PATH (for npx and the shebang).
// npm and npx print errors only: under `pnpm test:pack` they inherit pnpm's own npm_config_*
// settings, which npm warns it does not know, and the command's stderr is asserted line by line.
const env = {
  ...process.env,
  PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ""}`,
  npm_config_loglevel: "error"
}

/** Run a program to completion, with `input` on stdin; a failure says which command and what it printed. */
const run = (file: string, args: ReadonlyArray<string>, cwd: string, input = "") =>
  Effect.async<Output, Error>((resume) => {
    const child = execFile(file, args, { cwd, env, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) =>
      resume(
        error === null ?
          Effect.succeed({ stdout, stderr }) :
          Effect.fail(
            new Error(`${[file, ...args].join(" ")} (in ${cwd}) failed: ${error.message}\n${stdout}${stderr}`)
          )
      ))
    child.stdin?.end(input)
    return Effect.sync(() => child.kill())
  })

/**
 * `effect-openssl serve` for the rest of the scope, once it printed its port. Started as the
 * installed bin that npx runs, not through npx, whose shell would stand between a signal and
 * the server.
 */
const serving = (args: ReadonlyArray<string>, cwd: string) =>
  Effect.acquireRelease(
    Effect.async<{ readonly port: number; readonly child: ChildProcess; readonly output: () => string }, Error>(
      (resume) => {
        const child = spawn("node_modules/.bin/effect-openssl", ["serve", "--port", "0", ...args], { cwd, env })
        let output = ""
        const collect = (chunk: Buffer) => {
          output += chunk.toString("utf8")
          const listening = / on 127\.0\.0\.1:(\d+) /.exec(output)
          if (listening !== null) resume(Effect.succeed({ port: Number(listening[1]), child, output: () => output }))
        }
        child.stdout.on("data", collect)
        child.stderr.on("data", collect)
        child.once("exit", (code) => resume(Effect.fail(new Error(`serve exited (${code}): ${output}`))))
      }
    ),
    ({ child }) => Effect.sync(() => child.kill("SIGKILL"))
  )

/** Stop a child with `signal`: its exit code once its output was read. */
const stop = (child: ChildProcess, signal: NodeJS.Signals) =>
  Effect.async<number | null>((resume) => {
    child.once("close", (code) => resume(Effect.succeed(code)))
    child.kill(signal)
  }).pipe(Effect.timeout("30 seconds"))

const readJson = (path: string) =>
  Effect.promise(() => readFile(path, "utf8")).pipe(Effect.map((text) => JSON.parse(text) as Record<string, any>))

/** The versions a project is installed with. */
interface Versions {
  readonly label: string
  readonly effect: string
  readonly platform: string
  /** Peer of @effect-openssl/node (its HTTP client and server run on `NodeHttpClient`/`NodeHttpServer`). */
  readonly platformNode: string
  /**
   * The command's optional peer `@effect/cli`, or none: each of its releases pairs with one
   * `@effect/platform` minor (0.77 with 0.97), and none pairs with the lowest.
   */
  readonly cli: string | undefined
}

// The lowest @effect/platform is 0.80.21: SocketServer (NodeTlsSocketServer implements it) arrived
// in 0.80, and @effect/platform-node 0.77.11, the first that pairs with it, needs @effect/cluster,
// rpc and sql releases that want 0.80.21.

/** The first version a peer range names (`^3.20.0`, `>=0.80.21 <0.98.0`): its lowest. */
const lowestOf = (range: string): string => {
  const match = /\d+\.\d+\.\d+/.exec(range)
  if (match === null) throw new Error(`no version in the peer range ${range}`)
  return match[0]
}

/** `…/effect-openssl-core-0.1.0.tgz` → `@effect-openssl/core` */
const packageOf = (tarball: string): string => `@effect-openssl/${basename(tarball).split("-")[2]}`

interface Project {
  readonly versions: Versions
  readonly directory: string
}

class Installed extends Context.Tag("Installed")<Installed, {
  readonly tarballs: ReadonlyArray<string>
  readonly pinned: Project
  readonly lowest: Project
}>() {}

const install = (base: string, tarballs: ReadonlyArray<string>, versions: Versions, typesNode: string) =>
  Effect.gen(function*() {
    const directory = join(base, versions.label)
    yield* Effect.promise(() => cp(consumer, directory, { recursive: true }))
    const dependencies: Record<string, string> = {
      effect: versions.effect,
      "@effect/platform": versions.platform,
      "@effect/platform-node": versions.platformNode,
      "@types/node": typesNode
    }
    if (versions.cli !== undefined) dependencies["@effect/cli"] = versions.cli
    for (const tarball of tarballs) dependencies[packageOf(tarball)] = `file:${tarball}`
    yield* Effect.promise(() =>
      writeFile(
        join(directory, "package.json"),
        JSON.stringify({ name: `consumer-${versions.label}`, private: true, type: "module", dependencies }, null, 2)
      )
    )
    yield* run("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", "--loglevel=error"], directory)
    return { versions, directory }
  })

const InstalledLive = Layer.scoped(
  Installed,
  Effect.gen(function*() {
    const base = yield* Effect.acquireRelease(
      Effect.promise(() => mkdtemp(join(tmpdir(), "effect-openssl-pack-"))),
      (dir) => Effect.promise(() => rm(dir, { recursive: true, force: true }))
    )
    const tarballDir = join(base, "tarballs")
    yield* Effect.promise(() => mkdir(tarballDir))
    // Each package's pack builds it first, in dependency order (node's and test's builds read core's declarations).
    yield* run("pnpm", ["-r", "pack", "--pack-destination", tarballDir], root)
    const tarballs = (yield* Effect.promise(() => readdir(tarballDir))).map((file) => join(tarballDir, file))

    const core = yield* readJson(join(root, "packages/core/package.json"))
    const node = yield* readJson(join(root, "packages/node/package.json"))
    const typesNode = (yield* readJson(join(root, "node_modules/@types/node/package.json"))).version as string
    const [pinned, lowest] = yield* Effect.all([
      install(base, tarballs, {
        label: "pinned",
        effect: core.devDependencies.effect,
        platform: core.devDependencies["@effect/platform"],
        platformNode: node.devDependencies["@effect/platform-node"],
        cli: node.devDependencies["@effect/cli"]
      }, typesNode),
      install(base, tarballs, {
        label: "lowest",
        effect: lowestOf(core.peerDependencies.effect),
        platform: lowestOf(core.peerDependencies["@effect/platform"]),
        platformNode: lowestOf(node.peerDependencies["@effect/platform-node"]),
        cli: undefined
      }, typesNode)
    ], { concurrency: 2 })
    return { tarballs, pinned, lowest }
  })
)

const tsc = join(root, "node_modules/typescript/bin/tsc")

layer(InstalledLive, { timeout: "3 minutes" })("packed and installed", (it) => {
  it.effect("the tarballs carry dist, README and LICENSE only, and every export and bin target is in them", () =>
    Effect.gen(function*() {
      const { pinned, tarballs } = yield* Installed
      assert.deepStrictEqual(tarballs.map(packageOf).sort(), [
        "@effect-openssl/core",
        "@effect-openssl/node",
        "@effect-openssl/test"
      ])
      for (const tarball of tarballs) {
        const listing = (yield* run("tar", ["tzvf", tarball], root)).stdout.trim().split("\n")
        const files = listing.map((line) => line.split(/\s+/).at(-1)!.replace(/^package\//, ""))
        const outside = files.filter((file) => !/^(dist\/.+|README\.md|LICENSE|package\.json)$/.test(file))
        assert.deepStrictEqual(outside, [], `${tarball} carries files outside dist`)
        assert.includeMembers(files, ["README.md", "LICENSE", "dist/index.js", "dist/index.d.ts"])

        const name = packageOf(tarball)
        const manifest = yield* readJson(join(pinned.directory, "node_modules", name, "package.json"))
        const modules = files.filter((file) => /^dist\/[^/]+\.js$/.test(file)).map((file) => file.slice(5, -3))
        for (const [subpath, target] of Object.entries(manifest.exports as Record<string, unknown>)) {
          if (target === null || typeof target === "string") {
            if (typeof target === "string") assert.include(files, target.slice(2), `${name} ${subpath}`)
            continue
          }
          // Every condition's target exists, for each module the pattern can name.
          for (const path of Object.values(target as Record<string, string>)) {
            const expanded = subpath.includes("*") ? modules.map((m) => path.replace("*", m)) : [path]
            for (const file of expanded) assert.include(files, file.slice(2), `${name} exports ${subpath}`)
          }
        }
        assert.include(files, (manifest.types as string).slice(2))
        for (const bin of Object.values((manifest.bin ?? {}) as Record<string, string>)) {
          const entry = listing.find((line) => line.endsWith(`package/${bin.slice(2)}`))!
          assert.match(entry, /^-rwx/, `${bin} is executable`)
          const text = yield* Effect.promise(() => readFile(join(pinned.directory, "node_modules", name, bin), "utf8"))
          assert.isTrue(text.startsWith("#!/usr/bin/env node\n"), `${bin} starts with a node shebang`)
        }
      }
    }))

  for (const label of ["pinned", "lowest"] as const) {
    it.effect(`a consumer type-checks against the installed declarations and runs a verified TLS round trip and an HTTPS request with plain node (${label} effect, @effect/platform and @effect/platform-node)`, () =>
      Effect.gen(function*() {
        const project = (yield* Installed)[label]
        const installed = yield* readJson(join(project.directory, "node_modules/effect/package.json"))
        assert.strictEqual(installed.version, project.versions.effect)
        // strict, noUncheckedIndexedAccess, exactOptionalPropertyTypes, skipLibCheck false (consumer/tsconfig.json)
        yield* run(process.execPath, [tsc, "-p", "."], project.directory)
        const { stdout } = yield* run(process.execPath, ["out/roundtrip.js"], project.directory)
        const { refused, ...seen } = JSON.parse(stdout.trim())
        assert.deepStrictEqual(seen, {
          protocol: "TLSv1.3",
          peer: "CN=localhost",
          request: "ping",
          reply: "pong to ping",
          internal: "ERR_PACKAGE_PATH_NOT_EXPORTED",
          http: "hello over https"
        })
        // A client that does not trust the test CA is refused with the X509 code.
        assert.match(refused, /^certificate verification failed .*\(X509 code 20\)/)
      }))
  }

  it.effect("npx effect-openssl version prints the OpenSSL version the binding loaded (pinned)", () =>
    Effect.gen(function*() {
      const { pinned } = yield* Installed
      const { stdout } = yield* run("npx", ["--no-install", "effect-openssl", "version"], pinned.directory)
      assert.include(stdout, `OpenSSL ${process.versions.openssl}`)
    }))

  it.scoped("effect-openssl serve answered by npx effect-openssl connect, with certificates from npx effect-openssl cert; SIGTERM stops the server", () =>
    Effect.gen(function*() {
      const { pinned } = yield* Installed
      const cwd = pinned.directory
      yield* run("npx", ["--no-install", "effect-openssl", "cert", "--out", "certs"], cwd)
      const server = yield* serving(["--cert", "certs/server.pem", "--key", "certs/server-key.pem"], cwd)
      const { stderr, stdout } = yield* run(
        "npx",
        ["--no-install", "effect-openssl", "connect", `localhost:${server.port}`, "--ca", "certs/ca.pem"],
        cwd,
        "ping through the installed command\n"
      )
      assert.strictEqual(stdout, "ping through the installed command\n")
      assert.match(stderr, /^TLSv1\.3, \S+, ALPN none, verified \(CN=localhost\), new session\n$/)
      assert.strictEqual(yield* stop(server.child, "SIGTERM"), 0)
      assert.include(server.output(), "effect-openssl serve: stopped")
    }))

  it.effect("without its optional peer, npx effect-openssl says what to install (lowest effect and @effect/platform)", () =>
    Effect.gen(function*() {
      const { lowest } = yield* Installed
      const failed = yield* Effect.flip(run("npx", ["--no-install", "effect-openssl", "version"], lowest.directory))
      assert.match(
        failed.message,
        /\neffect-openssl: the command needs @effect\/cli next to @effect-openssl\/node: npm install @effect\/cli@"\^0\.\d+\.\d+"\n$/
      )
    }))
})
