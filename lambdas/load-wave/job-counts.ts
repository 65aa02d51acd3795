/**
 * How many jobs each host runs, asked at once: the preflight document with
 * `mode=jobCount` (read-only, lock-free) sent to up to 50 hosts per SendCommand, the
 * answers read with ListCommandInvocations (`Details`: each plugin's output) until all
 * are in or the deadline passes. A host that does not answer in time, cannot receive
 * the command or fails it is reported with the reason, never an error: the order then
 * puts it last.
 *
 * @module
 */
import {
  type CommandInvocation,
  paginateListCommandInvocations,
  SendCommandCommand,
  type SSMClient,
} from "@aws-sdk/client-ssm";
import type { Clock } from "../common/clock.js";
import { findResultDigest, lastLineSha256, parseLastJsonLine } from "../common/command-output.js";
import { JobCountResultSchema } from "../common/schemas.js";

/** SendCommand takes at most 50 InstanceIds. */
export const MAX_INSTANCES_PER_COMMAND = 50;
/** Wait between two reads of the answers. */
export const JOB_COUNT_POLL_MS = 1000;

/** A host's answer: its job count, or why there is none. */
export type JobCount = { readonly jobCount: number } | { readonly reason: string };

/** What {@link countJobs} sends. */
export interface JobCountRequest {
  readonly documentName: string;
  readonly instanceIds: readonly string[];
  /** The preflight document's parameters besides `mode`. */
  readonly parameters: { profile: string; targetVersion: string; rolloutId: string };
  /** Epoch ms after which hosts still silent are given up. */
  readonly deadline: number;
}

/** Statuses after which an invocation no longer changes. */
const FINISHED = new Set(["Success", "Failed", "Cancelled", "TimedOut"]);
/** What the agent puts between stdout and stderr in a plugin's `Output`. */
const STDERR_TITLE = "\n----------ERROR-------\n";

/** Asks every host of `request` for its job count; one entry per instance id. */
export async function countJobs(
  deps: { readonly ssm: SSMClient; readonly clock: Clock },
  request: JobCountRequest,
): Promise<Map<string, JobCount>> {
  const counts = new Map<string, JobCount>();
  const commands: { commandId: string; instanceIds: readonly string[] }[] = [];
  for (let at = 0; at < request.instanceIds.length; at += MAX_INSTANCES_PER_COMMAND) {
    const batch = request.instanceIds.slice(at, at + MAX_INSTANCES_PER_COMMAND);
    commands.push(...(await send(deps.ssm, request, batch, counts)));
  }
  let pending = commands;
  while (pending.length > 0) {
    const next: typeof pending = [];
    for (const command of pending) {
      for (const invocation of await invocations(deps.ssm, command.commandId)) {
        const id = invocation.InstanceId;
        if (id !== undefined && FINISHED.has(invocation.Status ?? "")) {
          counts.set(id, answerOf(invocation));
        }
      }
      if (command.instanceIds.some((id) => !counts.has(id))) next.push(command);
    }
    pending = next;
    if (pending.length === 0 || deps.clock.now() + JOB_COUNT_POLL_MS > request.deadline) break;
    await deps.clock.sleep(JOB_COUNT_POLL_MS);
  }
  for (const id of request.instanceIds) {
    if (!counts.has(id)) counts.set(id, { reason: "did not answer in time" });
  }
  return counts;
}

/**
 * Sends one command to `batch`. SSM refuses the whole request when one instance
 * cannot receive commands (InvalidInstanceId): the batch is then sent host by host,
 * so that one unreachable host leaves the others counted.
 */
async function send(
  ssm: SSMClient,
  request: JobCountRequest,
  batch: readonly string[],
  counts: Map<string, JobCount>,
): Promise<{ commandId: string; instanceIds: readonly string[] }[]> {
  try {
    const out = await ssm.send(
      new SendCommandCommand({
        DocumentName: request.documentName,
        InstanceIds: [...batch],
        Parameters: {
          profile: [request.parameters.profile],
          targetVersion: [request.parameters.targetVersion],
          rolloutId: [request.parameters.rolloutId],
          mode: ["jobCount"],
        },
        // All at once, and no host's failure stops the others'.
        MaxConcurrency: String(MAX_INSTANCES_PER_COMMAND),
        MaxErrors: String(MAX_INSTANCES_PER_COMMAND),
        TimeoutSeconds: 30,
        Comment: `agent-rollout ${request.parameters.rolloutId} job count`.slice(0, 100),
      }),
    );
    const commandId = out.Command?.CommandId;
    if (commandId === undefined) throw new Error("SendCommand returned no CommandId");
    return [{ commandId, instanceIds: batch }];
  } catch (error) {
    if (!(error instanceof Error) || error.name !== "InvalidInstanceId") throw error;
    if (batch.length === 1) {
      counts.set(batch[0] as string, { reason: `cannot receive commands (${error.name})` });
      return [];
    }
    const sent = [];
    for (const id of batch) sent.push(...(await send(ssm, request, [id], counts)));
    return sent;
  }
}

/** Every invocation of `commandId`, with its plugins' output. */
async function invocations(ssm: SSMClient, commandId: string): Promise<CommandInvocation[]> {
  const all: CommandInvocation[] = [];
  for await (const page of paginateListCommandInvocations(
    { client: ssm },
    { CommandId: commandId, Details: true },
  )) {
    all.push(...(page.CommandInvocations ?? []));
  }
  return all;
}

/** The count a finished invocation reports, or why it reports none. */
function answerOf(invocation: CommandInvocation): JobCount {
  if (invocation.Status !== "Success") {
    return { reason: `count ${invocation.StatusDetails ?? invocation.Status ?? "failed"}` };
  }
  const output = invocation.CommandPlugins?.[0]?.Output ?? "";
  const stdout = output.split(STDERR_TITLE)[0] ?? "";
  const line = parseLastJsonLine(stdout);
  // The result line must be the one its integrity line announced, whole.
  if (line === undefined || findResultDigest(stdout) !== lastLineSha256(stdout)) {
    return { reason: "printed no job count" };
  }
  const parsed = JobCountResultSchema.safeParse(line);
  return parsed.success ? { jobCount: parsed.data.jobCount } : { reason: "printed no job count" };
}
