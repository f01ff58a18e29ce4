import { InvalidOptionError } from "../SslError.js"

/**
 * Server names for SNI, as RFC 6125 §6.4 matches them: case-insensitive (ASCII; names on the
 * wire are A-labels), a trailing dot ignored, and a wildcard only as the whole leftmost label,
 * standing for exactly one label (`*.example.org` matches `api.example.org`, not
 * `example.org` nor `a.b.example.org`).
 */

const LABEL = /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/

/** Lower case, without a trailing dot. */
export const normalize = (name: string): string => {
  const lower = name.toLowerCase()
  return lower.endsWith(".") ? lower.slice(0, -1) : lower
}

/**
 * Check a configured name (exact or `*.` wildcard) and normalize it. A wildcard needs two
 * labels after it: `*.org` would claim every name under a top-level domain.
 */
export const parsePattern = (option: string, name: unknown): string => {
  const invalid = (reason: string) => new InvalidOptionError({ option, reason })
  if (typeof name !== "string" || name.length === 0) throw invalid("expected a non-empty server name")
  const pattern = normalize(name)
  if (pattern.length > 253) throw invalid("a server name is at most 253 characters")
  const labels = pattern.split(".")
  const wildcard = labels[0] === "*"
  const rest = wildcard ? labels.slice(1) : labels
  if (wildcard && rest.length < 2) {
    throw invalid(`${JSON.stringify(name)}: a wildcard needs at least two labels after it, as in *.example.org`)
  }
  for (const label of rest) {
    if (label.includes("*")) {
      throw invalid(`${JSON.stringify(name)}: a wildcard is only allowed as the whole leftmost label (*.example.org)`)
    }
    if (!LABEL.test(label)) throw invalid(`${JSON.stringify(name)} is not a valid DNS name`)
  }
  return pattern
}

/** The DNS names of a certificate's subject alternative names (`"DNS:a.example.org"` entries). */
export const dnsNames = (subjectAltNames: ReadonlyArray<string>): Array<string> =>
  subjectAltNames.filter((entry) => entry.startsWith("DNS:")).map((entry) => entry.slice(4))

/**
 * Names to values: exact names first, then the wildcard one label up. The first value to
 * claim a name keeps it.
 */
export class NameTable<A> {
  readonly #exact = new Map<string, A>()
  /** Keyed by what follows `*.`. */
  readonly #wildcard = new Map<string, A>()

  /** Add `value` under a pattern already checked by `parsePattern`. */
  add(pattern: string, value: A): void {
    const [table, key] = pattern.startsWith("*.")
      ? [this.#wildcard, pattern.slice(2)]
      : [this.#exact, pattern]
    if (!table.has(key)) table.set(key, value)
  }

  /** The value for a name a client sent, if any pattern matches it. */
  lookup(serverName: string): A | undefined {
    const name = normalize(serverName)
    const exact = this.#exact.get(name)
    if (exact !== undefined) return exact
    const dot = name.indexOf(".")
    // An empty leftmost label (".example.org") is not a label a wildcard stands for.
    return dot > 0 ? this.#wildcard.get(name.slice(dot + 1)) : undefined
  }
}
