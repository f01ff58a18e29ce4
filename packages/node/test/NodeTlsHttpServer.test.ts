/**
 * The HTTPS `HttpServer` layer: an `HttpRouter` app served over our TLS, answered by real
 * clients (curl with HTTP/1.1 and HTTP/2, node:https, the platform `HttpClient`), shut down
 * gracefully with a request in flight.
 */
import * as ServerContext from "@effect-openssl/core/ServerContext"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServer from "@effect/platform/HttpServer"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { assert, layer } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import * as https from "node:https"
import * as TestPki from "../../test/src/TestPki.js"
import * as NodeTlsHttpServer from "../src/NodeTlsHttpServer.js"
import { curlRequest } from "./peers.js"
import { LiveOpenSsl } from "./util.js"

const router = (slow: Deferred.Deferred<void>) =>
  HttpRouter.empty.pipe(
    HttpRouter.get("/hello", HttpServerResponse.text("hello over effect-openssl")),
    HttpRouter.post(
      "/echo",
      Effect.flatMap(
        HttpServerRequest.HttpServerRequest,
        (request) => Effect.map(request.text, HttpServerResponse.text)
      )
    ),
    HttpRouter.get(
      "/slow",
      Effect.zipRight(
        Deferred.succeed(slow, void 0),
        Effect.as(Effect.sleep("400 millis"), HttpServerResponse.text("late"))
      )
    )
  )

/** A PKI, and our HTTPS server for it in a scope of its own: the port, and the scope to close it. */
const serve = (options: NodeTlsHttpServer.Options = {}) =>
  Effect.gen(function*() {
    const pki = yield* TestPki.make()
    const files = yield* TestPki.writeFiles({ ca: pki.trust })
    const scope = yield* Scope.make()
    const slow = yield* Deferred.make<void>()
    // Built in the server's scope: a layer provided to `make` alone would be released with it.
    const context = yield* Layer.build(
      ServerContext.layer({ certificate: pki.server, alpnProtocols: ["h2", "http/1.1"] })
    ).pipe(Scope.extend(scope))
    const server = yield* NodeTlsHttpServer.make({ host: "127.0.0.1", ...options }).pipe(
      Effect.provide(context),
      Scope.extend(scope)
    )
    yield* server.serve(router(slow)).pipe(Scope.extend(scope))
    assert.strictEqual(server.address._tag, "TcpAddress")
    const port = server.address._tag === "TcpAddress" ? server.address.port : 0
    return { pki, cafile: files.paths.ca, port, scope, slow }
  })

/** GET with node:https (our CA trusted, SNI localhost). */
const nodeGet = (port: number, ca: string, path: string) =>
  Effect.async<{ status: number; body: string; alpn: string | false }, Error>((resume) => {
    const req = https.get({ host: "127.0.0.1", servername: "localhost", port, path, ca, agent: false }, (res) => {
      let body = ""
      res.setEncoding("utf8")
      res.on("data", (chunk: string) => (body += chunk))
      res.on("end", () =>
        resume(Effect.succeed({
          status: res.statusCode!,
          body,
          alpn: (res.socket as unknown as { alpnProtocol: string | false }).alpnProtocol
        })))
    })
    req.on("error", (error) => resume(Effect.fail(error)))
    return Effect.sync(() => req.destroy())
  })

layer(LiveOpenSsl, { excludeTestServices: true })("NodeTlsHttpServer", (it) => {
  it.scoped("an HttpRouter app answers curl over HTTP/1.1 and HTTP/2 (ALPN h2)", () =>
    Effect.gen(function*() {
      const { cafile, port } = yield* serve()
      const h1 = yield* curlRequest(port, "/hello", { cacert: cafile })
      assert.deepStrictEqual([h1.httpVersion, h1.status, h1.body.toString()], ["1.1", 200, "hello over effect-openssl"])
      const h2 = yield* curlRequest(port, "/hello", { cacert: cafile, http2: true })
      assert.deepStrictEqual([h2.httpVersion, h2.status, h2.body.toString()], ["2", 200, "hello over effect-openssl"])
      const body = new Uint8Array(256 * 1024).map((_, i) => 97 + (i % 26))
      const echoed = yield* curlRequest(port, "/echo", { cacert: cafile, input: body, http2: true })
      assert.strictEqual(echoed.body.toString(), Buffer.from(body).toString())
      const missing = yield* Effect.either(curlRequest(port, "/nowhere", { cacert: cafile }))
      assert.match(String(missing._tag === "Left" && missing.left.message), /404/)
    }))

  it.scoped("node:https and the platform HttpClient, verifying our certificate", () =>
    Effect.gen(function*() {
      const { pki, port } = yield* serve()
      const viaNode = yield* nodeGet(port, pki.trust, "/hello")
      assert.deepStrictEqual(viaNode, { status: 200, body: "hello over effect-openssl", alpn: false })
      const client = yield* HttpClient.HttpClient.pipe(
        Effect.provide(
          NodeHttpClient.layerWithoutAgent.pipe(Layer.provide(NodeHttpClient.makeAgentLayer({ ca: pki.trust })))
        )
      )
      const response = yield* client.execute(
        HttpClientRequest.post(`https://localhost:${port}/echo`).pipe(HttpClientRequest.bodyText("ping"))
      ).pipe(Effect.scoped, Effect.flatMap((r) => r.text))
      assert.strictEqual(response, "ping")
    }))

  it.scoped("shutdown lets a request in flight finish, then refuses new connections", () =>
    Effect.gen(function*() {
      const { cafile, port, scope, slow } = yield* serve({ drainTimeout: "5 seconds" })
      const inFlight = yield* Effect.fork(curlRequest(port, "/slow", { cacert: cafile }))
      yield* Deferred.await(slow)
      const closing = yield* Effect.fork(Scope.close(scope, Exit.void))
      const answered = yield* Fiber.join(inFlight)
      assert.deepStrictEqual([answered.status, answered.body.toString()], [200, "late"])
      yield* Fiber.join(closing)
      const after = yield* Effect.either(curlRequest(port, "/hello", { cacert: cafile }))
      assert.strictEqual(after._tag, "Left")
    }))

  it.scoped("the layer swaps in for NodeHttpServer.layer", () =>
    Effect.gen(function*() {
      const pki = yield* TestPki.make()
      const files = yield* TestPki.writeFiles({ ca: pki.trust })
      const slow = yield* Deferred.make<void>()
      const HttpsLive = NodeTlsHttpServer.layer({ host: "127.0.0.1" }).pipe(
        Layer.provide(ServerContext.layer({ certificate: pki.server }))
      )
      const answer = yield* Effect.gen(function*() {
        yield* HttpServer.serveEffect(router(slow))
        const address = yield* HttpServer.addressWith(Effect.succeed)
        assert.strictEqual(address._tag, "TcpAddress")
        return yield* curlRequest(address._tag === "TcpAddress" ? address.port : 0, "/hello", {
          cacert: files.paths.ca
        })
      }).pipe(Effect.provide(HttpsLive))
      assert.strictEqual(answer.body.toString(), "hello over effect-openssl")
    }))
})
