import { defineProject } from "vitest/config"
import { sourceConditions } from "../vitest.shared.js"

export default defineProject({
  ...sourceConditions,
  test: {
    name: "examples",
    include: ["*.test.ts"],
    setupFiles: ["../vitest.setup.ts"],
    // koffi callbacks and the native library are per process: keep one fork per file.
    pool: "forks",
    testTimeout: 60_000
  }
})
