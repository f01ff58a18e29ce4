import { ClientContext, type Credentials, Pki, ServerContext, TlsMetrics } from "@effect-openssl/core"
import { NodeOpenSsl, NodeTlsDuplex, NodeTlsHttpClient, NodeTlsHttpServer, NodeTransport } from "@effect-openssl/node"
import {
  FileSystem,
  HttpApi,
  HttpApiBuilder,
  HttpApiClient,
  HttpApiEndpoint,
  HttpApiGroup,
  HttpServer,
  HttpServerRequest,
  Path
} from "@effect/platform"
import { NodeContext, NodeHttpServerRequest } from "@effect/platform-node"
import { Console, Effect, Layer, Logger, Metric, Redacted, Ref, Schema } from "effect"

// The API: items, and what the TLS connection under a request negotiated.
class Item extends Schema.Class<Item>("Item")({ id: Schema.Number, name: Schema.String }) {}

class Connection extends Schema.Class<Connection>("Connection")({
  serverName: Schema.String,
  protocol: Schema.String,
  alpnProtocol: Schema.String,
  certificateSet: Schema.Number // the server's certificates in service (a connection keeps those it began with)
}) {}

class Api extends HttpApi.make("api")
  .add(
    HttpApiGroup.make("items")
      .add(HttpApiEndpoint.get("list", "/items").addSuccess(Schema.Array(Item)))
      .add(HttpApiEndpoint.post("add", "/items").setPayload(Schema.Struct({ name: Schema.String })).addSuccess(Item))
  )
  .add(HttpApiGroup.make("tls").add(HttpApiEndpoint.get("connection", "/connection").addSuccess(Connection)))
{}

const ItemsLive = HttpApiBuilder.group(Api, "items", (handlers) =>
  Effect.gen(function*() {
    const items = yield* Ref.make<ReadonlyArray<Item>>([])
    return handlers
      .handle("list", () => Ref.get(items))
      .handle("add", ({ payload }) =>
        Ref.modify(items, (all) => {
          const item = new Item({ id: all.length + 1, name: payload.name })
          return [item, [...all, item]]
        }))
  }))

// What the request's TLS connection negotiated: under the HttpServerRequest is node:http's
// request, whose socket is our connection.
const connectionInfo = Effect.gen(function*() {
  const request = NodeHttpServerRequest.toIncomingMessage(yield* HttpServerRequest.HttpServerRequest)
  const info = yield* (yield* NodeTlsDuplex.connectionOf(request.socket)).info
  return new Connection({
    serverName: info.serverName ?? "",
    protocol: info.protocol,
    alpnProtocol: info.alpnProtocol ?? "",
    certificateSet: (yield* ServerContext.current).generation
  })
}).pipe(Effect.orDie)

const TlsLive = HttpApiBuilder.group(Api, "tls", (handlers) => handlers.handle("connection", () => connectionInfo))

/**
 * The API over HTTPS (HTTP/1.1 or HTTP/2, as ALPN decides): certificates chosen by SNI name,
 * reloaded when their files change.
 */
const ServerLive = (certificates: { readonly api: Credentials.Certificate; readonly admin: Credentials.Certificate }) =>
  HttpApiBuilder.serve().pipe(
    Layer.provide(HttpApiBuilder.api(Api).pipe(Layer.provide([ItemsLive, TlsLive]))),
    Layer.provideMerge(NodeTlsHttpServer.layer({ host: "127.0.0.1", port: 0 })),
    Layer.provideMerge(ServerContext.layer({
      certificate: certificates.api,
      sni: { certificates: [certificates.admin], unknownName: "refuse" },
      reload: { watch: true },
      alpnProtocols: ["h2", "http/1.1"]
    }))
  )

/** HttpClient over this library's TLS, trusting the CA; the names lead to loopback, without DNS. */
const ClientLive = (ca: Pki.Issued) =>
  NodeTlsHttpClient.layer({
    hosts: { "api.example.test": "127.0.0.1", "admin.example.test": "127.0.0.1", "other.example.test": "127.0.0.1" }
  }).pipe(Layer.provideMerge(ClientContext.layer({ trust: { certificates: ca.certificate } })))

