import { OpenSsl } from "@effect-openssl/core/OpenSsl"
import * as Ssl from "@effect-openssl/core/Ssl"
import * as SslContext from "@effect-openssl/core/SslContext"
import * as TlsConnection from "@effect-openssl/core/TlsConnection"
import * as Transport from "@effect-openssl/core/Transport"
import { assert, describe, it } from "@effect/vitest"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import { execFile } from "node:child_process"
import { fileURLToPath } from "node:url"
import { sourceCondition } from "../../../vitest.shared.js"
import * as NodeOpenSsl from "../src/NodeOpenSsl.js"
import { clientOptions, connectedPair, handshakePair, serverOptions, systemLibssl } from "./util.js"

/** A full handshake through the service in scope; returns the flights it took. */
const realHandshake = Effect.gen(function*() {
  const server = yield* SslContext.make(serverOptions)
  const client = yield* SslContext.make(clientOptions)
  const s = yield* Ssl.make(server)
  const c = yield* Ssl.make(client, { hostName: "localhost" })
  return yield* handshakePair(c, s)
})

describe("NodeOpenSsl.layer", () => {
  it.scoped("binds exactly the OpenSSL Node was built with", () =>
    Effect.gen(function*() {
      const openssl = yield* OpenSsl
      assert.strictEqual(openssl.implementation, "node")
      assert.include(openssl.version.text, process.versions.openssl.replace(/\+.*$/, ""))
      assert.strictEqual(
        `${openssl.version.major}.${openssl.version.minor}.${openssl.version.patch}`,
        process.versions.openssl.replace(/\+.*$/, "")
      )
      assert.strictEqual(openssl.features.postQuantumGroups, openssl.version.number >= 0x30500000)
      assert.isTrue(openssl.features.optionFlags.includes("NO_TICKET"))
    }).pipe(Effect.provide(NodeOpenSsl.layer)))

  it.scoped("does a real handshake", () =>
    Effect.gen(function*() {
      const flights = yield* realHandshake
      assert.isAtLeast(flights, 2)
    }).pipe(Effect.provide(NodeOpenSsl.layer)))
})

describe("NodeOpenSsl.layerLibrary", () => {
  const system = NodeOpenSsl.layerLibrary({ libssl: systemLibssl, observeFrees: true })

  it.scoped("loads the system libssl with RTLD_DEEPBIND and does a real handshake", () =>
    Effect.gen(function*() {
      const openssl = yield* OpenSsl
      assert.strictEqual(openssl.implementation, "library")
      assert.isAtLeast(openssl.version.major, 3)
      const flights = yield* realHandshake
      assert.isAtLeast(flights, 2)
    }).pipe(Effect.provide(system)))

  it.scoped("reports errors from the library's own error queue", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(SslContext.make({ role: "client", ciphers: "NO-SUCH-CIPHER" }))
      assert.strictEqual(error._tag, "InvalidOptionError")
      if (error._tag !== "InvalidOptionError") return
      assert.isAbove(error.cause?.entries.length ?? 0, 0)
      assert.strictEqual(error.cause?.entries[0]?.reasonText, "no cipher match")
    }).pipe(Effect.provide(system)))

  it.effect("fails with a typed error naming a missing library", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(
        Effect.scoped(Layer.build(NodeOpenSsl.layerLibrary({ libssl: "/nonexistent/libssl.so.42" })))
      )
      assert.strictEqual(error._tag, "OpenSslLoadError")
      if (error._tag !== "OpenSslLoadError") return
      assert.strictEqual(error.reason, "LibraryNotFound")
      assert.deepStrictEqual(error.tried, ["/nonexistent/libssl.so.42"])
    }))

  it.effect("fails with a typed error naming a missing symbol", () =>
    Effect.gen(function*() {
      // libc loads fine but has no OpenSSL symbols.
      const error = yield* Effect.flip(Effect.scoped(Layer.build(NodeOpenSsl.layerLibrary({ libssl: "libc.so.6" }))))
      assert.strictEqual(error._tag, "OpenSslLoadError")
      if (error._tag !== "OpenSslLoadError") return
      assert.strictEqual(error.reason, "SymbolMissing")
      assert.include(error.detail, "OpenSSL_version_num")
    }))
})

describe("NodeOpenSsl.layerConfig", () => {
  const withEnv = (env: Record<string, string>) =>
    Layer.setConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env))))

  it.scoped("uses Node's OpenSSL when EFFECT_OPENSSL_LIBSSL is unset", () =>
    Effect.gen(function*() {
      const openssl = yield* OpenSsl
      assert.strictEqual(openssl.implementation, "node")
    }).pipe(Effect.provide(NodeOpenSsl.layerConfig().pipe(Layer.provide(withEnv({}))))))

  it.scoped("loads the library EFFECT_OPENSSL_LIBSSL names", () =>
    Effect.gen(function*() {
      const openssl = yield* OpenSsl
      assert.strictEqual(openssl.implementation, "library")
      yield* realHandshake
    }).pipe(
      Effect.provide(NodeOpenSsl.layerConfig().pipe(Layer.provide(withEnv({ EFFECT_OPENSSL_LIBSSL: systemLibssl }))))
    ))
})

