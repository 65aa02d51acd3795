import { RolloutIdSchema } from "../../lambdas/common/schemas.js";
import { formatSummary } from "../../local/format.js";
import type { Backend } from "../backend.js";
import { EXIT } from "../errors.js";
import {
  type InputFlags,
  InvalidInputError,
  newRolloutId,
  rawInput,
  validateInput,
} from "../start-input.js";
import type { CommandIo } from "./io.js";
import { watchRollout } from "./watch.js";

/** Options of {@link startCommand}. */
export interface StartArgs {
  readonly flags: InputFlags;
  readonly rolloutId?: string;
  /** AWS: follow the rollout until it ends (local mode always does). */
  readonly watch: boolean;
  readonly jobsPerHost: number;
  readonly signal?: AbortSignal;
}

/**
 * `start`: validates the input locally (nothing is started on a bad one), then starts
 * the execution. AWS: prints the rollout id and the console URL, and returns (or
 * watches with `--watch`). Local mode: runs the rollout to its end in this process,
 * printing progress, then the summary. 0 when started (AWS) or succeeded.
 */
export async function startCommand(
  backend: Backend,
  args: StartArgs,
  io: CommandIo,
): Promise<number> {
  const raw = await rawInput(args.flags);
  validateInput(raw);
  return startExecution(backend, raw, args, io);
}

/**
 * Starts the execution of a validated input (a rollout's, or a rollback's) under
 * `args.rolloutId` (default: a new id), then reports as {@link startCommand} says.
 */
export async function startExecution(
  backend: Backend,
  raw: Record<string, unknown>,
  args: Omit<StartArgs, "flags">,
  io: CommandIo,
): Promise<number> {
  const rolloutId = args.rolloutId ?? newRolloutId(new Date(io.now()));
  const id = RolloutIdSchema.safeParse(rolloutId);
  if (!id.success) throw new InvalidInputError([`--rollout-id: ${id.error.issues[0]?.message}`]);
  io.out(`Starting rollout ${rolloutId} on ${backend.where}`);
  const started = await backend.startRollout(raw, rolloutId, {
    say: io.out,
    jobsPerHost: args.jobsPerHost,
    signal: args.signal,
  });
  if (started.report !== undefined) {
    io.out("");
    io.out(formatSummary(started.report));
    return started.report.status === "SUCCEEDED" ? EXIT.OK : EXIT.FAILED;
  }
  io.out(`Rollout id: ${rolloutId}`);
  if (started.executionArn) io.out(`Execution:  ${started.executionArn}`);
  if (started.consoleUrl) io.out(`Console:    ${started.consoleUrl}`);
  if (!args.watch) return EXIT.OK;
  return watchRollout(backend, rolloutId, io, { intervalMs: backend.pollMs });
}
