import * as SslContext from "@effect-openssl/core/SslContext"
import * as TlsConnection from "@effect-openssl/core/TlsConnection"
import type { VerifyStep } from "@effect-openssl/core/TlsInfo"
import * as Transport from "@effect-openssl/core/Transport"
import { assert, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as TestPki from "../../test/src/TestPki.js"
import * as NodeOpenSsl from "../src/NodeOpenSsl.js"

layer(NodeOpenSsl.layer)("the verify hook's reason", (it) => {
  it.scoped("a certificate that does not verify comes with OpenSSL's words for its code; one that does, without", () =>
    Effect.gen(function*() {
      const pki = yield* TestPki.make()
      const stranger = yield* TestPki.make()
      const server = yield* SslContext.make({ role: "server", certificate: pki.server })
      const trusting = (trust: string) => SslContext.make({ role: "client", trust: { certificates: trust } })
      const steps = (client: SslContext.SslContext) =>
        Effect.gen(function*() {
          const seen: Array<VerifyStep> = []
          const [a, b] = yield* Transport.memoryPair
          yield* Effect.all([
            // Accept every certificate, to see each step of the chain.
            TlsConnection.connect(a, client, { hostName: "localhost", verify: (step) => seen.push(step) > 0 }),
            TlsConnection.accept(b, server)
          ], { concurrency: 2 })
          return seen
        })

      const refused = yield* steps(yield* trusting(stranger.trust))
      const first = refused.find((step) => !step.preverified)
      assert.strictEqual(first?.code, 20)
      assert.strictEqual(first?.reason, "unable to get local issuer certificate")

      const verified = yield* steps(yield* trusting(pki.trust))
      assert.isAbove(verified.length, 0)
      for (const step of verified) {
        assert.isTrue(step.preverified)
        assert.isUndefined(step.reason)
      }
    }))
})
