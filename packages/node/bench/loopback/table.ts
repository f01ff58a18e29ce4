/** The loopback table: ours against Node, each a median with the spread of its samples. */
import { renderTable, spread } from "../../src/internal/bench/measure.js"

/** One row: the samples of our server and of Node's, taken in interleaved rounds. */
export interface Comparison {
  readonly name: string
  readonly unit: string
  readonly ours: ReadonlyArray<number>
  readonly node: ReadonlyArray<number>
}

/** What one measurement module gives the table: its rows, and what limits its figures. */
export interface Section {
  readonly rows: ReadonlyArray<Comparison>
  readonly limits: string
}

/** Three significant digits, thousands as `k`. */
const fmt = (x: number) =>
  x >= 10_000
    ? `${(x / 1000).toFixed(1)}k`
    : x >= 100
    ? x.toFixed(0)
    : x >= 10
    ? x.toFixed(1)
    : x >= 1
    ? x.toFixed(2)
    : x.toPrecision(3) // below 1 (a latency in ms): 0.235, not 0.24

const cell = (samples: ReadonlyArray<number>, unit: string) => {
  if (samples.length === 0) return "–"
  const { max, median, min } = spread(samples)
  return `${fmt(median)} ${unit} (${fmt(min)}–${fmt(max)})`
}

export const renderComparisons = (title: string, rows: ReadonlyArray<Comparison>): string =>
  renderTable(
    title,
    ["", "ours: median (min–max)", "node: median (min–max)", "ours / node"],
    rows.map((row) => [
      row.name,
      cell(row.ours, row.unit),
      cell(row.node, row.unit),
      row.ours.length === 0 || row.node.length === 0 ?
        "–" :
        `${(spread(row.ours).median / spread(row.node).median).toFixed(2)}×`
    ])
  )
