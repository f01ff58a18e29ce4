/**
 * Lifecycle programs: sequences of handle operations (make, upRef, dup, starting the
 * handshake, host names, releases, including uses after release) as plain data, an
 * interpreter that runs one against the current `OpenSsl` service, and the observable trace it
 * leaves. Two implementations that behave alike give equal traces for every program: that is
 * how the lifecycle model is held to the real library, and how one binding can be held to
 * another.
 *
 * Native ids differ between implementations, processes and runs, so a trace names objects by
 * order of first appearance (`1` is the first object the program saw).
 *
 * @since 0.1.0
 */
import * as Diagnostics from "@effect-openssl/core/Diagnostics"
import type { FreeEvent, HandshakeStep, Role } from "@effect-openssl/core/OpenSsl"
import { OpenSsl } from "@effect-openssl/core/OpenSsl"
import * as Ssl from "@effect-openssl/core/Ssl"
import * as SslContext from "@effect-openssl/core/SslContext"
import type { SslError } from "@effect-openssl/core/SslError"
import { isSslError, OpenSslError, UnsupportedError } from "@effect-openssl/core/SslError"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Predicate from "effect/Predicate"
import * as Scope from "effect/Scope"
import { layer as modelLayer } from "./OpenSslModel.js"

/**
 * One operation. `context` and `handle` pick among every context or handle the program made so
 * far (modulo their number), released ones included: picking a released one is a use after
 * release.
 *
 * @since 0.1.0
 * @category models
 */
export type Op =
  | { readonly _tag: "NewContext"; readonly role: Role }
  | { readonly _tag: "ReleaseContext"; readonly context: number }
  | {
    readonly _tag: "Make"
    readonly context: number
    readonly role: "client" | "server" | undefined
    readonly hostName: string | undefined
  }
  | { readonly _tag: "UpRef"; readonly handle: number }
  | { readonly _tag: "Dup"; readonly handle: number }
  /** What an engine does first: attach memory BIOs, set the role, one handshake step. */
  | { readonly _tag: "Start"; readonly handle: number; readonly role: "client" | "server" }
  | { readonly _tag: "AttachMemory"; readonly handle: number }
  | { readonly _tag: "SetRole"; readonly handle: number; readonly role: "client" | "server" }
  | { readonly _tag: "Handshake"; readonly handle: number }
  | { readonly _tag: "SetHostName"; readonly handle: number; readonly hostName: string }
  | { readonly _tag: "Inspect"; readonly handle: number }
  | { readonly _tag: "Release"; readonly handle: number }

/**
 * @since 0.1.0
 * @category models
 */
export interface Program {
  readonly ops: ReadonlyArray<Op>
}

/**
 * What an operation returned. Objects are numbered by order of first appearance.
 *
 * @since 0.1.0
 * @category models
 */
export type Value =
  | { readonly _tag: "Done" }
  | { readonly _tag: "Object"; readonly object: number }
  | { readonly _tag: "Dup"; readonly result: Ssl.DupResult["_tag"]; readonly object: number }
  | { readonly _tag: "Step"; readonly step: HandshakeStep }
  | {
    readonly _tag: "Settings"
    readonly role: Role
    readonly isServer: boolean
    readonly hostName: string | undefined
    readonly inBefore: boolean
    /** The `SSL_MODE_*` mask: attaching memory BIOs changes it, `SSL_dup` copies it. */
    readonly mode: number
  }

/**
 * How an operation ended. `Skipped`: there was nothing to pick yet. `Failed` carries the
 * error's tag and what identifies it (the option, the operation, OpenSSL's first reason).
 *
 * @since 0.1.0
 * @category models
 */
export type Outcome =
  | { readonly _tag: "Skipped" }
  | { readonly _tag: "Succeeded"; readonly value: Value }
  | { readonly _tag: "Failed"; readonly error: SslError["_tag"]; readonly detail: string }

/**
 * One operation of the trace, with the native frees it caused, in order (`"SSL 2"` is object 2).
 *
 * @since 0.1.0
 * @category models
 */
export interface Step {
  readonly op: Op["_tag"] | "End"
  readonly outcome: Outcome
  readonly frees: ReadonlyArray<string>
}

/**
 * The observable trace of a program: one step per operation, then an `End` step for the
 * frees caused by closing every scope the program opened.
 *
 * @since 0.1.0
 * @category models
 */
export type Trace = ReadonlyArray<Step>

interface Holder<A> {
  readonly value: A
  readonly scope: Scope.CloseableScope
  /** The native id, kept so a released holder can still be named. */
  readonly id: number
}

