import { Diagnostics, Pki, Ssl, SslContext } from "@effect-openssl/core"
import { NodeOpenSsl } from "@effect-openssl/node"
import { Console, Effect } from "effect"

const program = Effect.gen(function*() {
  // A certificate for localhost, issued in-process (`effect-openssl cert` writes such files).
  const certificate = yield* Pki.selfSigned()

  // An SSL_CTX, configured once and frozen. Secure defaults (docs/defaults.md): TLS 1.2+,
  // ECDHE+AEAD suites in the server's order, no renegotiation, clients verify the peer.
  const ctx = yield* SslContext.make({
    role: "server",
    certificate, // its chain and its key (Redacted)
    options: ["PRIORITIZE_CHACHA"], // with the server order: ChaCha20 for clients that prefer it
    sessionTimeout: "10 minutes"
  })

  // SSL_new: released with SSL_free when the scope closes (or earlier with Ssl.release).
  const ssl = yield* Ssl.make(ctx) // Ssl<"Initial">

  // SSL_up_ref: another reference to the same SSL, released with its own scope.
  const ref = yield* Ssl.upRef(ssl)
  yield* Console.log(`upRef: the same SSL? ${Ssl.sameObject(ref, ssl)}`)

  // SSL_dup: Duplicated (a new handle) before the handshake, Shared (same object) after.
  const result = yield* Ssl.dup(ssl)
  if (result._tag === "Duplicated") {
    yield* Console.log(`dup before the handshake: a new handle, the same SSL? ${Ssl.sameObject(result.ssl, ssl)}`)
  }

  // What the library holds right now: one SSL_CTX, two SSL objects (one with two references).
  for (const held of yield* Diagnostics.live) yield* Console.log(`held: ${held.kind} #${held.id} ×${held.leases}`)
})

Effect.runPromise(program.pipe(Effect.scoped, Effect.provide(NodeOpenSsl.layer)))
