/**
 * `@effect/platform`'s `HttpClient` with this library's TLS: an Effect app moves its client here
 * by swapping one layer, `NodeHttpClient.layer` for `NodeTlsHttpClient.layer()`:
 *
 * ```ts
 * const HttpClientLive = NodeTlsHttpClient.layer({ maxConnectionsPerHost: 16 }).pipe(
 *   Layer.provide(ClientContext.layerConfig({ trust: { files: Config.string("TLS_CA_FILE") } })),
 *   Layer.provide([NodeOpenSsl.layer, NodeContext.layer])
 * )
 *
 * const program = Effect.gen(function*() {
 *   const client = yield* HttpClient.HttpClient
 *   const response = yield* client.get("https://api.example.org/items")
 *   return yield* response.json
 * })
 * ```
 *
 * It is `@effect/platform-node`'s `NodeHttpClient` (node:http's client: requests, bodies,
 * responses, aborts) over an agent whose connections are this library's:
 *
 * - **Verified.** Trust and a client certificate come from the `ClientContext` service. The
 *   chain is verified, and the certificate must match the host of the request URL (a DNS name,
 *   or an IP address checked as an address; a `Host` header does not change it). A failed
 *   verification fails the request with a `RequestError` (`reason: "Transport"`) whose `cause`
 *   is the `VerifyError`, with its X509 code; other TLS failures are `TlsError`s there.
 * - **ALPN.** `http/1.1` is offered, and only that: when the `ClientContext` offers other
 *   protocols (say `h2`), the client uses a context made from the same configuration offering
 *   `http/1.1` alone. A server that only speaks HTTP/2 refuses the handshake with the
 *   `no_application_protocol` alert (a `TlsError` `"Protocol"`), as node:http2 servers do.
 * - **Keep-alive.** Connections are reused across requests, at most `maxConnectionsPerHost`
 *   per origin (`host:port`; requests beyond wait for a connection, first come first served,
 *   and leave the queue when interrupted), idle ones closed after `idleTimeout`.
 * - **Resumption.** Each connection offers a session from a bounded cache per origin, and the
 *   session the server sends back (a TLS 1.3 ticket arrives after the handshake) is kept by a
 *   fiber of the connection, not by the request. TLS 1.3 tickets are used once; a resumed TLS
 *   1.2 session goes back to the cache.
 * - **Timeouts.** `connectTimeout` bounds the TCP connection and the handshake; a request is
 *   bounded as any Effect is (`Effect.timeout`), which aborts it and closes its connection.
 * - **Addresses.** `hosts` gives host names their addresses without DNS, as `/etc/hosts` does
 *   (`{ "api.example.test": "127.0.0.1" }`): the connection goes to the address, while SNI,
 *   the certificate check and the pool still use the URL's host.
 *
 * When the layer's scope closes, every connection is closed (close_notify first) and every
 * native object released. `http:` URLs go through a plain node:http agent with the same pool
 * settings, as with `NodeHttpClient`.
 *
 * @since 0.1.0
 */
import { ClientContext } from "@effect-openssl/core/ClientContext"
import * as HostName from "@effect-openssl/core/HostName"
import type { OpenSsl } from "@effect-openssl/core/OpenSsl"
import * as OptionCheck from "@effect-openssl/core/OptionCheck"
import { InvalidOptionError, type SslError } from "@effect-openssl/core/SslError"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import type * as HttpClient from "@effect/platform/HttpClient"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as FiberSet from "effect/FiberSet"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import * as http from "node:http"
import { withAlpn } from "./internal/alpnContext.js"
import * as SessionCache from "./internal/sessionCache.js"
import { TlsAgent } from "./internal/tlsAgent.js"

/**
 * Pool, timeout and session cache settings. Counts are whole numbers of at least 1, durations
 * finite and above zero; anything else fails the layer with `InvalidOptionError` naming it.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Connections per origin (`host:port`), busy and idle. Default 32. */
  readonly maxConnectionsPerHost?: number | undefined
  /** Idle connections kept per origin. Default: `maxConnectionsPerHost`. */
  readonly maxIdlePerHost?: number | undefined
  /**
   * How long an idle connection is kept. Default 5 seconds; shorter when the server's
   * `Keep-Alive: timeout=n` says so (n less one second, as node:http's agent does).
   */
  readonly idleTimeout?: Duration.DurationInput | undefined
  /** Bound of the TCP connection and the TLS handshake together. Default 10 seconds. */
  readonly connectTimeout?: Duration.DurationInput | undefined
  /**
   * Sessions kept for resumption: the newest `perHost` (default 4) of each of the `hosts`
   * (default 100) origins used most recently. `false`: every connection does a full handshake.
   */
  readonly sessionCache?:
    | {
      readonly hosts?: number | undefined
      readonly perHost?: number | undefined
    }
    | false
    | undefined
  /**
   * Addresses for host names, used instead of DNS (as `/etc/hosts`, or curl's `--resolve`):
   * `{ "api.example.test": "127.0.0.1" }` connects a request for `https://api.example.test:8443`
   * to 127.0.0.1 port 8443. The name is still the one sent as SNI, checked against the
   * certificate and used for the pool and the session cache. Names are DNS names, any case;
   * addresses are IPv4 or IPv6 (without brackets). Names not listed are looked up as usual.
   */
  readonly hosts?: Readonly<Record<string, string>> | undefined
}

