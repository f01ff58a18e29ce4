/**
 * Mutations of a TLS byte stream, as data: what a hostile or broken network does to the bytes
 * between two peers. `apply` turns a stream into the chunks a peer then receives. Positions are
 * taken modulo the stream's length, so a mutation applies to any stream and shrinks well
 * (`Arbitraries.mutation` generates them).
 *
 * @since 0.1.0
 */

/**
 * - `Split`: cut the stream at the given positions (the bytes are unchanged, only chunked).
 * - `FlipBits`: XOR one byte with `mask` (non-zero).
 * - `Truncate`: keep only the first `keep` bytes (fewer than the stream has).
 * - `Duplicate`: repeat `length` bytes from `at` right after themselves, like a retransmitted
 *   segment delivered twice.
 * - `InsertGarbage`: insert `garbage` (non-empty) at `at`.
 *
 * @since 0.1.0
 * @category models
 */
export type Mutation =
  | { readonly _tag: "Split"; readonly cuts: ReadonlyArray<number> }
  | { readonly _tag: "FlipBits"; readonly at: number; readonly mask: number }
  | { readonly _tag: "Truncate"; readonly keep: number }
  | { readonly _tag: "Duplicate"; readonly at: number; readonly length: number }
  | { readonly _tag: "InsertGarbage"; readonly at: number; readonly garbage: Uint8Array }

/**
 * Whether the mutation leaves the byte stream intact (only its chunking changes): TLS must get
 * through it, and must reject every other mutation of a non-empty stream.
 *
 * @since 0.1.0
 * @category predicates
 */
export const preservesStream = (self: Mutation): boolean => self._tag === "Split"

const concat = (parts: ReadonlyArray<Uint8Array>): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const part of parts) {
    out.set(part, at)
    at += part.length
  }
  return out
}

const nonEmpty = (chunks: ReadonlyArray<Uint8Array>): ReadonlyArray<Uint8Array> => chunks.filter((c) => c.length > 0)

/**
 * Apply a mutation to a byte stream. Returns the chunks the peer receives, in order, none of
 * them empty. The input is not modified.
 *
 * @since 0.1.0
 * @category combinators
 */
export const apply = (self: Mutation, bytes: Uint8Array): ReadonlyArray<Uint8Array> => {
  const n = bytes.length
  switch (self._tag) {
    case "Split": {
      const cuts = Array.from(new Set(self.cuts.map((c) => c % (n + 1)))).sort((a, b) => a - b)
      const bounds = [0, ...cuts, n]
      return nonEmpty(bounds.slice(1).map((end, i) => bytes.slice(bounds[i], end)))
    }
    case "FlipBits": {
      if (n === 0) return []
      const out = bytes.slice()
      out[self.at % n] ^= self.mask
      return [out]
    }
    case "Truncate":
      return nonEmpty([bytes.slice(0, n === 0 ? 0 : self.keep % n)])
    case "Duplicate": {
      if (n === 0) return []
      const at = self.at % n
      const repeated = bytes.subarray(at, Math.min(n, at + Math.max(1, self.length)))
      return [concat([bytes.subarray(0, at), repeated, bytes.subarray(at)])]
    }
    case "InsertGarbage": {
      const at = self.at % (n + 1)
      return nonEmpty([concat([bytes.subarray(0, at), self.garbage, bytes.subarray(at)])])
    }
  }
}
