/**
 * Exit codes and the errors the CLI turns into one line on stderr (never a stack trace).
 *
 * @module
 */

/** Exit codes of `agent-rollout` (README, "CLI"). */
export const EXIT = {
  /** Done; for start/watch, the rollout succeeded. */
  OK: 0,
  /** The rollout did not succeed, a cleanup failed on a host, an unlock was refused, or AWS failed. */
  FAILED: 1,
  /** Bad command line or execution input: nothing was started or changed. */
  USAGE: 2,
  /** What was named is not there: stack, stack output, rollout, local work dir. */
  NOT_FOUND: 3,
  /** No AWS credentials, or they may not do what the command needs. */
  NO_ACCESS: 4,
  /** Interrupted (Ctrl-C). */
  INTERRUPTED: 130,
} as const;

/** An error the CLI reports as its message alone, exiting with `exitCode`. */
export class CliError extends Error {
  override readonly name = "CliError";
  constructor(
    message: string,
    readonly exitCode: number = EXIT.FAILED,
  ) {
    super(message);
  }
}

const ACCESS_ERRORS = new Set([
  "CredentialsProviderError",
  "UnrecognizedClientException",
  "InvalidClientTokenId",
  "ExpiredToken",
  "ExpiredTokenException",
  "AccessDenied",
  "AccessDeniedException",
  "InvalidSignatureException",
  "SignatureDoesNotMatch",
]);

/** An AWS SDK error as one line and an exit code; undefined for anything else. */
export function describeAwsError(error: unknown): CliError | undefined {
  if (!(error instanceof Error)) return undefined;
  const { name, message } = error;
  if (name === "CredentialsProviderError") {
    return new CliError(
      "no AWS credentials: set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (or use --local DIR)",
      EXIT.NO_ACCESS,
    );
  }
  if (ACCESS_ERRORS.has(name))
    return new CliError(`AWS refused: ${name}: ${message}`, EXIT.NO_ACCESS);
  if ((error as { $metadata?: unknown }).$metadata !== undefined) {
    return new CliError(`AWS error: ${name}: ${message}`, EXIT.FAILED);
  }
  return undefined;
}
