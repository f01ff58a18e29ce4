/** TLS echo, Node: a `node:tls` server piping each socket to itself. */
import * as tls from "node:tls"
import { listen, nodeOptions, serve } from "../serve.js"

serve(
  await listen(tls.createServer(nodeOptions, (socket) => {
    // Clients that reset the connection (openssl s_time) must not take the server down.
    socket.on("error", () => {})
    socket.pipe(socket)
  }))
)
