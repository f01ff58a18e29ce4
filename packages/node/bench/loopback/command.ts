/** External programs of the loopback table: finding them, and running one for its output. */
import { execFile, execFileSync, spawnSync } from "node:child_process"

/** Whether `command` is on the PATH. */
export const installed = (command: string): boolean => {
  try {
    execFileSync("sh", ["-c", `command -v ${command}`], { stdio: "ignore" })
    return true
  } catch {
    return false
  }
}

/**
 * Run `command` to the end: its standard output, or a one-line error with its standard error.
 * Every run here lasts seconds; one stuck on a server that stopped answering is killed after two
 * minutes.
 */
export const output = (command: string, args: ReadonlyArray<string>): Promise<string> =>
  new Promise((resolve, reject) => {
    execFile(command, args, { maxBuffer: 64 * 1024 * 1024, timeout: 120_000 }, (error, stdout, stderr) => {
      if (error === null) resolve(stdout)
      else reject(new Error(`${command} failed: ${(stderr.trim() || error.message).split("\n")[0]}`))
    })
  })

/** The first line `command` prints with `args`, whatever its exit status (`wrk --version` exits 1). */
export const firstLine = (command: string, args: ReadonlyArray<string>): string => {
  const result = spawnSync(command, args, { encoding: "utf8" })
  return (result.stdout ?? "").split("\n")[0]!.trim()
}
