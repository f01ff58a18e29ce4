/** HTTPS, Node: `node:https` with the same app and TLS settings. */
import * as https from "node:https"
import { hello, listen, nodeOptions, serve } from "../serve.js"

serve(await listen(https.createServer(nodeOptions, hello)))
