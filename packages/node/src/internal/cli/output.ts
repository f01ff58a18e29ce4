import type * as Console from "effect/Console"

const ANSI = /\x1b\[[0-9;]*m/g

/** Colors only for a terminal that wants them (https://no-color.org). */
const colors = (stream: NodeJS.WriteStream): boolean => stream.isTTY === true && (process.env.NO_COLOR ?? "") === ""

/** Text for a stream: without ANSI styles unless it shows them, without trailing blank lines. */
const forStream = (stream: NodeJS.WriteStream) => (args: ReadonlyArray<unknown>): Array<unknown> =>
  args.map((arg) => {
    if (typeof arg !== "string") return arg
    const text = colors(stream) ? arg : arg.replace(ANSI, "").replace(/[ \t]+$/gm, "")
    return text.replace(/\s+$/, "")
  })

/**
 * The console of the command over `console`: `@effect/cli` styles its help and errors with ANSI
 * escapes, which a pipe or a file would get as noise.
 */
export const plainConsole = (console: Console.Console): Console.Console => ({
  ...console,
  log: (...args) => console.log(...forStream(process.stdout)(args)),
  error: (...args) => console.error(...forStream(process.stderr)(args))
})
