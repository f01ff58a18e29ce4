/**
 * The `effect-openssl` command: its subcommands on `@effect/cli`, run by
 * `NodeRuntime.runMain`. Every failure a person sees is one line on stderr; a command line that
 * does not parse also gets the usage of its command. Exit codes: 0 done (and `--help`), 1 failed,
 * 2 the command line did not parse. SIGINT and SIGTERM interrupt the command, whose scope then
 * closes what it opened (a server its connections), and exit 0.
 */
import * as CliConfig from "@effect/cli/CliConfig"
import * as Command from "@effect/cli/Command"
import * as HelpDoc from "@effect/cli/HelpDoc"
import * as Usage from "@effect/cli/Usage"
import * as ValidationError from "@effect/cli/ValidationError"
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Cause from "effect/Cause"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as NodeOpenSsl from "../../NodeOpenSsl.js"
import { packageInfo } from "../packageInfo.js"
import { bench } from "./bench.js"
import { cert } from "./cert.js"
import { connect } from "./connect.js"
import { demo } from "./demo.js"
import { plainConsole } from "./output.js"
import { serve } from "./serve.js"
import { version } from "./version.js"

// The OpenSSL of EFFECT_OPENSSL_LIBSSL when set, Node's own otherwise; bound when a command runs
// (not for --help), so that a library that cannot be bound fails that command with one line.
const openssl = NodeOpenSsl.layerConfig()

const subcommands = {
  serve: Command.provide(serve, openssl),
  connect: Command.provide(connect, openssl),
  cert: Command.provide(cert, openssl),
  bench: Command.provide(bench, openssl),
  demo,
  version: Command.provide(version, openssl)
}

const root = Command.make("effect-openssl").pipe(
  Command.withDescription("OpenSSL for Effect programs: a TLS server and client, certificates, benchmarks"),
  Command.withSubcommands([
    subcommands.serve,
    subcommands.connect,
    subcommands.cert,
    subcommands.bench,
    subcommands.demo,
    subcommands.version
  ])
)

const cli = Command.run(root, { name: "effect-openssl", version: packageInfo.version })

const usages: Record<keyof typeof subcommands, Usage.Usage> = {
  serve: Command.getUsage(subcommands.serve),
  connect: Command.getUsage(subcommands.connect),
  cert: Command.getUsage(subcommands.cert),
  bench: Command.getUsage(subcommands.bench),
  demo: Command.getUsage(subcommands.demo),
  version: Command.getUsage(subcommands.version)
}

/** After a command line that did not parse (the parser printed why): how to call the command. */
const usage = (argv: ReadonlyArray<string>) => {
  const name = argv[2] ?? ""
  const named = Object.hasOwn(usages, name) ? usages[name as keyof typeof usages] : undefined
  const line = named === undefined
    ? `effect-openssl <${Object.keys(usages).join("|")}> [flags]`
    : `effect-openssl ${HelpDoc.toAnsiText(Usage.getHelp(named)).trim()}`
  const help = named === undefined ? "effect-openssl --help" : `effect-openssl ${name} --help`
  return Console.error(`usage: ${line}\n(${help} for every flag)`)
}

/** Run the command line `argv` (as `process.argv`): the exit code. */
export const run = (argv: ReadonlyArray<string>): Effect.Effect<number> =>
  cli(argv).pipe(
    Effect.as(0),
    Effect.catchAll((error) =>
      ValidationError.isValidationError(error)
        ? Effect.as(usage(argv), 2)
        : Effect.as(Console.error(`effect-openssl: ${error.message}`), 1)
    ),
    Effect.catchAllDefect((defect) =>
      Effect.as(Console.error(`effect-openssl: unexpected error: ${Cause.pretty(Cause.die(defect)).split("\n")[0]}`), 1)
    ),
    Effect.provide(Layer.merge(NodeContext.layer, CliConfig.layer({ showBuiltIns: false }))),
    (program) => Effect.consoleWith((console) => Effect.withConsole(program, plainConsole(console)))
  )

/**
 * Run `process.argv` and set the exit code. The process then ends when nothing is left to do
 * (so that everything written reaches its pipe), or at once after a signal.
 */
export const main = (): void => {
  // A reader that went away (`effect-openssl demo | head`): stop quietly, as other programs do.
  process.stdout.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code !== "EPIPE") throw error
    process.exit(process.exitCode ?? 0)
  })
  NodeRuntime.runMain(run(process.argv), {
    disableErrorReporting: true,
    teardown: (exit, onExit) => {
      process.exitCode = Exit.isSuccess(exit) && typeof exit.value === "number" ? exit.value : 0
      onExit(0)
    }
  })
}
