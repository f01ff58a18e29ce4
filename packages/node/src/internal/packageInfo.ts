import { readFileSync } from "node:fs"

/**
 * The node package's manifest, for the command: this module is `src/internal/` in the
 * repository and `dist/internal/` when installed, two levels below the manifest either way.
 */
export const packageInfo = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
  readonly name: string
  readonly version: string
  readonly peerDependencies: Readonly<Record<string, string>>
}
