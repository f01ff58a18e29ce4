/**
 * Type-level contract of the handshake state. These assertions are checked by `tsc` (the
 * test directory is type-checked by `pnpm check`); the runtime test only keeps vitest honest.
 */
import type * as Ssl from "@effect-openssl/core/Ssl"
import type { SslError } from "@effect-openssl/core/SslError"
import { describe, expectTypeOf, it } from "@effect/vitest"
import type * as Effect from "effect/Effect"
import type * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as SslModule from "../src/Ssl.js"

declare const initial: Ssl.Ssl<"Initial">
declare const started: Ssl.Ssl<"Started">
declare const unknown: Ssl.Ssl

describe("Ssl types", () => {
  it("dup of a Started handle is Shared alone", () => {
    const typeOnly = () => SslModule.dup(started)
    expectTypeOf(typeOnly).returns.toEqualTypeOf<Effect.Effect<Ssl.Shared, SslError, Scope.Scope>>()
  })

  it("dup of an Initial (or unknown) handle may be either", () => {
    const fromInitial = () => SslModule.dup(initial)
    const fromUnknown = () => SslModule.dup(unknown)
    expectTypeOf(fromInitial).returns.toEqualTypeOf<Effect.Effect<Ssl.DupResult, SslError, Scope.Scope>>()
    expectTypeOf(fromUnknown).returns.toEqualTypeOf<Effect.Effect<Ssl.DupResult, SslError, Scope.Scope>>()
  })

  it("the state only moves forward: an Initial handle is not a Started one", () => {
    expectTypeOf<Ssl.Ssl<"Initial">>().not.toMatchTypeOf<Ssl.Ssl<"Started">>()
    expectTypeOf<Ssl.Ssl<"Started">>().not.toMatchTypeOf<Ssl.Ssl<"Initial">>()
    const typeOnly = () => {
      // @ts-expect-error an Initial handle cannot be used where a Started one is required
      const _wrong: Ssl.Ssl<"Started"> = initial
    }
    expectTypeOf(typeOnly).toBeFunction()
    // Either state is an Ssl.
    expectTypeOf<Ssl.Ssl<"Initial">>().toMatchTypeOf<Ssl.Ssl>()
    expectTypeOf<Ssl.Ssl<"Started">>().toMatchTypeOf<Ssl.Ssl>()
  })

  it("make gives an Initial handle; upRef keeps the state; whenStarted refines", () => {
    const make = () => SslModule.make(null as never)
    expectTypeOf(make).returns.toEqualTypeOf<Effect.Effect<Ssl.Ssl<"Initial">, SslError, Scope.Scope>>()
    const up = () => SslModule.upRef(started)
    expectTypeOf(up).returns.toEqualTypeOf<Effect.Effect<Ssl.Ssl<"Started">, SslError, Scope.Scope>>()
    type Refined = Effect.Effect.Success<ReturnType<typeof SslModule.whenStarted>>
    expectTypeOf<Refined>().toEqualTypeOf<Option.Option<Ssl.Ssl<"Started">>>()
  })

  it("Duplicated carries an Initial handle, Shared a Started one", () => {
    expectTypeOf<Ssl.Duplicated["ssl"]>().toEqualTypeOf<Ssl.Ssl<"Initial">>()
    expectTypeOf<Ssl.Shared["ssl"]>().toEqualTypeOf<Ssl.Ssl<"Started">>()
  })
})
