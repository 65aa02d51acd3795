/**
 * Time source of the domain functions, injectable so tests run polling loops and
 * backoffs without real waiting; and the one ISO-time formatter.
 *
 * @module
 */

/** Current time and waiting. */
export interface Clock {
  /** Epoch milliseconds. */
  now(): number;
  /** Resolves after `ms` milliseconds. */
  sleep(ms: number): Promise<void>;
}

/** The real clock. */
export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

/** ISO-8601 (UTC, milliseconds) of epoch milliseconds, as the ledger records times. */
export const isoTime = (ms: number): string => new Date(ms).toISOString();