describe("building the binding again and again", () => {
  it.effect(
    "thousands of builds, with and without free observation: no callback slot runs out",
    () =>
      Effect.gen(function*() {
        // koffi has 8192 callback slots; a build used to take 6 for good (1,365 builds at most).
        for (let i = 0; i < 2000; i++) {
          yield* Effect.scoped(Layer.build(NodeOpenSsl.layer))
          yield* Effect.scoped(Layer.build(NodeOpenSsl.layerLibrary({ libssl: systemLibssl, observeFrees: true })))
        }
        const flights = yield* Effect.scoped(realHandshake).pipe(Effect.provide(NodeOpenSsl.layer))
        assert.isAtLeast(flights, 2)
      }),
    60_000
  )
})

describe("handles of another binding", () => {
  it.scoped("a session, an SNI context or a raw ref of binding B is refused by binding A, with a typed error", () =>
    Effect.gen(function*() {
      const a = yield* Layer.build(NodeOpenSsl.layer)
      const b = yield* Layer.build(NodeOpenSsl.layerLibrary({ libssl: systemLibssl }))
      const inA = <X, E>(effect: Effect.Effect<X, E, OpenSsl | Scope.Scope>) => Effect.provide(effect, a)
      const inB = <X, E>(effect: Effect.Effect<X, E, OpenSsl | Scope.Scope>) => Effect.provide(effect, b)

      // A session of B's context, given to a handle of A's.
      const bServer = yield* inB(SslContext.make(serverOptions))
      const bClient = yield* inB(SslContext.make(clientOptions))
      const [bc] = yield* inB(connectedPair(bClient, bServer))
      const foreignSession = Option.getOrThrow(yield* inB(bc.awaitSession("2 seconds")))
      const aClient = yield* inA(SslContext.make(clientOptions))
      const refused = yield* Effect.flip(inA(Ssl.make(aClient, { session: foreignSession })))
      assert.strictEqual(refused._tag === "InvalidOptionError" && refused.option, "session")

      // An SNI choice of B's context on A's server: refused in the callback, fail closed.
      const aServer = yield* inA(SslContext.make(serverOptions))
      const pair = yield* Transport.memoryPair
      const outcome = yield* inA(Effect.all([
        Effect.either(
          TlsConnection.connect(pair[0], aClient, { hostName: "localhost", handshakeTimeout: "5 seconds" })
        ),
        Effect.either(
          TlsConnection.accept(pair[1], aServer, { sni: () => Option.some(bServer), handshakeTimeout: "5 seconds" })
        )
      ], { concurrency: 2 }))
      assert.strictEqual(outcome[1]._tag === "Left" && outcome[1].left._tag, "TlsError")
      assert.strictEqual(outcome[0]._tag, "Left")

      // The raw service: a ref B made, handed to A.
      const openssl = Context.get(a, OpenSsl)
      assert.throws(() => openssl.handles.sslNew(SslContext.unsafeNativeRef(bServer)), /another OpenSsl binding/)
    }))
})

/** Run a program of ./programs in a node process of its own: its exit code (or signal) and output. */
const runProgram = (name: string, args: ReadonlyArray<string>, nodeFlags: ReadonlyArray<string> = []) =>
  Effect.async<{ code: number | string | null; stdout: string; stderr: string }>((resume) => {
    const child = execFile(
      process.execPath,
      [
        ...nodeFlags,
        `--conditions=${sourceCondition}`,
        "--import",
        "tsx",
        fileURLToPath(new URL(`./programs/${name}`, import.meta.url)),
        ...args
      ],
      { timeout: 60_000 },
      (error, stdout, stderr) =>
        resume(Effect.succeed({ code: error === null ? 0 : (error.code ?? error.signal ?? null), stdout, stderr }))
    )
    return Effect.sync(() => child.kill())
  })

describe("free observation beside Node's own TLS", () => {
  it.effect(
    "refused on Node's own OpenSSL with a typed error; on an OpenSSL of its own, Node's TLS objects collected by the GC never reach it",
    () =>
      Effect.gen(function*() {
        // Before, the free callback of Node's own OpenSSL ran for node:tls contexts freed during
        // garbage collection, where no JavaScript may run: V8 aborted the process.
        const onNode = yield* runProgram("gcFrees.ts", ["node"], ["--expose-gc"])
        assert.strictEqual(onNode.code, 0, onNode.stderr)
        assert.deepStrictEqual(JSON.parse(onNode.stdout), { error: "SharedWithNode" })

        const onLibrary = yield* runProgram("gcFrees.ts", ["library"], ["--expose-gc"])
        assert.strictEqual(onLibrary.code, 0, onLibrary.stderr)
        const result = JSON.parse(onLibrary.stdout) as { ok: string; freed: ReadonlyArray<string> }
        assert.strictEqual(result.ok, "TLSv1.3")
        // The handshake's own objects, reported; none of Node's.
        assert.deepStrictEqual(result.freed.filter((kind) => kind !== "SSL_SESSION"), [
          "SSL",
          "SSL",
          "SSL_CTX",
          "SSL_CTX"
        ])
      }),
    90_000
  )
})

describe("worker threads", () => {
  it.effect(
    "workers bind, handshake and are terminated; free observation there is refused with a typed error",
    () =>
      Effect.gen(function*() {
        const { code, stdout } = yield* runProgram("workers.ts", [])
        // Before, terminating a worker whose binding observed frees made every later SSL_free in
        // the process abort (exit 134).
        assert.strictEqual(code, 0)
        assert.deepStrictEqual(JSON.parse(stdout), {
          plain: { ok: "TLSv1.3" },
          observing: { error: "UnsupportedInWorker" },
          main: { ok: "TLSv1.3" }
        })
      }),
    90_000
  )
})
