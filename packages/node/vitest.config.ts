import { defineProject } from "vitest/config"
import { excludedOnOtherLines, sourceConditions } from "../../vitest.shared.js"

export default defineProject({
  ...sourceConditions,
  test: {
    name: "node",
    include: ["test/**/*.test.ts"],
    // The command's and the demo's tests start Node some thirty times to test this library's own
    // code; the servers and connections under them are tested on every line.
    exclude: excludedOnOtherLines(["test/Bench.test.ts", "test/Cli.test.ts", "test/Demo.test.ts"]),
    setupFiles: ["../../vitest.setup.ts"],
    // koffi callbacks and the native library are per process: keep one fork per file.
    pool: "forks",
    testTimeout: 30_000
  }
})
