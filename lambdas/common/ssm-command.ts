/**
 * Sending an SSM Run Command to one instance, polling it inline with short adaptive
 * intervals, and turning a finished invocation into a result line or a named error.
 * Shared by host-step and nightly-cleanup.
 *
 * @module
 */
import type { S3Client } from "@aws-sdk/client-s3";
import {
  GetCommandInvocationCommand,
  type GetCommandInvocationCommandOutput,
  SendCommandCommand,
  type SSMClient,
} from "@aws-sdk/client-ssm";
import type { Clock } from "./clock.js";
import { readResultLine } from "./command-output.js";
import {
  CommandOutputError,
  CommandTimedOutError,
  ConfigurationError,
  HostStepFailedError,
  HostUnreachableError,
} from "./errors.js";
import { isVersion } from "./patterns.js";

/** Invocation statuses after which nothing changes any more. */
const TERMINAL_STATUSES = new Set(["Success", "Failed", "Cancelled", "TimedOut"]);
/** StatusDetails meaning the command never ran on the host. */
const UNREACHABLE_DETAILS = new Set(["Undeliverable", "DeliveryTimedOut", "Terminated"]);

/**
 * Shortest interval of the inline polling loop; also how long after sending the first
 * check waits when the send time is known: no command is done (or even delivered)
 * sooner.
 */
export const POLL_INTERVAL_MIN_MS = 100;
/** Longest interval of the inline polling loop. */
export const POLL_INTERVAL_MAX_MS = 1000;
/**
 * Interval between two checks as a fraction of the command's age. A command that
 * ends between two checks waits on average half an interval to be noticed, so the
 * detection lag stays near a tenth of the step's duration whatever that duration is
 * (a doubling schedule lets it reach the whole duration: a 0.75 s step noticed at
 * 1.5 s). The number of checks grows only with the logarithm of the duration: about
 * 18 for a 5 s step, then one a second.
 */
export const POLL_INTERVAL_AGE_FRACTION = 0.2;

/** Wait before the next check of a command sent `ageMs` ago. */
export function pollIntervalMs(ageMs: number): number {
  return Math.min(
    POLL_INTERVAL_MAX_MS,
    Math.max(POLL_INTERVAL_MIN_MS, Math.round(ageMs * POLL_INTERVAL_AGE_FRACTION)),
  );
}

/** A command to send to one instance. */
export interface CommandRequest {
  readonly documentName: string;
  readonly instanceId: string;
  /** Document parameters; each becomes a one-element string array. */
  readonly parameters: Readonly<Record<string, string>>;
  /** Delivery timeout (SendCommand `TimeoutSeconds`). */
  readonly deliveryTimeoutSeconds: number;
  readonly outputBucket: string;
  readonly outputKeyPrefix: string;
  readonly comment: string;
}

/**
 * Sends the command and returns its id. An instance SSM does not know or cannot reach
 * raises {@link HostUnreachableError}; a document or parameter SSM refuses raises
 * {@link ConfigurationError} (the stack and the Lambda disagree).
 */
export async function sendCommand(ssm: SSMClient, request: CommandRequest): Promise<string> {
  try {
    const out = await ssm.send(
      new SendCommandCommand({
        DocumentName: request.documentName,
        InstanceIds: [request.instanceId],
        Parameters: Object.fromEntries(
          Object.entries(request.parameters).map(([name, value]) => [name, [value]]),
        ),
        TimeoutSeconds: request.deliveryTimeoutSeconds,
        OutputS3BucketName: request.outputBucket,
        OutputS3KeyPrefix: request.outputKeyPrefix,
        Comment: request.comment.slice(0, 100),
      }),
    );
    const commandId = out.Command?.CommandId;
    if (commandId === undefined) throw new CommandOutputError("SendCommand returned no CommandId");
    return commandId;
  } catch (error) {
    if (!(error instanceof Error)) throw error;
    if (error.name === "InvalidInstanceId") {
      throw new HostUnreachableError(
        `instance ${request.instanceId} cannot receive commands (${error.name}: ${error.message})`,
      );
    }
    if (
      error.name === "InvalidDocument" ||
      error.name === "InvalidParameters" ||
      error.name === "InvalidOutputFolder" ||
      error.name === "InvalidDocumentVersion"
    ) {
      throw new ConfigurationError(
        `SSM refused document ${request.documentName} (${error.name}: ${error.message})`,
      );
    }
    throw error;
  }
}

/**
 * The invocation of `commandId` on `instanceId`; undefined while SSM has not created
 * it yet (`InvocationDoesNotExist`, usual right after SendCommand).
 */
export async function getInvocation(
  ssm: SSMClient,
  commandId: string,
  instanceId: string,
): Promise<GetCommandInvocationCommandOutput | undefined> {
  try {
    return await ssm.send(
      new GetCommandInvocationCommand({ CommandId: commandId, InstanceId: instanceId }),
    );
  } catch (error) {
    if (error instanceof Error && error.name === "InvocationDoesNotExist") return undefined;
    if (error instanceof Error && error.name === "InvalidInstanceId") {
      throw new HostUnreachableError(`instance ${instanceId}: ${error.message}`);
    }
    throw error;
  }
}

