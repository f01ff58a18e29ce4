/** How long and how often the loopback measurements run. */
export interface Settings {
  /** Interleaved rounds (A B A B …) whose samples make each median. */
  readonly rounds: number
  /** Run one unrecorded round first (JIT and heap settle). */
  readonly warmUp: boolean
  /** Length of one HTTP load run, in whole seconds (wrk's unit). */
  readonly httpSeconds: number
  /** Length of one `openssl s_time` run, in whole seconds. */
  readonly handshakeSeconds: number
  /** Length of one echo run. */
  readonly echoSeconds: number
}

/** `--quick`: enough to check the harness, in a few seconds per measurement. */
export const settingsFor = (quick: boolean): Settings =>
  quick ?
    { rounds: 2, warmUp: false, httpSeconds: 1, handshakeSeconds: 1, echoSeconds: 0.5 } :
    { rounds: 5, warmUp: true, httpSeconds: 3, handshakeSeconds: 3, echoSeconds: 2 }
