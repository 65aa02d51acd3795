/**
 * Elapsed time for durations local mode prints and reports: read from the monotonic
 * clock, so a wall-clock jump (NTP, a suspended laptop, a manual `date -s`) during a
 * run changes no duration.
 *
 * @module
 */

/** A stopwatch started now: `elapsedMs()` is the monotonic time since, in whole ms. */
export function stopwatch(): { elapsedMs(): number } {
  const start = performance.now();
  return { elapsedMs: () => Math.round(performance.now() - start) };
}
