import { RollbackInputSchema } from "../../lambdas/common/schemas.js";
import type { Backend } from "../backend.js";
import { InvalidInputError } from "../start-input.js";
import type { CommandIo } from "./io.js";
import { startExecution } from "./start.js";

/** Options of {@link rollbackCommand}. */
export interface RollbackArgs {
  /** The rollout to roll back. */
  readonly target: string;
  /** The rollback's own rollout id (its execution name). */
  readonly rolloutId?: string;
  readonly dryRun: boolean;
  readonly breakLock?: string;
  readonly watch: boolean;
  readonly jobsPerHost: number;
  readonly signal?: AbortSignal;
}

/**
 * `rollback ROLLOUT`: starts a rollout whose execution input is
 * `{"rollback": "ROLLOUT"}`: every host ROLLOUT upgraded returns to the release it ran
 * before, in ROLLOUT's waves and under its thresholds. Exit codes as `start`.
 */
export async function rollbackCommand(
  backend: Backend,
  args: RollbackArgs,
  io: CommandIo,
): Promise<number> {
  const input = {
    rollback: args.target,
    ...(args.dryRun ? { dryRun: true } : {}),
    ...(args.breakLock === undefined ? {} : { breakLock: args.breakLock }),
  };
  const checked = RollbackInputSchema.safeParse(input);
  if (!checked.success) {
    const issue = checked.error.issues[0];
    const field = issue?.path[0] === "rollback" ? "ROLLOUT" : `--${String(issue?.path[0])}`;
    throw new InvalidInputError([`${field}: ${issue?.message ?? "invalid"}`]);
  }
  return startExecution(backend, input, args, io);
}
