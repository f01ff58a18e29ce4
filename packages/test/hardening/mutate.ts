/**
 * Structure-aware mutations for the fuzzer, on top of the byte-stream `Mutation`s of the toolkit:
 * length fields (TLS record and handshake message lengths, DER lengths), whole units dropped or
 * swapped (TLS records, DER elements), bytes spliced in from another valid input, and bytes
 * overwritten. Positions and indexes are taken modulo what the input has, so every mutation
 * applies to every input (and shrinks well).
 */
import * as FastCheck from "effect/FastCheck"
import * as Arbitraries from "../src/Arbitraries.js"
import * as Mutation from "../src/Mutation.js"
import { concat } from "./corpus.js"

/** A length field: where it is, how many bytes (big-endian), its value. */
interface Field {
  readonly at: number
  readonly size: number
}

/** A span that holds one unit: a TLS record, or a DER element (header and contents). */
interface Unit {
  readonly at: number
  readonly end: number
}

interface Layout {
  readonly fields: ReadonlyArray<Field>
  readonly units: ReadonlyArray<Unit>
}

export type Format = "tls" | "der" | "text"

/**
 * TLS records, and the headers of the handshake messages that start in a plaintext handshake
 * record (before the first ChangeCipherSpec: after it, the handshake is encrypted).
 */
const tlsLayout = (bytes: Uint8Array): Layout => {
  const fields: Array<Field> = []
  const units: Array<Unit> = []
  let encrypted = false
  for (let at = 0; at + 5 <= bytes.length;) {
    const type = bytes[at]!
    const length = (bytes[at + 3]! << 8) | bytes[at + 4]!
    const end = Math.min(bytes.length, at + 5 + length)
    fields.push({ at: at + 3, size: 2 })
    units.push({ at, end })
    if (type === 20) encrypted = true
    if (type === 22 && !encrypted) {
      for (let m = at + 5; m + 4 <= end;) {
        fields.push({ at: m + 1, size: 3 })
        m += 4 + ((bytes[m + 1]! << 16) | (bytes[m + 2]! << 8) | bytes[m + 3]!)
      }
    }
    at = end
  }
  return { fields, units }
}

/** DER elements, depth first: the length field of each, and its span. */
const derLayout = (bytes: Uint8Array): Layout => {
  const fields: Array<Field> = []
  const units: Array<Unit> = []
  const walk = (from: number, to: number, depth: number) => {
    for (let at = from; at + 2 <= to && depth < 32;) {
      const tag = bytes[at]!
      const first = bytes[at + 1]!
      let length = first
      let header = 2
      if (first & 0x80) {
        const size = first & 0x7f
        if (size === 0 || size > 4 || at + 2 + size > to) return
        length = 0
        for (let i = 0; i < size; i++) length = length * 256 + bytes[at + 2 + i]!
        fields.push({ at: at + 2, size })
        header += size
      } else {
        fields.push({ at: at + 1, size: 1 })
      }
      const end = Math.min(to, at + header + length)
      units.push({ at, end })
      if (tag & 0x20) walk(at + header, end, depth + 1)
      at = end
    }
  }
  walk(0, bytes.length, 0)
  return { fields, units }
}

const layout = (format: Format, bytes: Uint8Array): Layout =>
  format === "tls" ? tlsLayout(bytes) : format === "der" ? derLayout(bytes) : { fields: [], units: [] }

/** A new value for a length field: a set value (truncated to the field's size) or a small change. */
export type LengthChange = { readonly _tag: "Set"; readonly value: number } | {
  readonly _tag: "Add"
  readonly delta: number
}

export type StructuredMutation =
  | { readonly _tag: "Bytes"; readonly mutation: Mutation.Mutation }
  | { readonly _tag: "Length"; readonly field: number; readonly change: LengthChange }
  | { readonly _tag: "DropUnit"; readonly unit: number }
  | { readonly _tag: "SwapUnits"; readonly unit: number }
  | { readonly _tag: "Splice"; readonly from: number; readonly length: number; readonly at: number }
  | { readonly _tag: "Overwrite"; readonly at: number; readonly bytes: Uint8Array }

