#!/usr/bin/env node
/**
 * The `effect-openssl` command (`effect-openssl --help`; docs/cli.md). It runs on
 * `@effect/cli` and `@effect/platform-node`, optional peer dependencies of this package: the
 * library does without them, the command says when they are missing.
 *
 * @since 0.1.0
 */
import { packageInfo } from "./internal/packageInfo.js"

const commandPeers = ["@effect/cli", "@effect/platform-node"]

import("./internal/cli/main.js").then(
  (command) => command.main(),
  (error: { readonly code?: unknown; readonly message?: unknown }) => {
    const missing = commandPeers.find((name) => String(error.message).includes(`'${name}'`))
    if (error.code !== "ERR_MODULE_NOT_FOUND" || missing === undefined) throw error
    const install = commandPeers.map((name) => `${name}@"${packageInfo.peerDependencies[name]}"`).join(" ")
    console.error(
      `effect-openssl: the command needs ${commandPeers.join(" and ")} next to ${packageInfo.name} ` +
        `(${missing} is missing): npm install ${install}`
    )
    process.exitCode = 1
  }
)
