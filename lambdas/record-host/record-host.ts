/**
 * RecordHostResult / RecordHostFailure: the final status of one host.
 *
 * @module
 */
import { ALARM_GATE_ERROR } from "../common/alarms.js";
import type { Deps } from "../common/deps.js";
import { InvalidInputError } from "../common/errors.js";
import { type ErrorInfo, FAILURE_HOST_STATUSES, type HostStatus } from "../common/ledger/index.js";
import type { RecordHostEvent, StepState } from "../common/schemas.js";
import { errorFromStates } from "../common/states-error.js";
import { recordVerificationFailure } from "./stopped-serving.js";

/** What record-host returns. */
export interface RecordHostResult {
  readonly hostId: string;
  /** The host's final status in the ledger (the one found, when a retry arrives late). */
  readonly status: HostStatus;
}

/**
 * Moves the host to its final status. A host that ends ROLLED_BACK or FAILED adds one
 * to the rollout's `failedCount`, only on the transition into that status (the
 * transition is conditional), so a repeated call counts once. An upgraded host that
 * its wave's verification found not serving goes to {@link recordVerificationFailure}.
 */
export async function recordHost(
  deps: Deps<unknown>,
  event: RecordHostEvent,
): Promise<RecordHostResult> {
  if (event.outcome === "stoppedServing" || event.outcome === "unverified") {
    return recordVerificationFailure(deps, event);
  }
  const { host } = event;
  const outcome =
    event.outcome === "result"
      ? finalStatus(event)
      : { status: "FAILED" as const, error: errorFromStates(event.error) };
  const now = deps.clock.now();
  const result = await deps.store.finalizeHost({
    key: host,
    status: outcome.status,
    error: outcome.error,
    now,
  });
  const log = deps.logger?.child({ rolloutId: host.rolloutId, hostId: host.hostId });
  if (!result.transitioned) {
    log?.warn("host already final; nothing recorded", {
      status: result.status,
      requested: outcome.status,
    });
    return { hostId: host.hostId, status: result.status };
  }
  if (FAILURE_HOST_STATUSES.includes(outcome.status)) {
    await deps.store.incrementFailedCount(host.rolloutId, now);
  }
  log?.info("host recorded", { status: outcome.status, error: outcome.error });
  deps.metrics?.hostFinished(outcome.status);
  return { hostId: host.hostId, status: outcome.status };
}

/** Final status from the step states the item processor collected. */
export function finalStatus(event: Extract<RecordHostEvent, { outcome: "result" }>): {
  status: HostStatus;
  error?: ErrorInfo;
} {
  if (event.mode === "rollback") return rollbackStatus(event.rollback);
  if (event.preflight?.status === "HALTED")
    return alarmGateStop(event.preflight) ?? { status: "NOT_STARTED" };
  if (event.preflight?.done === true && event.preflight.status === "SKIPPED") {
    return { status: "SKIPPED" };
  }
  const step: StepState | undefined = event.switch;
  if (step?.done === true && (step.status === "SWITCHED" || step.status === "UNCHANGED")) {
    return suspendWindowExceeded(step) ?? { status: "UPGRADED" };
  }
  if (step?.done === true && step.status === "ROLLED_BACK") {
    const reason = step.summary?.reason;
    return {
      status: "ROLLED_BACK",
      error: {
        name: "RolledBack",
        message:
          typeof reason === "string" && reason !== ""
            ? reason
            : "the new release failed its health check; the previous release was restored",
      },
    };
  }
  throw new InvalidInputError(
    `switch: a result needs a finished switch (SWITCHED, UNCHANGED or ROLLED_BACK) or a preflight SKIPPED/HALTED; got preflight ${event.preflight?.status ?? "none"}, switch ${step?.status ?? "none"}`,
  );
}

/**
 * Final status of a host of a whole-rollout rollback: back on the release it ran
 * before (ROLLED_BACK, or UNCHANGED: already there) is UPGRADED, to the rollback's
 * target; a host the step left alone (its previous release cleaned, another version
 * running) is SKIPPED with the reason as `LeftAlone`, which is no failure.
 */
export function rollbackStatus(step: StepState | undefined): {
  status: HostStatus;
  error?: ErrorInfo;
} {
  if (step?.status === "HALTED") return alarmGateStop(step) ?? { status: "NOT_STARTED" };
  if (step?.done === true && (step.status === "ROLLED_BACK" || step.status === "UNCHANGED")) {
    return suspendWindowExceeded(step) ?? { status: "UPGRADED" };
  }
  if (step?.done === true && step.status === "SKIPPED") {
    const reason = step.summary?.reason;
    return {
      status: "SKIPPED",
      error: {
        name: LEFT_ALONE_ERROR,
        message: typeof reason === "string" && reason !== "" ? reason : "left alone",
      },
    };
  }
  throw new InvalidInputError(
    `rollback: a result needs a finished rollback (ROLLED_BACK, UNCHANGED or SKIPPED) or HALTED; got ${step?.status ?? "none"}`,
  );
}

/** Error name on a host a whole-rollout rollback left alone (SKIPPED, not a failure). */
export const LEFT_ALONE_ERROR = "LeftAlone";

/**
 * The suspend-window gate: a switch that kept the jobs suspended longer than the
 * rollout's `maxSuspendMs` (host-step puts it in the summary as `suspendLimitMs`)
 * fails the host, which counts toward the failure threshold. The host stays on the new
 * release: the switch already happened; the gate stops the rollout before the rest of
 * the fleet feels the same pause.
 */
export function suspendWindowExceeded(
  step: StepState,
): { status: HostStatus; error: ErrorInfo } | undefined {
  const measured = step.summary?.suspendMs;
  const limit = step.summary?.suspendLimitMs;
  if (typeof measured !== "number" || typeof limit !== "number" || measured <= limit) {
    return undefined;
  }
  return {
    status: "FAILED",
    error: {
      name: "SuspendWindowExceeded",
      message: `jobs were suspended for ${measured} ms, over the limit maxSuspendMs ${limit} ms; the host stays on the new release`,
    },
  };
}

/**
 * A host the alarm gate held back: NOT_STARTED, with the alarm named, so EvaluateWave
 * halts the rollout even if the alarm has cleared by the wave's end.
 */
function alarmGateStop(preflight: StepState): { status: HostStatus; error: ErrorInfo } | undefined {
  const reason = preflight.summary?.reason;
  if (typeof reason !== "string" || !reason.startsWith("alarm ")) return undefined;
  return { status: "NOT_STARTED", error: { name: ALARM_GATE_ERROR, message: reason } };
}
