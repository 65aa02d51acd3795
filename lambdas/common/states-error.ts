/**
 * Errors as Step Functions hands them to a Catch target.
 *
 * @module
 */

import type { ErrorInfo } from "./ledger/index.js";
import type { StatesError } from "./schemas.js";

/** Longest error message kept in the ledger. */
export const MAX_ERROR_MESSAGE = 1000;

/**
 * `{name, message}` from a Step Functions error `{Error, Cause}`. For a Lambda error,
 * `Cause` is the error as JSON (`{"errorType", "errorMessage", "trace"}`); for
 * `States.*` errors it is plain text. The readable message is kept, the trace dropped.
 */
export function errorFromStates(error: StatesError): ErrorInfo {
  const cause = error.Cause ?? "";
  let message = cause;
  try {
    const parsed: unknown = JSON.parse(cause);
    if (typeof parsed === "object" && parsed !== null) {
      const record = parsed as Record<string, unknown>;
      const text = record.errorMessage ?? record.message ?? record.Cause;
      if (typeof text === "string") message = text;
    } else if (typeof parsed === "string") {
      message = parsed;
    }
  } catch {
    // Plain-text cause: kept as it is.
  }
  message = message.trim();
  if (message === "") message = error.Error;
  if (message.length > MAX_ERROR_MESSAGE) message = `${message.slice(0, MAX_ERROR_MESSAGE - 1)}…`;
  return { name: error.Error, message };
}
