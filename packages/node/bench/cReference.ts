/**
 * Builds and loads the C reference (`c/*.c`) with `cc`, against the OpenSSL headers that ship
 * with the running Node (or /usr/include/node), without linking libssl: in this process its
 * OpenSSL calls bind to Node's own copy. Returns undefined, with the reason, when no compiler
 * or headers are available.
 */
import * as koffi from "koffi"
import { execFileSync } from "node:child_process"
import { existsSync, mkdirSync } from "node:fs"
import * as path from "node:path"
import { benchDir } from "./fixture.js"

const headerDirs = [path.join(path.dirname(process.execPath), "..", "include", "node"), "/usr/include/node"]

export type CReference =
  | { readonly _tag: "Loaded"; readonly lib: koffi.LibraryHandle; readonly compiler: string }
  | { readonly _tag: "Unavailable"; readonly reason: string }

export const loadCReference = (source: string): CReference => {
  const include = headerDirs.find((dir) => existsSync(path.join(dir, "openssl", "ssl.h")))
  if (include === undefined) return { _tag: "Unavailable", reason: "no OpenSSL headers found next to Node" }
  let compiler: string
  try {
    compiler = execFileSync("cc", ["--version"], { encoding: "utf8" }).split("\n")[0]!
  } catch {
    return { _tag: "Unavailable", reason: "no C compiler (cc) on this machine" }
  }
  const outDir = path.join(benchDir, ".build")
  mkdirSync(outDir, { recursive: true })
  const out = path.join(outDir, `${path.basename(source, ".c")}-node${process.versions.node}.so`)
  try {
    execFileSync("cc", ["-O2", "-shared", "-fPIC", `-I${include}`, "-o", out, path.join(benchDir, "c", source)], {
      stdio: "pipe"
    })
  } catch (e) {
    return { _tag: "Unavailable", reason: `cc failed: ${String((e as { stderr?: unknown }).stderr ?? e)}` }
  }
  return { _tag: "Loaded", lib: koffi.load(out), compiler }
}