/** Outcome of {@link pollInvocation}. */
export interface PollOutcome {
  /** The finished invocation; undefined when still running at the deadline. */
  readonly invocation?: GetCommandInvocationCommandOutput;
  /** False when SSM never knew the invocation during this poll. */
  readonly exists: boolean;
  /** Last status seen (for logs). */
  readonly lastStatus?: string;
}

/**
 * Polls until the invocation finishes or `deadline` (epoch ms) would be passed, the
 * checks {@link pollIntervalMs} of the command's age apart (100 ms, growing with the
 * age up to 1 s): a command that finishes within a few seconds is noticed within a
 * tenth of its duration on average, without a Wait state round trip. Always checks
 * at least once.
 *
 * @param args.sentAt - when the command was sent (epoch ms). Given, the first check
 *   waits until {@link POLL_INTERVAL_MIN_MS} after it (a command just sent is never
 *   done yet) and the intervals follow the command's real age. Absent, the first check
 *   is immediate and the age counts from this call.
 */
export async function pollInvocation(args: {
  ssm: SSMClient;
  clock: Clock;
  commandId: string;
  instanceId: string;
  deadline: number;
  sentAt?: number;
}): Promise<PollOutcome> {
  const since = args.sentAt ?? args.clock.now();
  let wait =
    args.sentAt === undefined
      ? 0
      : Math.max(0, args.sentAt + POLL_INTERVAL_MIN_MS - args.clock.now());
  let exists = false;
  let checked = false;
  let lastStatus: string | undefined;
  for (;;) {
    if (args.clock.now() + wait > args.deadline) {
      if (checked) return { exists, lastStatus };
    } else if (wait > 0) {
      await args.clock.sleep(wait);
    }
    const invocation = await getInvocation(args.ssm, args.commandId, args.instanceId);
    checked = true;
    if (invocation !== undefined) {
      exists = true;
      lastStatus = invocation.Status;
      if (TERMINAL_STATUSES.has(invocation.Status ?? "")) {
        return { invocation, exists, lastStatus };
      }
    }
    wait = pollIntervalMs(args.clock.now() - since);
  }
}

/** Last `max` characters of a text, for error messages. */
function tail(text: string | undefined, max = 500): string {
  const trimmed = (text ?? "").trim();
  return trimmed.length > max ? `…${trimmed.slice(-max)}` : trimmed;
}

/**
 * The result line of a finished invocation, or the error it stands for:
 * - Success → the line (missing line: {@link CommandOutputError});
 * - Failed → a `FAILED` line becomes {@link HostStepFailedError} with the script's
 *   error (and the `currentVersion` it names, if any); a line whose status is in `resultOnFailure` (ROLLED_BACK, exit 3) is a
 *   result; anything else is {@link HostStepFailedError} with the exit code and stderr;
 * - TimedOut (execution) → {@link CommandTimedOutError};
 * - Undeliverable, DeliveryTimedOut, Terminated → {@link HostUnreachableError};
 * - Cancelled → {@link HostStepFailedError}.
 */
export async function interpretInvocation(args: {
  invocation: GetCommandInvocationCommandOutput;
  s3: S3Client;
  outputBucket: string;
  what: string;
  resultOnFailure?: readonly string[];
}): Promise<Record<string, unknown>> {
  const { invocation, what } = args;
  const status = invocation.Status ?? "";
  const details = invocation.StatusDetails ?? "";
  const instance = invocation.InstanceId ?? "";
  if (UNREACHABLE_DETAILS.has(details)) {
    throw new HostUnreachableError(`${what}: command not run on ${instance} (${details})`);
  }
  if (status === "TimedOut") {
    throw new CommandTimedOutError(
      `${what}: command timed out on ${instance} (${details || status}); stderr: ${tail(invocation.StandardErrorContent)}`,
    );
  }
  if (status === "Cancelled") {
    throw new HostStepFailedError(`${what}: command was cancelled on ${instance}`);
  }
  const result = await readResultLine(invocation, args.s3, args.outputBucket);
  if (status === "Success") {
    if (result === undefined) {
      throw new CommandOutputError(`${what}: succeeded on ${instance} but printed no result line`);
    }
    return result.line;
  }
  // Failed
  const line = result?.line;
  if (line?.status === "FAILED") {
    // A step that failed after its cutover names the release that serves: so does the error.
    const current =
      typeof line.currentVersion === "string" && isVersion(line.currentVersion)
        ? line.currentVersion
        : undefined;
    const serves = current === undefined ? "" : ` (it serves ${current})`;
    throw new HostStepFailedError(
      `${what} failed on ${instance}${serves}: ${String(line.error ?? "")}`,
      current,
    );
  }
  if (line !== undefined && (args.resultOnFailure ?? []).includes(String(line.status))) {
    return line;
  }
  const code = invocation.ResponseCode ?? -1;
  const meaning = code === 2 ? "refused its parameters" : "failed";
  throw new HostStepFailedError(
    `${what} ${meaning} on ${instance} (exit ${code}, ${details || status}); stderr: ${tail(invocation.StandardErrorContent)}`,
  );
}
