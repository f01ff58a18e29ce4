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
