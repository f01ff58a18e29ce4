/**
 * `pnpm bench`: every suite side by side with the C reference (same OpenSSL, compiled from
 * this repo with `cc`) in the same run, as ratios. `--quick` runs fewer iterations.
 */
import { runLifecycle } from "./lifecycle.js"
import { runTls } from "./tls.js"
import { libraryColumn } from "./tlsLibrary.js"

const quick = process.argv.includes("--quick")

console.log(`effect-openssl benchmarks — Node ${process.versions.node}, OpenSSL ${process.versions.openssl}\n`)
const lifecycle = runLifecycle(quick ? 20_000 : 200_000)
console.log(`${lifecycle.note}\n`)

const tls = await runTls({ quick, library: libraryColumn })
console.log(tls.note)
