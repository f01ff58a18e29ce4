import { defineConfig } from "vitest/config"

// Not one of the workspace's projects: scripts/test.sh runs it once per suite run, on one Node line.
export default defineConfig({
  test: {
    name: "pack",
    include: ["PackInstall.test.ts"],
    setupFiles: ["../../vitest.setup.ts"],
    testTimeout: 120_000
  }
})