const detailOf = (error: SslError): string => {
  switch (error._tag) {
    case "InvalidOptionError":
      return error.option
    case "ReleasedHandleError":
      return `${error.kind} ${error.operation}`
    case "OpenSslError": {
      // The first reason is what went wrong; later entries differ between OpenSSL versions. With
      // no entries, the cause says what happened (e.g. the model's WouldCrash).
      const cause = Predicate.hasProperty(error.cause, "_tag") ? String(error.cause._tag) : ""
      return `${error.operation}: ${error.entries[0]?.reasonText ?? cause}`
    }
    case "UnsupportedError":
      return error.operation
    case "TlsError":
      return `${error.reason} ${error.operation}: ${error.entries?.[0]?.reasonText ?? ""}`
    default:
      return error.message
  }
}

const skipped: Outcome = { _tag: "Skipped" }

/**
 * Run a program against the current `OpenSsl` service and return its trace. Every scope the
 * program opens is closed before it returns. Needs free observation (an OpenSSL of the
 * binding's own, `NodeOpenSsl.layerLibrary({ libssl: "libssl.so.3", observeFrees: true })`, or
 * the model): without it the frees could not be part of the trace, and the run fails with
 * `UnsupportedError`.
 *
 * @since 0.1.0
 * @category running
 */
export const run = (program: Program): Effect.Effect<Trace, UnsupportedError, OpenSsl> =>
  Effect.flatMap(OpenSsl, (openssl) => {
    const observation = openssl.frees
    if (observation === undefined) {
      return Effect.fail(
        new UnsupportedError({
          operation: "observeFrees",
          reason:
            "a lifecycle trace needs free observation (NodeOpenSsl.layerLibrary({ libssl: \"libssl.so.3\", observeFrees: true }))"
        })
      )
    }
    return Effect.acquireUseRelease(
      Effect.sync(() => {
        const frees: Array<FreeEvent> = []
        return { frees, stop: observation.observe((event) => frees.push(event)) }
      }),
      ({ frees }) => interpret(program, frees),
      ({ stop }) => Effect.sync(stop)
    )
  })

