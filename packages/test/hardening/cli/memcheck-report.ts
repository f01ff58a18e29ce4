/**
 * Reads valgrind's XML output (`--xml=yes`) and prints a readable summary: each distinct error
 * (kind, what, the top frames, and where the memory was freed or allocated), how many times it
 * occurred, and the suppressed counts. Exits 1 when any error was not suppressed.
 *
 *   tsx memcheck-report.ts valgrind.xml
 */
import { readFileSync } from "node:fs"

interface Frame {
  readonly fn: string | undefined
  readonly obj: string | undefined
  readonly file: string | undefined
  readonly line: string | undefined
}

const FRAMES_SHOWN = 8

const tag = (xml: string, name: string): string | undefined =>
  new RegExp(`<${name}>([\\s\\S]*?)</${name}>`).exec(xml)?.[1]

const all = (xml: string, name: string): Array<string> =>
  Array.from(xml.matchAll(new RegExp(`<${name}>([\\s\\S]*?)</${name}>`, "g")), (m) => m[1]!)

const unescape = (text: string) =>
  text.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&quot;/g, "\"").replace(/&apos;/g, "'").replace(
    /&amp;/g,
    "&"
  )

const frames = (stack: string): Array<Frame> =>
  all(stack, "frame").map((frame) => ({
    fn: tag(frame, "fn"),
    obj: tag(frame, "obj"),
    file: tag(frame, "file"),
    line: tag(frame, "line")
  }))

const describeFrame = (f: Frame): string => {
  const where = f.file !== undefined ? `${f.file}:${f.line ?? "?"}` : f.obj?.split("/").pop() ?? "?"
  return `${unescape(f.fn ?? "???")} (${where})`
}

const path = process.argv[2]
if (path === undefined) {
  console.error("memcheck-report: usage: memcheck-report.ts <valgrind.xml>")
  process.exit(2)
}
let xml: string
try {
  xml = readFileSync(path, "utf8")
} catch (cause) {
  console.error(`memcheck-report: cannot read ${path}: ${String(cause)}`)
  process.exit(2)
}

// <errorcounts> holds how many times each distinct error (by <unique>) occurred.
const counts = new Map(
  all(tag(xml, "errorcounts") ?? "", "pair").map((pair) => [tag(pair, "unique")!, Number(tag(pair, "count"))])
)
// Leak records: Node does not free everything at exit, and leaks are not what this checks
// (native objects held too long are the free audit's and Diagnostics' job).
const errors = all(xml, "error").filter((error) => !(tag(error, "kind") ?? "").startsWith("Leak_")).map((error) => {
  const what = unescape(tag(error, "what") ?? tag(tag(error, "xwhat") ?? "", "text") ?? "?")
  const stacks = all(error, "stack")
  return {
    kind: tag(error, "kind") ?? "?",
    what,
    count: counts.get(tag(error, "unique") ?? "") ?? 1,
    stack: frames(stacks[0] ?? ""),
    // Each note is followed by its stack: "Address ... inside a block of size 928 free'd" and
    // where it was freed, then "Block was alloc'd at" and where.
    notes: all(error, "auxwhat").map((note, i) => ({ note: unescape(note), stack: frames(stacks[i + 1] ?? "") }))
  }
})
const suppressed = all(tag(xml, "suppcounts") ?? "", "pair").map((pair) => ({
  name: tag(pair, "name") ?? "?",
  count: Number(tag(pair, "count"))
}))

const total = errors.reduce((n, e) => n + e.count, 0)
console.log(`memcheck: ${errors.length} distinct error(s), ${total} in all`)
for (const [i, error] of errors.entries()) {
  console.log(`\n${i + 1}. ${error.what} [${error.kind}] x${error.count}`)
  for (const frame of error.stack.slice(0, FRAMES_SHOWN)) console.log(`     at ${describeFrame(frame)}`)
  for (const { note, stack } of error.notes) {
    console.log(`   ${note}`)
    for (const frame of stack.slice(0, FRAMES_SHOWN)) console.log(`     at ${describeFrame(frame)}`)
  }
}
if (suppressed.length > 0) {
  console.log(`\nsuppressed (known Node/V8/koffi noise, scripts/memcheck.supp):`)
  for (const s of suppressed) console.log(`  ${String(s.count).padStart(6)}  ${s.name}`)
}
process.exit(errors.length === 0 ? 0 : 1)
