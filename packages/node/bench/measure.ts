/** Timing helpers shared by the benchmark suites. */

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

const median = (xs: Array<number>): number => {
  const sorted = [...xs].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]!
}

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
 * Print rows side by side, with each column's ratio to `reference` (for times: how many times
 * slower than the reference; below 1 is faster).
 */
export const printTable = (
  title: string,
  columns: ReadonlyArray<string>,
  reference: string,
  rows: ReadonlyArray<Row>
): string => {
  const header = ["", ...columns, ...columns.filter((c) => c !== reference).map((c) => `${c} / ${reference}`)]
  const lines = rows.map((row) => {
    const ref = row.values[reference]
    return [
      row.name,
      ...columns.map((c) => fmt(row.values[c], row.unit)),
      ...columns.filter((c) => c !== reference).map((c) => {
        const v = row.values[c]
        return v === undefined || ref === undefined ? "–" : `${(v / ref).toFixed(2)}×`
      })
    ]
  })
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)))
  const render = (cells: ReadonlyArray<string>) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(" | ")} |`
  const out = [
    `### ${title}`,
    "",
    render(header),
    `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`,
    ...lines.map(render)
  ].join("\n")
  console.log(`${out}\n`)
  return out
}