const interpret = (program: Program, frees: Array<FreeEvent>) =>
  Effect.gen(function*() {
    const numbers = new Map<number, number>()
    const number = (id: number) => {
      let n = numbers.get(id)
      if (n === undefined) {
        n = numbers.size + 1
        numbers.set(id, n)
      }
      return n
    }
    const trace: Array<Step> = []
    const contexts: Array<Holder<SslContext.SslContext>> = []
    const handles: Array<Holder<Ssl.Ssl>> = []
    const pick = <A>(holders: ReadonlyArray<Holder<A>>, index: number) =>
      holders.length === 0 ? undefined : holders[index % holders.length]

    const record = (op: Step["op"], outcome: Outcome) => {
      const freed = frees.splice(0).map((event) => `${event.kind} ${number(event.id)}`)
      trace.push({ op, outcome, frees: freed })
    }
    const settle = <A>(effect: Effect.Effect<A, SslError>, value: (a: A) => Value) =>
      Effect.map(
        Effect.either(effect),
        (either): Outcome =>
          either._tag === "Right"
            ? { _tag: "Succeeded", value: value(either.right) }
            : { _tag: "Failed", error: either.left._tag, detail: detailOf(either.left) }
      )
    // Acquire into a scope of its own, so the program decides when each reference goes.
    const acquire = <A>(
      effect: Effect.Effect<A, SslError, OpenSsl | Scope.Scope>,
      idOf: (a: A) => Effect.Effect<number, never, OpenSsl>
    ): Effect.Effect<Exit.Exit<Holder<A>, SslError>, never, OpenSsl> =>
      Effect.gen(function*() {
        const scope = yield* Scope.make()
        const exit = yield* Effect.exit(Scope.extend(effect, scope))
        if (Exit.isFailure(exit)) {
          yield* Scope.close(scope, Exit.void)
          return Exit.failCause(exit.cause)
        }
        return Exit.succeed({ value: exit.value, scope, id: yield* idOf(exit.value) })
      })
    const raw = <A>(ssl: Ssl.Ssl, f: (openssl: OpenSsl, ref: ReturnType<typeof Ssl.unsafeNativeRef>) => A) =>
      Effect.try({
        try: () => f(Ssl.openSslOf(ssl), Ssl.unsafeNativeRef(ssl)),
        // A binding throws SslErrors only; anything else is its bug, reported as the core does.
        catch: (e) => isSslError(e) ? e : new OpenSslError({ operation: "LifecycleProgram", entries: [], cause: e })
      })
    const sslId = (ssl: Ssl.Ssl) => Effect.sync(() => Ssl.unsafeNativeRef(ssl).id)
    // A context's id is not on its handle; the diagnostics name it by address.
    const contextId = (ctx: SslContext.SslContext) =>
      Effect.map(
        Diagnostics.live,
        (live) => live.find((o) => o.kind === "SSL_CTX" && o.address === SslContext.unsafePointer(ctx))!.id
      )

    for (const op of program.ops) {
      switch (op._tag) {
        case "NewContext": {
          const exit = yield* acquire(SslContext.make({ role: op.role, verify: { mode: "none" } }), contextId)
          if (Exit.isSuccess(exit)) contexts.push(exit.value)
          record(op._tag, yield* settle(exit, (h) => ({ _tag: "Object", object: number(h.id) })))
          break
        }
        case "ReleaseContext": {
          const holder = pick(contexts, op.context)
          if (holder === undefined) record(op._tag, skipped)
          else {
            yield* SslContext.release(holder.value)
            record(op._tag, { _tag: "Succeeded", value: { _tag: "Done" } })
          }
          break
        }
        case "Make": {
          const holder = pick(contexts, op.context)
          if (holder === undefined) {
            record(op._tag, skipped)
            break
          }
          const exit = yield* acquire(Ssl.make(holder.value, { role: op.role, hostName: op.hostName }), sslId)
          if (Exit.isSuccess(exit)) handles.push(exit.value)
          record(op._tag, yield* settle(exit, (h) => ({ _tag: "Object", object: number(h.id) })))
          break
        }
        case "UpRef":
        case "Dup": {
          const holder = pick(handles, op.handle)
          if (holder === undefined) {
            record(op._tag, skipped)
            break
          }
          if (op._tag === "UpRef") {
            const exit = yield* acquire(Ssl.upRef(holder.value), sslId)
            if (Exit.isSuccess(exit)) handles.push(exit.value)
            record(op._tag, yield* settle(exit, (h) => ({ _tag: "Object", object: number(h.id) })))
          } else {
            const exit = yield* acquire(Ssl.dup(holder.value), (result) => sslId(result.ssl))
            if (Exit.isSuccess(exit)) handles.push({ ...exit.value, value: exit.value.value.ssl })
            record(
              op._tag,
              yield* settle(exit, (h) => ({ _tag: "Dup", result: h.value._tag, object: number(h.id) }))
            )
          }
          break
        }
        case "Release": {
          const holder = pick(handles, op.handle)
          if (holder === undefined) record(op._tag, skipped)
          else {
            yield* Ssl.release(holder.value)
            record(op._tag, { _tag: "Succeeded", value: { _tag: "Done" } })
          }
          break
        }
        case "Inspect": {
          const holder = pick(handles, op.handle)
          if (holder === undefined) record(op._tag, skipped)
          else {
            record(
              op._tag,
              yield* settle(Ssl.settings(holder.value), (s) => ({
                _tag: "Settings",
                role: s.role,
                isServer: s.isServer,
                hostName: s.hostName,
                inBefore: s.inBefore,
                mode: s.mode
              }))
            )
          }
          break
        }
        case "Start":
        case "AttachMemory":
        case "SetRole":
        case "Handshake":
        case "SetHostName": {
          const holder = pick(handles, op.handle)
          if (holder === undefined) {
            record(op._tag, skipped)
            break
          }
          const done = (): Value => ({ _tag: "Done" })
          const step = (s: HandshakeStep): Value => ({ _tag: "Step", step: s })
          const outcome = op._tag === "Start"
            ? yield* settle(
              raw(holder.value, (openssl, ref) => {
                openssl.handshake.attachMemory(ref)
                openssl.handles.sslSetRole(ref, op.role)
                return openssl.handshake.step(ref)
              }),
              step
            )
            : op._tag === "AttachMemory"
            ? yield* settle(raw(holder.value, (openssl, ref) => openssl.handshake.attachMemory(ref)), done)
            : op._tag === "SetRole"
            ? yield* settle(raw(holder.value, (openssl, ref) => openssl.handles.sslSetRole(ref, op.role)), done)
            : op._tag === "Handshake"
            ? yield* settle(raw(holder.value, (openssl, ref) => openssl.handshake.step(ref)), step)
            : yield* settle(
              raw(holder.value, (openssl, ref) =>
                openssl.handles.sslSetHostName(ref, { _tag: "DnsName", name: op.hostName })),
              done
            )
          record(op._tag, outcome)
          break
        }
      }
    }
    // Handles first, newest first, then contexts: a fixed order, so frees at the end compare too.
    for (const holder of [...handles].reverse()) {
      yield* Scope.close(holder.scope, Exit.void)
    }
    for (const holder of [...contexts].reverse()) {
      yield* Scope.close(holder.scope, Exit.void)
    }
    record("End", { _tag: "Succeeded", value: { _tag: "Done" } })
    return trace
  })

/**
 * Whether the program would crash real OpenSSL, as the lifecycle model predicts (a step fails
 * with an `OpenSslError` caused by `OpenSslModel.WouldCrash`). Such a program must not run
 * against the real library: the process would die.
 *
 * @since 0.1.0
 * @category predicates
 */
export const crashesOpenSsl = (program: Program): boolean =>
  Effect.runSync(Effect.provide(run(program), modelLayer)).some((step) =>
    step.outcome._tag === "Failed" && step.outcome.error === "OpenSslError" &&
    step.outcome.detail.endsWith(": WouldCrash")
  )
