/**
 * The approval gate: the execution waits on a task token after the waves of
 * `approval.afterWaves`. RecordApprovalToken (this function, `.waitForTaskToken`)
 * records the token on the rollout item; an operator answers with
 * {@link decideApproval}, which reads it back and calls SendTaskSuccess or
 * SendTaskFailure (`ApprovalRejected`, the reason as the cause).
 *
 * @module
 */
import {
  SendTaskFailureCommand,
  SendTaskSuccessCommand,
  type SFNClient,
} from "@aws-sdk/client-sfn";
import type { Deps } from "../common/deps.js";
import { LedgerConflictError } from "../common/errors.js";
import type { LedgerStore } from "../common/ledger/index.js";
import type { ApprovalTokenEvent } from "../common/schemas.js";

/** Error the execution's approval task fails with when an operator rejects it. */
export const APPROVAL_REJECTED_ERROR = "ApprovalRejected";

/** What RecordApprovalToken returns (the execution goes on waiting for the token). */
export interface ApprovalTokenResult {
  readonly rolloutId: string;
  readonly wave: number;
  readonly recorded: boolean;
}

/**
 * Records the task token the execution waits on. A rollout no longer RUNNING (an
 * operator's stop) cannot be approved: refused with {@link LedgerConflictError}, so
 * the execution fails instead of waiting out the timeout.
 */
export async function recordApprovalToken(
  deps: Deps<unknown>,
  event: ApprovalTokenEvent,
): Promise<ApprovalTokenResult> {
  const recorded = await deps.store.recordApprovalRequest(
    event.rolloutId,
    { wave: event.wave, taskToken: event.taskToken },
    deps.clock.now(),
  );
  if (!recorded) {
    throw new LedgerConflictError(
      `rollout ${event.rolloutId} is not RUNNING: no approval can be awaited`,
    );
  }
  deps.logger?.info("approval awaited", { rolloutId: event.rolloutId, wave: event.wave });
  return { rolloutId: event.rolloutId, wave: event.wave, recorded };
}

/** What {@link decideApproval} needs: the ledger and Step Functions. */
export interface ApprovalDeps {
  readonly store: Pick<LedgerStore, "getRollout">;
  readonly sfn: Pick<SFNClient, "send">;
}

/** An operator's answer. */
export type ApprovalDecision = "approve" | "reject";

/**
 * Answers the approval a rollout waits for: SendTaskSuccess (the next wave starts) or
 * SendTaskFailure with `ApprovalRejected` and `reason` (the rollout halts, the reason
 * on the rollout item and in the execution's cause). Needs `states:SendTaskSuccess`
 * and `states:SendTaskFailure` (README, "Approving a rollout").
 */
export async function decideApproval(
  deps: ApprovalDeps,
  rolloutId: string,
  decision: ApprovalDecision,
  reason?: string,
): Promise<{ wave: number }> {
  const rollout = await deps.store.getRollout(rolloutId);
  if (rollout === undefined)
    throw new LedgerConflictError(`rollout ${rolloutId} is not in the ledger`);
  const approval = rollout.approval;
  if (approval === undefined || rollout.status !== "RUNNING") {
    throw new LedgerConflictError(
      `rollout ${rolloutId} (${rollout.status}) is not waiting for an approval`,
    );
  }
  const taskToken = approval.taskToken;
  if (decision === "approve") {
    await deps.sfn.send(
      new SendTaskSuccessCommand({
        taskToken,
        output: JSON.stringify({ decision: "approved", wave: approval.wave }),
      }),
    );
  } else {
    await deps.sfn.send(
      new SendTaskFailureCommand({
        taskToken,
        error: APPROVAL_REJECTED_ERROR,
        cause: (reason ?? "no reason given").slice(0, 32_768),
      }),
    );
  }
  return { wave: approval.wave };
}
