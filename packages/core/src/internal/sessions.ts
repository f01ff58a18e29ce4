import type * as Effect from "effect/Effect"
import type * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import type { NativeRef, OpenSsl } from "../OpenSsl.js"
import { capability } from "../OpenSsl.js"
import type { SslContext } from "../SslContext.js"
import type { SslError } from "../SslError.js"
import type { SslSession } from "../SslSession.js"
import { SslSessionImpl } from "./handles.js"
import { acquireLeaseIfAny } from "./lease.js"

/**
 * A new reference to the session `read` returns (if any), in the caller's scope. `read` (which
 * checks that whatever holds the pointer is still live) and `SSL_SESSION_up_ref` run in one
 * synchronous step: any Effect operation between reading a pointer and referencing it would let
 * another fiber free it first.
 */
export const takeSession = (
  openssl: OpenSsl,
  context: SslContext,
  read: () => NativeRef | undefined,
  site?: string | undefined
): Effect.Effect<Option.Option<SslSession>, SslError, Scope.Scope> =>
  acquireLeaseIfAny(
    openssl,
    "SSL_SESSION_up_ref",
    () => {
      const sessions = capability(openssl, "sessions", "SSL_SESSION_up_ref")
      const ref = read()
      if (ref !== undefined) sessions.upRef(ref)
      return ref
    },
    (ref) => capability(openssl, "sessions", "SSL_SESSION_free").free(ref),
    (lease) => new SslSessionImpl(lease, context),
    site
  )
