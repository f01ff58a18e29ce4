import { ClientContext, Pki, ServerContext, Transport } from "@effect-openssl/core"
import { NodeOpenSsl } from "@effect-openssl/node"
import { FileSystem, Path } from "@effect/platform"
import { NodeContext } from "@effect/platform-node"
import { Config, ConfigProvider, Console, Effect, Either, Layer, Redacted, Schedule } from "effect"

/** Certificate files as a deployment has them: a CA, a default certificate, one for api.example.test. */
const writeCertificates = Effect.gen(function*() {
  const fs = yield* FileSystem.FileSystem
  const path = yield* Path.Path
  const dir = yield* fs.makeTempDirectoryScoped()
  const ca = yield* Pki.rootCa()
  const fallback = yield* Pki.server(ca, { hostNames: ["localhost"] })
  const api = yield* Pki.server(ca, { hostNames: ["api.example.test"] })
  const files = {
    ca: ca.certificate,
    server: fallback.chain,
    serverKey: Redacted.value(fallback.key),
    api: api.chain,
    apiKey: Redacted.value(api.key)
  }
  for (const [name, pem] of Object.entries(files)) yield* fs.writeFileString(path.join(dir, `${name}.pem`), pem)
  return Object.fromEntries(Object.keys(files).map((name) => [name, path.join(dir, `${name}.pem`)])) as typeof files
})

/** The server's certificates and the client's trust, as layers built from files and Config. */
const contexts = (
  files: { readonly server: string; readonly serverKey: string; readonly api: string; readonly apiKey: string }
) => {
  const ServerContextLive = ServerContext.layer({
    certificate: { chainFile: files.server, keyFile: files.serverKey },
    // chosen by SNI name: exact names and *.example.test (one label), any case; the default otherwise
    sni: { certificates: [{ chainFile: files.api, keyFile: files.apiKey }], unknownName: "refuse" },
    // new certificates without a restart: on demand (ServerContext.reload), on a schedule, or when the files change
    reload: { watch: true, schedule: Schedule.spaced("6 hours") }
  })
  const ClientContextLive = ClientContext.layerConfig({
    trust: { files: Config.string("TLS_CA_FILE") }
  })
  return Layer.merge(ServerContextLive, ClientContextLive)
}

/** One handshake over memory: one call per connection on each side. */
const handshake = (hostName: string) =>
  Effect.gen(function*() {
    const [a, b] = yield* Transport.memoryPair
    const [client] = yield* Effect.all([
      Effect.either(ClientContext.connect(a, { hostName })),
      Effect.either(ServerContext.accept(b, { handshakeTimeout: "10 seconds" }))
    ], { concurrency: 2 })
    if (Either.isLeft(client)) return `refused (${client.left.message})`
    return `served ${(yield* client.right.info).peerChain[0]?.subject}`
  })

const program = Effect.gen(function*() {
  const files = yield* writeCertificates
  yield* Effect.gen(function*() {
    for (const name of ["localhost", "api.example.test", "other.example.test"]) {
      yield* Console.log(`${name}: ${yield* handshake(name)}`)
    }
    const reloaded = yield* ServerContext.reload // the files did not change: the same set stays
    yield* Console.log(`after a reload: certificate set ${reloaded.generation}`)
  }).pipe(
    Effect.provide(contexts(files)),
    Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["TLS_CA_FILE", files.ca]])))
  )
})

Effect.runPromise(program.pipe(Effect.scoped, Effect.provide(Layer.merge(NodeOpenSsl.layer, NodeContext.layer))))
