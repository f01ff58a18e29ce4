/**
 * A limit on work started from callbacks (a semaphore without fibers): `take` starts the work
 * at once while a slot is free, otherwise queues it; `give` frees the slot for the next in line,
 * first come, first served.
 */
export class Slots {
  #free: number
  /** Starts waiting for a slot, oldest first (a Set keeps insertion order and cancels in O(1)). */
  readonly #waiting = new Set<() => void>()
  #starting = false

  constructor(size: number) {
    this.#free = size
  }

  /** Run `start` once a slot is free (now, if one is); the returned function cancels a wait that has not started. */
  take(start: () => void): () => void {
    this.#waiting.add(start)
    this.#startWaiting()
    return () => void this.#waiting.delete(start)
  }

  /** A slot taken by a started work is free again. */
  give(): void {
    this.#free++
    this.#startWaiting()
  }

  /**
   * Start what waits while slots are free. A loop, not recursion: a start that fails at once gives
   * its slot back from within, and a long queue of those would otherwise nest as deep as it is long.
   */
  #startWaiting(): void {
    if (this.#starting) return
    this.#starting = true
    try {
      while (this.#free > 0 && this.#waiting.size > 0) {
        const next = this.#waiting.values().next().value!
        this.#waiting.delete(next)
        this.#free--
        next()
      }
    } finally {
      this.#starting = false
    }
  }
}