/**
 * The agents `NodeHttpClient` runs on: `https` makes this library's connections with the
 * `ClientContext`, `http` is a plain node:http agent with the same pool settings. Both are
 * destroyed when the scope closes, after which the connections' scopes are closed.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeAgent = (
  options: Options = {}
): Effect.Effect<NodeHttpClient.HttpAgent, SslError, ClientContext | OpenSsl | Scope.Scope> =>
  Effect.gen(function*() {
    const settings = yield* OptionCheck.check(() => resolve(options))
    const client = yield* ClientContext
    const scope = yield* Effect.scope
    // Closed last: sessions may be put while connections close.
    const sessionScope = yield* Scope.fork(scope, ExecutionStrategy.sequential)
    const context = yield* Scope.extend(withAlpn(client.context, ["http/1.1"]), sessionScope)
    const connections = yield* FiberSet.make()
    const runFork = yield* FiberSet.runtime(connections)()
    const agentOptions: http.AgentOptions = {
      keepAlive: true,
      maxSockets: settings.maxConnectionsPerHost,
      maxFreeSockets: settings.maxIdlePerHost,
      timeout: Duration.toMillis(settings.idleTimeout),
      scheduling: "lifo"
    }
    const https = yield* Effect.acquireRelease(
      Effect.sync(() =>
        new TlsAgent(agentOptions, {
          context,
          sessions: settings.sessionCache === false ? undefined : SessionCache.make(settings.sessionCache),
          sessionScope,
          connectTimeout: settings.connectTimeout,
          hosts: settings.hosts,
          runFork
        })
      ),
      (agent) => Effect.sync(() => agent.destroy())
    )
    const plain = yield* Effect.acquireRelease(
      Effect.sync(() => new http.Agent(agentOptions)),
      (agent) => Effect.sync(() => agent.destroy())
    )
    return { [NodeHttpClient.HttpAgentTypeId]: NodeHttpClient.HttpAgentTypeId, http: plain, https }
  })

/**
 * The `HttpClient` over `makeAgent(options)`, in place of `NodeHttpClient.layer`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: Options = {}
): Layer.Layer<HttpClient.HttpClient, SslError, ClientContext | OpenSsl> =>
  Layer.provide(NodeHttpClient.layerWithoutAgent, Layer.scoped(NodeHttpClient.HttpAgent, makeAgent(options)))

/**
 * The options from `Config`, e.g. `idleTimeout: Config.duration("HTTP_IDLE_TIMEOUT")`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  config: Config.Config.Wrap<Options>
): Layer.Layer<HttpClient.HttpClient, ConfigError.ConfigError | SslError, ClientContext | OpenSsl> =>
  Layer.provide(
    NodeHttpClient.layerWithoutAgent,
    Layer.scoped(NodeHttpClient.HttpAgent, Effect.flatMap(Config.unwrap(config), makeAgent))
  )

interface Settings {
  readonly maxConnectionsPerHost: number
  readonly maxIdlePerHost: number
  readonly idleTimeout: Duration.Duration
  readonly connectTimeout: Duration.Duration
  readonly sessionCache: SessionCache.Bounds | false
  /** Lower-case host name to address. */
  readonly hosts: ReadonlyMap<string, string>
}

/** The options checked, with their defaults; throws `InvalidOptionError`. */
const resolve = (options: Options): Settings => {
  if (typeof options !== "object" || options === null) throw invalid("options", "expected an object")
  const maxConnectionsPerHost = OptionCheck.count("maxConnectionsPerHost", options.maxConnectionsPerHost, 32)
  const cache = options.sessionCache
  if (cache !== undefined && cache !== false && (typeof cache !== "object" || cache === null)) {
    throw invalid("sessionCache", "expected an object or false")
  }
  return {
    maxConnectionsPerHost,
    maxIdlePerHost: OptionCheck.count("maxIdlePerHost", options.maxIdlePerHost, maxConnectionsPerHost),
    idleTimeout: OptionCheck.duration("idleTimeout", options.idleTimeout, "5 seconds"),
    connectTimeout: OptionCheck.duration("connectTimeout", options.connectTimeout, "10 seconds"),
    sessionCache: cache === false ? false : {
      hosts: OptionCheck.count("sessionCache.hosts", cache?.hosts, 100),
      perHost: OptionCheck.count("sessionCache.perHost", cache?.perHost, 4)
    },
    hosts: hostsOf(options.hosts)
  }
}

/** The `hosts` option checked: DNS names to IP addresses. */
const hostsOf = (hosts: Options["hosts"]): ReadonlyMap<string, string> => {
  if (hosts === undefined) return new Map()
  if (typeof hosts !== "object" || hosts === null || Array.isArray(hosts)) {
    throw invalid("hosts", "expected an object of host names to IP addresses")
  }
  const map = new Map<string, string>()
  for (const [name, address] of Object.entries(hosts)) {
    const option = `hosts[${JSON.stringify(name)}]`
    const host = HostName.parseOrThrow(name, option)
    if (host._tag !== "DnsName") throw invalid(option, "expected a host name (an IP address is connected to as it is)")
    const target = HostName.parse(address, option)
    if (target._tag === "Left" || target.right._tag !== "IpAddress") {
      throw invalid(option, `expected an IP address, got ${OptionCheck.describeValue(address)}`)
    }
    map.set(host.name.toLowerCase(), target.right.address)
  }
  return map
}

const invalid = (option: string, reason: string) => new InvalidOptionError({ option, reason })
