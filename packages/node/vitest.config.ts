import { defineProject } from "vitest/config"
import { excludedOnOtherLines, sourceConditions } from "../../vitest.shared.js"

export default defineProject({
  ...sourceConditions,
  test: {
    name: "node",
    include: ["test/**/*.test.ts"],
    exclude: excludedOnOtherLines(["test/Bench.test.ts"]),
    setupFiles: ["../../vitest.setup.ts"],
    // koffi callbacks and the native library are per process: keep one fork per file.
    pool: "forks",
    testTimeout: 30_000
  }
})