/** A certificate and its key as files, as a deployment has them (written over the old ones). */
const writeCertificate = (dir: string, name: string, issued: Pki.Issued) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const files = { chainFile: path.join(dir, `${name}.pem`), keyFile: path.join(dir, `${name}-key.pem`) }
    yield* fs.writeFileString(files.keyFile, Redacted.value(issued.key))
    yield* fs.writeFileString(files.chainFile, issued.chain)
    return files
  })

const program = Effect.gen(function*() {
  // One CA and a certificate for each name (serial numbers chosen, to tell them apart below).
  const ca = yield* Pki.rootCa()
  const dir = yield* (yield* FileSystem.FileSystem).makeTempDirectoryScoped()
  const issue = (name: string, serialNumber: bigint) =>
    Effect.flatMap(
      Pki.server(ca, { hostNames: [`${name}.example.test`], serialNumber }),
      (issued) => writeCertificate(dir, name, issued)
    )
  const certificates = { api: yield* issue("api", 1n), admin: yield* issue("admin", 1n) }

  yield* Effect.gen(function*() {
    const { address } = yield* HttpServer.HttpServer
    const port = address._tag === "TcpAddress" ? address.port : 0
    const clientFor = (name: string) => HttpApiClient.make(Api, { baseUrl: `https://${name}:${port}` })
    const describe = (c: Connection) =>
      `SNI ${c.serverName}, ${c.protocol}, ALPN ${c.alpnProtocol}, certificate set ${c.certificateSet}`

    const api = yield* clientFor("api.example.test")
    yield* Console.log(`POST /items: ${JSON.stringify(yield* api.items.add({ payload: { name: "pen" } }))}`)
    yield* Console.log(`GET /items: ${JSON.stringify(yield* api.items.list())}`)
    yield* Console.log(`GET /connection: ${describe(yield* api.tls.connection())}`)
    // A name no certificate claims: the handshake is refused (the unrecognized_name alert).
    const refused = yield* Effect.flip((yield* clientFor("other.example.test")).items.list())
    yield* Console.log(`other.example.test: ${refused._tag === "RequestError" ? String(refused.cause) : refused._tag}`)
    const admin = yield* clientFor("admin.example.test")
    yield* Console.log(`GET /connection: ${describe(yield* admin.tls.connection())}`)

    // What the server recorded (TlsMetrics: Effect metrics, for any exporter).
    const succeeded = yield* Metric.value(Metric.tagged(TlsMetrics.handshakes, "outcome", "success"))
    const failed = yield* Metric.value(
      TlsMetrics.handshakes.pipe(Metric.tagged("outcome", "failure"), Metric.tagged("reason", "Protocol"))
    )
    const open = yield* Metric.value(TlsMetrics.activeConnections)
    yield* Console.log(
      `handshakes: ${succeeded.count} succeeded, ${failed.count} failed (reason Protocol); connections open: ${open.value}`
    )

    // Rotation: api.example.test's key and certificate replaced on disk while the server runs.
    // `served`: the certificate a new connection gets, seen by a client of our own.
    const served = Effect.scoped(Effect.gen(function*() {
      const transport = yield* NodeTransport.connectTcp({ host: "127.0.0.1", port })
      const connection = yield* ClientContext.connect(transport, { hostName: "api.example.test" })
      return (yield* connection.info).peerChain[0]!
    }))
    const before = yield* served
    yield* issue("api", 2n) // a new key and certificate, written over the files in service
    // The file watch reloads them (after 500 ms without changes): wait for the new set.
    const set = yield* ServerContext.current.pipe(
      Effect.delay("100 millis"),
      Effect.repeat({ until: (set) => set.generation > 1 }),
      Effect.timeout("10 seconds")
    )
    const after = yield* served
    yield* Console.log(
      `files replaced: certificate set ${set.generation}; a new connection gets serial ${after.serialNumber} ` +
        `(was ${before.serialNumber}), fingerprint changed: ${after.fingerprint256 !== before.fingerprint256}`
    )
    yield* Console.log(`GET /items: ${(yield* api.items.list()).length} item, nothing restarted`)
  }).pipe(Effect.provide(Layer.merge(ServerLive(certificates), ClientLive(ca))))
})

// Logs (such as the reload's, with the new fingerprints) go to stderr.
const LoggerLive = Logger.replace(Logger.defaultLogger, Logger.withConsoleError(Logger.logfmtLogger))

Effect.runPromise(
  program.pipe(Effect.scoped, Effect.provide(Layer.mergeAll(NodeOpenSsl.layer, NodeContext.layer, LoggerLive)))
)
