/** Timing helpers and tables, shared by the benchmark suites of the repository and `effect-openssl bench`. */

/** Nanoseconds per iteration of `body(n)` (which runs n iterations): the median of `rounds` runs. */
export const nsPerOp = (body: (n: number) => void, n: number, rounds = 7): number => {
  body(Math.max(1, Math.floor(n / 10))) // warm up JIT and allocator
  const samples: Array<number> = []
  for (let r = 0; r < rounds; r++) {
    const start = process.hrtime.bigint()
    body(n)
    samples.push(Number(process.hrtime.bigint() - start) / n)
  }
  return median(samples)
}

/** Median of repeated measurements taken by `sample` (for C functions that time themselves). */
export const medianOf = (sample: () => number, rounds = 7): number => {
  sample()
  return median(Array.from({ length: rounds }, sample))
}

/**
 * Every sample of several subjects, taken in interleaved rounds (A B A B …): load from other
 * processes comes and goes, and interleaving spreads it over every subject alike, which keeps
 * their ratios meaningful. With `warmUp`, a first round is run and not recorded: JS code on a
 * streaming path (node:tls moving ~100 MB) takes that long before the JIT and the heap settle.
 */
export const interleavedSamples = async <K extends string, A>(
  subjects: ReadonlyArray<readonly [K, () => A | Promise<A>]>,
  rounds: number,
  warmUp = true
): Promise<Map<K, Array<A>>> => {
  if (warmUp) {
    for (const [, sample] of subjects) await sample()
  }
  const samples = new Map(subjects.map(([key]) => [key, [] as Array<A>]))
  for (let r = 0; r < rounds; r++) {
    for (const [key, sample] of subjects) samples.get(key)!.push(await sample())
  }
  return samples
}

/**
 * Medians for several subjects that time themselves (each call runs `n` iterations and returns
 * its own metric), sampled in interleaved rounds after a warm-up round (`interleavedSamples`).
 */
export const interleavedMedians = async <K extends string>(
  subjects: ReadonlyArray<readonly [K, (n: number) => number | Promise<number>]>,
  n: number,
  rounds = 7
): Promise<Map<K, number>> => {
  const samples = await interleavedSamples(subjects.map(([key, sample]) => [key, () => sample(n)] as const), rounds)
  return new Map([...samples].map(([key, xs]) => [key, median(xs)]))
}

/** The middle value (the mean of the two middle ones for an even count). */
const median = (xs: ReadonlyArray<number>): number => {
  const sorted = [...xs].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

/** A median with the range of the samples it came from. */
export interface Spread {
  readonly median: number
  readonly min: number
  readonly max: number
}

export const spread = (xs: ReadonlyArray<number>): Spread => ({
  median: median(xs),
  min: Math.min(...xs),
  max: Math.max(...xs)
})

/** One row of a results table: a name and a value per column (undefined: not measured). */
export interface Row {
  readonly name: string
  readonly unit: string
  readonly values: Record<string, number | undefined>
}

const fmt = (value: number | undefined, unit: string) =>
  value === undefined
    ? "–"
    : unit === "ns" && value >= 1000
    ? `${(value / 1000).toFixed(2)} µs`
    : `${value.toFixed(value < 10 ? 1 : 0)} ${unit}`

/**
 * Rows side by side, then ratios `value / reference`: by default each column's ratio to
 * `reference`, or the given [value, reference] pairs. For times a ratio says how many times
 * slower (below 1 is faster); for rates, how many times faster.
 */
export const ratioTable = (
  title: string,
  columns: ReadonlyArray<string>,
  reference: string,
  rows: ReadonlyArray<Row>,
  ratios: ReadonlyArray<readonly [value: string, reference: string]> = columns
    .filter((c) => c !== reference)
    .map((c) => [c, reference])
): string => {
  const header = ["", ...columns, ...ratios.map(([v, r]) => `${v} / ${r}`)]
  const lines = rows.map((row) => [
    row.name,
    ...columns.map((c) => fmt(row.values[c], row.unit)),
    ...ratios.map(([v, r]) => {
      const value = row.values[v]
      const ref = row.values[r]
      return value === undefined || ref === undefined ? "–" : `${(value / ref).toFixed(2)}×`
    })
  ])
  return renderTable(title, header, lines)
}

/** A Markdown table under a `###` title. */
export const renderTable = (
  title: string,
  header: ReadonlyArray<string>,
  lines: ReadonlyArray<ReadonlyArray<string>>
): string => {
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)))
  const render = (cells: ReadonlyArray<string>) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(" | ")} |`
  return [
    `### ${title}`,
    "",
    render(header),
    `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`,
    ...lines.map(render)
  ].join("\n")
}
