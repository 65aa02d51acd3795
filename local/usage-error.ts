/**
 * A bad command-line option: the CLI prints the message and exits with status 2.
 *
 * @module
 */

/** A bad option; the message says which and why. */
export class UsageError extends Error {
  override readonly name = "UsageError";
}