/** Apply one mutation to `bytes` (a fresh array; `donor` is another valid input to splice from). */
const applyOne = (
  mutation: StructuredMutation,
  format: Format,
  bytes: Uint8Array,
  donor: Uint8Array
): Uint8Array => {
  const n = bytes.length
  switch (mutation._tag) {
    case "Bytes":
      return concat(Mutation.apply(mutation.mutation, bytes))
    case "Length": {
      const { fields } = layout(format, bytes)
      if (fields.length === 0) return bytes
      const field = fields[mutation.field % fields.length]!
      let value = 0
      for (let i = 0; i < field.size; i++) value = value * 256 + bytes[field.at + i]!
      const modulus = 2 ** (8 * field.size)
      let next = mutation.change._tag === "Set" ? mutation.change.value : value + mutation.change.delta
      next = ((next % modulus) + modulus) % modulus
      const out = bytes.slice()
      for (let i = field.size - 1; i >= 0; i--) {
        out[field.at + i] = next % 256
        next = Math.floor(next / 256)
      }
      return out
    }
    case "DropUnit": {
      const { units } = layout(format, bytes)
      if (units.length === 0) return bytes
      const unit = units[mutation.unit % units.length]!
      return concat([bytes.subarray(0, unit.at), bytes.subarray(unit.end)])
    }
    case "SwapUnits": {
      const { units } = layout(format, bytes)
      if (units.length < 2) return bytes
      const first = units[mutation.unit % units.length]!
      const second = units.find((u) => u.at >= first.end)
      if (second === undefined) return bytes
      return concat([
        bytes.subarray(0, first.at),
        bytes.subarray(second.at, second.end),
        bytes.subarray(first.end, second.at),
        bytes.subarray(first.at, first.end),
        bytes.subarray(second.end)
      ])
    }
    case "Splice": {
      if (donor.length === 0) return bytes
      const from = mutation.from % donor.length
      const piece = donor.subarray(from, Math.min(donor.length, from + Math.max(1, mutation.length)))
      const at = mutation.at % (n + 1)
      return concat([bytes.subarray(0, at), piece, bytes.subarray(Math.min(n, at + piece.length))])
    }
    case "Overwrite": {
      if (n === 0) return bytes
      const out = bytes.slice()
      const at = mutation.at % n
      out.set(mutation.bytes.subarray(0, n - at), at)
      return out
    }
  }
}

/** Apply mutations in order. */
export const apply = (
  mutations: ReadonlyArray<StructuredMutation>,
  format: Format,
  bytes: Uint8Array,
  donor: Uint8Array
): Uint8Array => mutations.reduce((current, m) => applyOne(m, format, current, donor), bytes)

/** Lengths at the edges OpenSSL's parsers check: empty, one, the 7-bit and 2^14 record limits, all ones. */
const edgeLengths = [0, 1, 2, 0x7f, 0x80, 0xff, 0x100, 0x3fff, 0x4000, 0x4001, 0x4100, 0x4101, 0xffff, 0xffffff]

const lengthChange: FastCheck.Arbitrary<LengthChange> = FastCheck.oneof(
  FastCheck.record({ _tag: FastCheck.constant("Set" as const), value: FastCheck.constantFrom(...edgeLengths) }),
  FastCheck.record({ _tag: FastCheck.constant("Set" as const), value: FastCheck.nat(0xffffff) }),
  FastCheck.record({
    _tag: FastCheck.constant("Add" as const),
    delta: FastCheck.constantFrom(-3, -2, -1, 1, 2, 3, 16, -16)
  })
)

const bytesMutation = Arbitraries.mutation.filter((m) => m._tag !== "Split")

/** A flipped byte keeps every length intact: it reaches past the outer parsers. */
const flip = FastCheck.record({
  _tag: FastCheck.constant("FlipBits" as const),
  at: FastCheck.nat(),
  mask: FastCheck.integer({ min: 1, max: 255 })
})

/** One mutation for inputs of `format` (structural ones where the format has structure). */
export const mutation = (format: Format): FastCheck.Arbitrary<StructuredMutation> =>
  FastCheck.oneof(
    { weight: 2, arbitrary: FastCheck.record({ _tag: FastCheck.constant("Bytes" as const), mutation: bytesMutation }) },
    { weight: 3, arbitrary: FastCheck.record({ _tag: FastCheck.constant("Bytes" as const), mutation: flip }) },
    {
      weight: format === "text" ? 0 : 3,
      arbitrary: FastCheck.record({
        _tag: FastCheck.constant("Length" as const),
        field: FastCheck.nat(64),
        change: lengthChange
      })
    },
    {
      weight: format === "text" ? 0 : 1,
      arbitrary: FastCheck.record({ _tag: FastCheck.constant("DropUnit" as const), unit: FastCheck.nat(64) })
    },
    {
      weight: format === "text" ? 0 : 1,
      arbitrary: FastCheck.record({ _tag: FastCheck.constant("SwapUnits" as const), unit: FastCheck.nat(64) })
    },
    {
      weight: 1,
      arbitrary: FastCheck.record({
        _tag: FastCheck.constant("Splice" as const),
        from: FastCheck.nat(),
        length: FastCheck.integer({ min: 1, max: 512 }),
        at: FastCheck.nat()
      })
    },
    {
      weight: 1,
      arbitrary: FastCheck.record({
        _tag: FastCheck.constant("Overwrite" as const),
        at: FastCheck.nat(),
        bytes: FastCheck.oneof(
          FastCheck.uint8Array({ minLength: 1, maxLength: 8 }),
          FastCheck.uint8Array({ minLength: 1, maxLength: 64 })
        )
      })
    }
  )

/** One to three mutations in a row, mostly one (each is destructive enough alone). */
export const mutations = (format: Format): FastCheck.Arbitrary<ReadonlyArray<StructuredMutation>> =>
  FastCheck.oneof(
    { weight: 6, arbitrary: FastCheck.tuple(mutation(format)) },
    { weight: 3, arbitrary: FastCheck.array(mutation(format), { minLength: 2, maxLength: 2 }) },
    { weight: 1, arbitrary: FastCheck.array(mutation(format), { minLength: 3, maxLength: 3 }) }
  )
