/**
 * ServerContext against real clients over loopback TCP: node:tls and `openssl s_client`. The
 * binding here does not observe frees (node:tls peers are in the process, see `LiveOpenSsl`);
 * the suite with free events is ServerContext.test.ts.
 */
import * as Diagnostics from "@effect-openssl/core/Diagnostics"
import * as ServerContext from "@effect-openssl/core/ServerContext"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodePath from "@effect/platform-node/NodePath"
import { assert, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import * as NodeTransport from "../src/NodeTransport.js"
import { bytes, listen, type Listener, LiveOpenSsl, nodeTlsConnect, readLine, sClient } from "./peers.js"
import { certificateFiles, fingerprint, overwrite, sniPki } from "./serverCertificates.js"
import { alertCode } from "./util.js"

const Env = Layer.mergeAll(LiveOpenSsl, NodeFileSystem.layer, NodePath.layer)

/** Accept the next TCP connection with the service's certificates. */
const acceptOn = (listener: Listener, server: ServerContext.ServerContext) =>
  Effect.gen(function*() {
    const transport = yield* NodeTransport.fromDuplex(yield* listener.socket)
    return yield* ServerContext.accept(transport, { handshakeTimeout: "10 seconds" })
  }).pipe(Effect.provideService(ServerContext.ServerContext, server))

layer(Env, { excludeTestServices: true })("ServerContext with real peers", (it) => {
  it.scoped("node:tls: the certificate for each name, verified; an unknown name refused with unrecognized_name", () =>
    Effect.gen(function*() {
      const pki = yield* sniPki
      const listener = yield* listen
      const server = yield* ServerContext.make({
        certificate: pki.fallback,
        sni: { certificates: [pki.api, pki.wildcard], unknownName: "refuse" }
      })
      for (const [name, expected] of [["api.example.org", pki.api], ["Shop.Example.org", pki.wildcard]] as const) {
        const [, client] = yield* Effect.all([
          acceptOn(listener, server),
          nodeTlsConnect(listener.port, { servername: name, ca: pki.trust })
        ], { concurrency: 2 })
        // node:tls verified the chain and the name against the certificate chosen.
        assert.isTrue(client.socket.authorized)
        assert.strictEqual(client.socket.getPeerCertificate().fingerprint256, fingerprint(expected))
      }
      const [serverError, clientError] = yield* Effect.all([
        Effect.flip(acceptOn(listener, server)),
        Effect.flip(nodeTlsConnect(listener.port, { servername: "www.example.com", ca: pki.trust }))
      ], { concurrency: 2 })
      assert.strictEqual(serverError._tag, "TlsError")
      assert.strictEqual(alertCode((clientError as NodeJS.ErrnoException).code), "ERR_SSL_TLSV1_UNRECOGNIZED_NAME")
    }))

  it.scoped("openssl s_client -servername: the wildcard certificate for one label; alert 112 for an unknown name", () =>
    Effect.gen(function*() {
      const pki = yield* sniPki
      const files = yield* certificateFiles(pki.fallback)
      const listener = yield* listen
      const server = yield* ServerContext.make({
        certificate: pki.fallback,
        sni: { certificates: [pki.wildcard], unknownName: "refuse" }
      })
      const served = yield* sClient(listener.port, [
        "-servername",
        "www.example.org",
        "-verify_hostname",
        "www.example.org",
        "-CAfile",
        files.ca,
        "-verify_return_error"
      ])
      const conn = yield* acceptOn(listener, server)
      yield* served.write("hello\n")
      assert.strictEqual(yield* readLine(conn), "hello")
      yield* conn.write(bytes("bye\n"))
      yield* served.waitFor(/bye/)
      assert.match(served.output(), /subject=CN ?= ?\*\.example\.org/)
      assert.match(served.output(), /Verify return code: 0 \(ok\)/)

      const refused = yield* sClient(listener.port, ["-servername", "a.b.example.org", "-CAfile", files.ca])
      assert.strictEqual((yield* Effect.flip(acceptOn(listener, server)))._tag, "TlsError")
      yield* refused.waitFor(/alert number 112/)
      assert.notStrictEqual(yield* refused.exited, 0)
    }))

  it.scoped("rotation over TCP: node:tls sees the new certificate while an older connection keeps exchanging data", () =>
    Effect.gen(function*() {
      const pki = yield* sniPki
      const files = yield* certificateFiles(pki.fallback)
      const listener = yield* listen
      const server = yield* ServerContext.make({ certificate: { chainFile: files.chain, keyFile: files.key } })
      const contextsBefore = (yield* Diagnostics.counts).SSL_CTX

      const olderScope = yield* Scope.make()
      const [olderConn, olderClient] = yield* Scope.extend(
        Effect.all([
          acceptOn(listener, server),
          nodeTlsConnect(listener.port, { servername: "localhost", ca: pki.trust })
        ], { concurrency: 2 }),
        olderScope
      )
      assert.strictEqual(olderClient.socket.getPeerCertificate().fingerprint256, fingerprint(pki.fallback))

      const next = yield* pki.issue(["localhost"])
      yield* overwrite(files, next)
      assert.strictEqual((yield* server.reload).generation, 2)

      const [newerConn, newerClient] = yield* Effect.all([
        acceptOn(listener, server),
        nodeTlsConnect(listener.port, { servername: "localhost", ca: pki.trust })
      ], { concurrency: 2 })
      assert.isTrue(newerClient.socket.authorized)
      assert.strictEqual(newerClient.socket.getPeerCertificate().fingerprint256, fingerprint(next))

      // Both connections work, each on its own certificate.
      for (
        const [conn, client, label] of [[olderConn, olderClient, "older"], [newerConn, newerClient, "newer"]] as const
      ) {
        client.socket.write(`${label} says hi\n`)
        assert.strictEqual(yield* readLine(conn), `${label} says hi`)
        yield* conn.write(bytes(`${label} hears you\n`))
        yield* client.waitFor(new RegExp(`${label} hears you`))
      }
      // The old context lives on for the older connection alone, and goes with it.
      assert.strictEqual((yield* Diagnostics.counts).SSL_CTX, contextsBefore + 1)
      yield* Scope.close(olderScope, Exit.void)
      assert.strictEqual((yield* Diagnostics.counts).SSL_CTX, contextsBefore)
    }))
})
