/**
 * FinishRollout and RecordRolloutFailure: the rollout's final status, a summary, and
 * the release of the fleet lock.
 *
 * @module
 */
import type { Deps } from "../common/deps.js";
import { LedgerConflictError } from "../common/errors.js";
import {
  countByStatus,
  failedHosts,
  type StatusCounts,
  unfinishedHosts,
} from "../common/host-summary.js";
import type { ErrorInfo, HostStatus, RolloutStatus } from "../common/ledger/index.js";
import type { FinishRolloutEvent } from "../common/schemas.js";
import { errorFromStates } from "../common/states-error.js";

/** Statuses a rollout ends in: finish-rollout never moves a rollout out of one. */
const FINAL_STATUSES: ReadonlySet<RolloutStatus> = new Set(["SUCCEEDED", "HALTED", "FAILED"]);

/** Failed hosts listed in the returned payload (all of them are in the ledger). */
export const MAX_LISTED_FAILURES = 50;

/** A host that did not end upgraded, skipped or not started. */
export interface FailedHostEntry {
  readonly hostId: string;
  readonly wave: number;
  readonly status: HostStatus;
  /** `name: message`. */
  readonly reason: string;
}

/** What finish-rollout returns. */
export interface FinishRolloutResult {
  readonly rolloutId: string;
  readonly status: RolloutStatus;
  /** False when there was no rollout item (planning failed): nothing was written. */
  readonly recorded: boolean;
  readonly hostCount: number;
  readonly counts: StatusCounts;
  /** Number of failed (or never finished) hosts. */
  readonly failedHostCount: number;
  /** The first {@link MAX_LISTED_FAILURES} of them. */
  readonly failedHosts: FailedHostEntry[];
  /** True when this call deleted the lock (false: absent or owned by another rollout). */
  readonly lockReleased: boolean;
}

/**
 * Ends a rollout. DONE → SUCCEEDED when no host failed, else FAILED (every wave ran
 * but some hosts did not upgrade); HALTED → HALTED; FAILED (the state machine's
 * failure path) → FAILED with the error. Releases the fleet lock only if this rollout
 * holds it. When the rollout item does not exist, writes nothing.
 *
 * The failure path is idempotent with the finish: it runs after a FinishRollout that
 * failed half-way, and the stopped-execution rule sends it for every FAILED execution,
 * including those whose FinishRollout already wrote SUCCEEDED or HALTED. A final status
 * already written is kept; only the lock is released, if this rollout still holds it.
 */
export async function finishRollout(
  deps: Deps<unknown>,
  event: FinishRolloutEvent,
): Promise<FinishRolloutResult> {
  const log = deps.logger?.child({ rolloutId: event.rolloutId });
  const rollout = await deps.store.getRollout(event.rolloutId);
  if (rollout === undefined) {
    if (event.outcome !== "FAILED") {
      throw new LedgerConflictError(`rollout ${event.rolloutId} is not in the ledger`);
    }
    log?.warn("rollout failed before its ledger was written; nothing to record", {
      error: event.error,
    });
    deps.metrics?.rolloutFinished({ status: "FAILED", hosts: 0, failedHosts: 0 });
    return {
      rolloutId: event.rolloutId,
      status: "FAILED",
      recorded: false,
      hostCount: 0,
      counts: {},
      failedHostCount: 0,
      failedHosts: [],
      lockReleased: false,
    };
  }

  const hosts = await deps.store.listHosts(event.rolloutId);
  const counts = countByStatus(hosts);
  const failed = [...failedHosts(hosts), ...unfinishedHosts(hosts)].sort(
    (a, b) => a.wave - b.wave || a.order - b.order,
  );
  let status: RolloutStatus;
  let error: ErrorInfo | undefined;
  if (event.outcome === "FAILED") {
    status = "FAILED";
    error = errorFromStates(event.error ?? { Error: "States.Unknown" });
  } else if (event.outcome === "HALTED") {
    status = "HALTED";
  } else if (failed.length === 0) {
    status = "SUCCEEDED";
  } else {
    status = "FAILED";
    error = {
      name: "HostsFailed",
      message: `${failed.length} of ${hosts.length} hosts did not upgrade`,
    };
  }

  const alreadyFinal = event.outcome === "FAILED" && FINAL_STATUSES.has(rollout.status);
  const recorded =
    !alreadyFinal &&
    (await deps.store.finishRollout({
      rolloutId: event.rolloutId,
      status,
      counts: counts as Record<string, number>,
      error,
      now: deps.clock.now(),
      from: ["PLANNED", "RUNNING"],
    }));
  if (alreadyFinal) {
    log?.info("rollout already finished; its status is kept", { status: rollout.status, error });
    status = rollout.status;
  } else if (!recorded) {
    log?.warn("rollout already finished with another status", { status });
  }
  const lockReleased = await deps.store.releaseLock(rollout.fleet, event.rolloutId);
  if (!lockReleased) log?.info("fleet lock not held by this rollout; left as it is");
  log?.info("rollout finished", { status, counts, failedHostCount: failed.length });
  if (recorded) {
    const durationMs = deps.clock.now() - Date.parse(rollout.createdAt);
    deps.metrics?.rolloutFinished({
      status,
      hosts: hosts.length,
      failedHosts: failed.length,
      durationMs,
    });
  }
  return {
    rolloutId: event.rolloutId,
    status,
    recorded,
    hostCount: hosts.length,
    counts,
    failedHostCount: failed.length,
    failedHosts: failed.slice(0, MAX_LISTED_FAILURES).map((host) => ({
      hostId: host.hostId,
      wave: host.wave,
      status: host.status,
      reason:
        host.error === undefined
          ? `never finished (left ${host.status})`
          : `${host.error.name}: ${host.error.message}`,
    })),
    lockReleased,
  };
}
