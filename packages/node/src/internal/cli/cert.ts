/**
 * `effect-openssl cert --out DIR`: a local CA, and a server and a client certificate it signs,
 * as PEM files, as mkcert makes them (without touching any trust store). Issued through the
 * core's `Pki`, as `TestPki` issues its certificates.
 */
import * as HostName from "@effect-openssl/core/HostName"
import * as Pki from "@effect-openssl/core/Pki"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as FileSystem from "@effect/platform/FileSystem"
import * as Path from "@effect/platform/Path"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { X509Certificate } from "node:crypto"
import { failure } from "./failure.js"

const out = Options.directory("out").pipe(
  Options.withPseudoName("DIR"),
  Options.withDescription("where to write the files (created if missing; existing files are never overwritten)")
)
const hosts = Options.text("host").pipe(
  Options.withPseudoName("NAME"),
  Options.withDescription(
    `a name or address of the server certificate (repeat it; default: ${
      Pki.defaultHostNames.join(", ")
    }); *.example.test for a wildcard`
  ),
  Options.repeated,
  Options.optional
)
const keyTypes = ["P-256", "Ed25519", "RSA-2048"] as const satisfies ReadonlyArray<Pki.KeyType>
const keyType = Options.choice("key-type", keyTypes).pipe(
  Options.withDescription("the key type of every certificate"),
  Options.withDefault("P-256" as const)
)

const hour = 3_600_000
const day = 24 * hour
/** From an hour ago (clock skew) for `days`. */
const validFor = (days: number): Pki.Validity => {
  const now = Date.now()
  return { notBefore: new Date(now - hour), notAfter: new Date(now + days * day) }
}

/** A host name, an IP address, or a wildcard over a host name. */
const checkHost = (name: string): Effect.Effect<string, ReturnType<typeof failure>> => {
  const parsed = HostName.parse(name.startsWith("*.") ? name.slice(2) : name, "--host")
  return Either.isRight(parsed) && !(name.startsWith("*.") && parsed.right._tag === "IpAddress")
    ? Effect.succeed(name)
    : failure(`--host ${name}: ${Either.isLeft(parsed) ? parsed.left.reason : "a wildcard goes over a name"}`)
}

/** The CA for 10 years; the leaves for 825 days, the longest some clients (Apple's) accept. */
const issue = (hostNames: ReadonlyArray<string>, keyType: Pki.KeyType) =>
  Effect.gen(function*() {
    const ca = yield* Pki.rootCa({ keyType, commonName: "effect-openssl local CA", validity: validFor(3650) })
    const server = yield* Pki.server(ca, { keyType, hostNames, validity: validFor(825) })
    const client = yield* Pki.client(ca, { keyType, validity: validFor(825) })
    return { ca, server, client }
  }).pipe(Effect.mapError((error) => failure(`cannot issue the certificates: ${error.message}`)))

const run = (options: {
  readonly out: string
  readonly hosts: Option.Option<ReadonlyArray<string>>
  readonly keyType: Pki.KeyType
}) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const hostNames = yield* Effect.forEach(
      // No --host is Some([]) for a repeated option.
      Option.getOrElse(Option.filter(options.hosts, (hosts) => hosts.length > 0), () => Pki.defaultHostNames),
      checkHost
    )
    const { ca, client, server } = yield* issue(hostNames, options.keyType)

    const files = [
      ["ca.pem", ca.certificate, `the local CA, ${describe(ca.certificate)}: trust it in clients and servers`],
      ["ca-key.pem", ca.key, "its key: keep it private, it signs certificates anyone trusting ca.pem accepts"],
      [
        "server.pem",
        server.certificate,
        `server certificate for ${hostNames.join(", ")}, ${describe(server.certificate)}`
      ],
      ["server-key.pem", server.key, "its key"],
      ["client.pem", client.certificate, `client certificate, ${describe(client.certificate)}`],
      ["client-key.pem", client.key, "its key"]
    ] as const
    yield* fs.makeDirectory(options.out, { recursive: true }).pipe(
      Effect.mapError((error) => failure(`cannot create --out ${options.out} (${error.message})`))
    )
    for (const [name] of files) {
      const file = path.join(options.out, name)
      if (yield* fs.exists(file).pipe(Effect.orElseSucceed(() => false))) {
        return yield* failure(`--out ${options.out} already has ${name}: give a directory without these files`)
      }
    }
    for (const [name, content] of files) {
      const file = path.join(options.out, name)
      const secret = Redacted.isRedacted(content)
      yield* fs.writeFileString(file, secret ? Redacted.value(content) : content, {
        flag: "wx",
        // Keys readable by the owner only.
        mode: secret ? 0o600 : 0o644
      }).pipe(Effect.mapError((error) => failure(`cannot write ${file} (${error.message})`)))
    }

    const width = Math.max(...files.map(([name]) => name.length))
    const dir = options.out
    yield* Console.log([
      `wrote ${files.length} files to ${dir} (${options.keyType} keys):`,
      ...files.map(([name, , what]) => `  ${name.padEnd(width)}  ${what}`),
      "try:",
      `  effect-openssl serve --port 8443 --cert ${path.join(dir, "server.pem")} --key ${
        path.join(dir, "server-key.pem")
      } --ca ${path.join(dir, "ca.pem")}`,
      `  effect-openssl connect localhost:8443 --ca ${path.join(dir, "ca.pem")} --cert ${
        path.join(dir, "client.pem")
      } --key ${path.join(dir, "client-key.pem")}`
    ].join("\n"))
  })

/** Subject and validity, as the summary shows them. */
const describe = (pem: string): string => {
  const x509 = new X509Certificate(pem)
  return `${x509.subject.replace(/\n/g, ", ")}, valid until ${new Date(x509.validTo).toISOString().slice(0, 10)}`
}

export const cert = Command.make("cert", { out, hosts, keyType }, run).pipe(
  Command.withDescription("a local CA and a server and a client certificate it signs, as PEM files (like mkcert)")
)
