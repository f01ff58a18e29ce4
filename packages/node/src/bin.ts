#!/usr/bin/env node
/**
 * The `effect-openssl` command (`effect-openssl --help`; docs/cli.md). It runs on `@effect/cli`,
 * an optional peer dependency of this package (each of its releases pairs with one
 * `@effect/platform` minor, so the library's wider range does without it): the command says
 * when it is missing.
 *
 * @since 0.1.0
 */
import { packageInfo } from "./internal/packageInfo.js"

const commandPeer = "@effect/cli"

import("./internal/cli/main.js").then(
  (command) => command.main(),
  (error: { readonly code?: unknown; readonly message?: unknown }) => {
    if (error.code !== "ERR_MODULE_NOT_FOUND" || !String(error.message).includes(`'${commandPeer}'`)) throw error
    console.error(
      `effect-openssl: the command needs ${commandPeer} next to ${packageInfo.name}: ` +
        `npm install ${commandPeer}@"${packageInfo.peerDependencies[commandPeer]}"`
    )
    process.exitCode = 1
  }
)
