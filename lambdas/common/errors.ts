/**
 * Error classes of the rollout Lambdas. Each sets `name` explicitly (bundlers may
 * rename classes), because Step Functions Retry/Catch rules match on the error name
 * that Lambda reports, which is the thrown error's `name`.
 *
 * @module
 */

/** Common base so callers can tell our errors from SDK and runtime errors. */
export abstract class RolloutError extends Error {
  abstract override readonly name: string;
}

/** The execution input or a task event does not match its schema; the message names the field. */
export class InvalidInputError extends RolloutError {
  override readonly name = "InvalidInputError";
}

/** The input names a profile that is not deployed with the stack. */
export class UnknownProfileError extends RolloutError {
  override readonly name = "UnknownProfileError";
}

/** The host selection resolved to no managed instance. */
export class NoHostsError extends RolloutError {
  override readonly name = "NoHostsError";
}

/** Another rollout holds the fleet lock. */
export class FleetLockedError extends RolloutError {
  override readonly name = "FleetLockedError";

  /**
   * @param message - readable explanation naming the owner and expiry
   * @param owner - rolloutId of the current lock owner
   * @param expiresAt - lock expiry, epoch seconds
   */
  constructor(
    message: string,
    readonly owner: string,
    readonly expiresAt: number,
  ) {
    super(message);
  }
}

/** The function's environment or the deployed resources are not what the code expects. */
export class ConfigurationError extends RolloutError {
  override readonly name = "ConfigurationError";
}

/** A host script reported FAILED, exited non-zero without a result, or its command was cancelled. */
export class HostStepFailedError extends RolloutError {
  override readonly name = "HostStepFailedError";

  /**
   * @param currentVersion - the version the host serves, when the FAILED line names it
   *   (a step that failed after its cutover, or one that left the agent where it was)
   */
  constructor(
    message: string,
    readonly currentVersion?: string,
  ) {
    super(message);
  }
}

/** The command was delivered but did not finish within the document's execution timeout. */
export class CommandTimedOutError extends RolloutError {
  override readonly name = "CommandTimedOutError";
}

/** SSM could not deliver the command: instance offline, unknown or not managed. */
export class HostUnreachableError extends RolloutError {
  override readonly name = "HostUnreachableError";
}

/** The command finished but its result line is missing, malformed or inconsistent. */
export class CommandOutputError extends RolloutError {
  override readonly name = "CommandOutputError";
}

/** A conditional ledger write found the item in an unexpected state. */
export class LedgerConflictError extends RolloutError {
  override readonly name = "LedgerConflictError";
}

/** A ledger item read back (or about to be written) does not match its versioned schema. */
export class InvalidLedgerItemError extends RolloutError {
  override readonly name = "InvalidLedgerItemError";

  /**
   * @param message - names the item's key and the first field that does not match
   * @param key - the item's primary key: partition and sort key, space-separated
   */
  constructor(
    message: string,
    readonly key: string,
  ) {
    super(message);
  }
}

/** A batch write still left items unprocessed after the store's retries (throttling). */
export class LedgerWriteIncompleteError extends RolloutError {
  override readonly name = "LedgerWriteIncompleteError";
}

/**
 * True for the error DynamoDB returns when a ConditionExpression does not hold.
 * Matched by name so it works for every client (and for the mocks in tests).
 */
export function isConditionalCheckFailed(error: unknown): boolean {
  return error instanceof Error && error.name === "ConditionalCheckFailedException";
}

/** `name: message` of anything thrown, for logs and ledger fields. */
export function describeError(error: unknown): { name: string; message: string } {
  if (error instanceof Error) return { name: error.name, message: error.message };
  return { name: "Error", message: String(error) };
}
