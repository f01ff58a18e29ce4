/**
 * Run as a process of its own by NodeOpenSsl.test.ts (worker threads inherit its TypeScript
 * loader): binds in worker threads, with and without free observation, terminates them, then
 * frees objects on the main thread with free observation on. Prints what each step gave.
 */
import * as Effect from "effect/Effect"
import { Worker } from "node:worker_threads"

const inWorker = (observeFrees: boolean) =>
  new Promise<unknown>((resolve, reject) => {
    // A worker starts without the TypeScript loader of this process: register it first.
    const entry = new URL("./worker.ts", import.meta.url).href
    const worker = new Worker(
      `import("tsx/esm/api").then(({ register }) => { register(); return import(${JSON.stringify(entry)}) })`,
      { eval: true, workerData: { observeFrees } }
    )
    worker.once("message", (message) => {
      // Terminated while its binding is still open: nothing may depend on its thread any more.
      void worker.terminate().then(() => resolve(message))
    })
    worker.once("error", reject)
  })

const plain = await inWorker(false)
const observing = await inWorker(true)
// The main thread's own binding, and Node's own TLS, free objects after the workers ended.
const { bindingOf, handshake } = await import("./worker.js")
const main = await Effect.runPromise(handshake(bindingOf(true)))
console.log(JSON.stringify({ plain, observing, main }))
