import type { ViteUserConfig } from "vitest/config"

/**
 * The export condition that points the workspace packages at their TypeScript sources (see
 * their `exports`), so the tests need no build. Vitest also passes it to its worker processes as
 * `--conditions`; a test that starts Node itself passes it on the command line.
 */
export const sourceCondition = "@effect-openssl/source"

/** Resolve through `sourceCondition`, then as Vitest does by default (Vite's server conditions without `module`). */
export const sourceConditions: ViteUserConfig = {
  ssr: { resolve: { conditions: [sourceCondition, "node", "development|production"] } }
}

/**
 * Long tests of this library's own code rather than of OpenSSL (the bench harness, race
 * properties, the soak, the command and the demo): `scripts/test.sh` runs them on the machine's Node line only, and sets
 * `EFFECT_OPENSSL_OTHER_NODE_LINE` for the other lines, which leave them out.
 */
export const excludedOnOtherLines = (patterns: ReadonlyArray<string>): Array<string> =>
  process.env.EFFECT_OPENSSL_OTHER_NODE_LINE === "1" ? [...patterns] : []
