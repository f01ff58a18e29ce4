import { defineProject } from "vitest/config"
import { excludedOnOtherLines, sourceConditions } from "../../vitest.shared.js"

export default defineProject({
  ...sourceConditions,
  test: {
    name: "test",
    include: ["test/**/*.test.ts", "examples/**/*.test.ts", "hardening/**/*.test.ts"],
    exclude: excludedOnOtherLines(["hardening/Races.test.ts", "hardening/Soak.test.ts"]),
    setupFiles: ["../../vitest.setup.ts"],
    // koffi callbacks and the native library are per process: keep one fork per file.
    pool: "forks",
    testTimeout: 30_000
  }
})
