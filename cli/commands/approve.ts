import { LedgerConflictError } from "../../lambdas/common/errors.js";
import { type ApprovalDecision, decideApproval } from "../../lambdas/evaluate-wave/approval.js";
import type { Backend } from "../backend.js";
import { CliError, EXIT } from "../errors.js";
import type { CommandIo } from "./io.js";

/** Options of {@link approvalCommand}. */
export interface ApprovalArgs {
  readonly rolloutId: string;
  readonly decision: ApprovalDecision;
  /** `reject --reason TEXT`: the cause of the execution's `ApprovalRejected`. */
  readonly reason?: string;
}

/** Step Functions' answers to a token whose task no longer waits. */
const CLOSED_TASK_ERRORS = new Set(["TaskTimedOut", "TaskDoesNotExist", "InvalidToken"]);

/**
 * `approve ROLLOUT` / `reject ROLLOUT [--reason TEXT]`: answers the approval gate the
 * rollout's execution waits on, with the task token recorded on the rollout item
 * (decideApproval: SendTaskSuccess, or SendTaskFailure `ApprovalRejected` with the
 * reason as its cause). 0 when answered; 1 refused (the rollout's execution no longer
 * runs, or it waits for no approval); 3 no such rollout.
 */
export async function approvalCommand(
  backend: Backend,
  args: ApprovalArgs,
  io: CommandIo,
): Promise<number> {
  const { rolloutId, decision } = args;
  const rollout = await backend.store.getRollout(rolloutId);
  if (rollout === undefined) {
    throw new CliError(`rollout ${rolloutId} not found on ${backend.where}`, EXIT.NOT_FOUND);
  }
  const execution = await backend.executionState(rolloutId);
  if (execution !== "RUNNING") {
    const state = execution === "NOT_FOUND" ? "has no execution" : `ended ${execution}`;
    io.out(`refused: rollout ${rolloutId} (${rollout.status}) ${state}: no approval to answer`);
    return EXIT.FAILED;
  }
  let wave: number;
  try {
    ({ wave } = await decideApproval(
      { store: backend.store, sfn: backend.taskTokens },
      rolloutId,
      decision,
      args.reason,
    ));
  } catch (error) {
    if (error instanceof LedgerConflictError) {
      io.out(`refused: ${error.message}`);
      return EXIT.FAILED;
    }
    if (error instanceof Error && CLOSED_TASK_ERRORS.has(error.name)) {
      const after = rollout.approval === undefined ? "" : ` after wave ${rollout.approval.wave}`;
      io.out(
        `refused: rollout ${rolloutId} is not waiting for an approval: the approval${after} ` +
          `was answered already or timed out (${error.name})`,
      );
      return EXIT.FAILED;
    }
    throw error;
  }
  io.out(
    decision === "approve"
      ? `rollout ${rolloutId}: approved after wave ${wave}; the next wave starts`
      : `rollout ${rolloutId}: rejected after wave ${wave} (${args.reason ?? "no reason given"}); the rollout halts`,
  );
  return EXIT.OK;
}
