/**
 * RecordStoppedServing / RecordVerifyFailure: an upgraded host that the verification
 * of its wave found not serving (after the wave, or after its bake) is a failure
 * toward the threshold, rolled back when its previous release was still there.
 *
 * @module
 */
import type { Deps } from "../common/deps.js";
import { STOPPED_SERVING_ERROR, UNVERIFIED_ERROR } from "../common/host-summary.js";
import type { ErrorInfo, HostStatus } from "../common/ledger/index.js";
import type { RecordHostEvent } from "../common/schemas.js";
import { errorFromStates, MAX_ERROR_MESSAGE } from "../common/states-error.js";
import type { RecordHostResult } from "./record-host.js";

type VerificationEvent = Extract<
  RecordHostEvent,
  { outcome: "stoppedServing" } | { outcome: "unverified" }
>;

/** What the ledger records for a host the verification failed. */
export interface VerificationFailure {
  readonly status: HostStatus;
  readonly error: ErrorInfo;
  /** The version the host runs after its rollback. */
  readonly runningVersion?: string;
}

/**
 * Moves the UPGRADED host to ROLLED_BACK (its rollback brought its previous release
 * back) or FAILED (nothing to go back to, the rollback failed, or the host could not
 * be verified), and adds one to the rollout's `failedCount` on that transition only,
 * so a repeated call counts once. A host no longer UPGRADED is left as it is. A host
 * rolled back runs its old release again: the cleanup its switch left pending (delete
 * that release once its jobs ended) is closed, or it would be kept every night.
 */
export async function recordVerificationFailure(
  deps: Deps<unknown>,
  event: VerificationEvent,
): Promise<RecordHostResult> {
  const { host } = event;
  const failure = verificationFailure(event);
  const now = deps.clock.now();
  const result = await deps.store.failUpgradedHost({ key: host, ...failure, now });
  const log = deps.logger?.child({ rolloutId: host.rolloutId, hostId: host.hostId });
  if (!result.transitioned) {
    log?.warn("host no longer UPGRADED; nothing recorded", {
      status: result.status,
      requested: failure.status,
    });
    return { hostId: host.hostId, status: result.status };
  }
  await deps.store.incrementFailedCount(host.rolloutId, now);
  if (failure.status === "ROLLED_BACK") {
    await deps.store.completeCleanup({
      hostId: host.hostId,
      rolloutId: host.rolloutId,
      result: {
        status: "NOT_NEEDED",
        reason: "the host was rolled back to this release after it stopped serving the new one",
      },
      now,
    });
  }
  log?.info("upgraded host failed its verification", { ...failure });
  deps.metrics?.hostFinished(failure.status);
  return { hostId: host.hostId, status: failure.status };
}

/** The status, error and running version a failed verification leaves. */
export function verificationFailure(event: VerificationEvent): VerificationFailure {
  if (event.outcome === "unverified") {
    const cause = errorFromStates(event.error);
    return {
      status: "FAILED",
      error: {
        name: UNVERIFIED_ERROR,
        message: cut(
          `could not verify that it still serves after the switch: ${cause.name}: ${cause.message}`,
        ),
      },
    };
  }
  const why = text(event.verify.summary?.reason) ?? "its health check fails";
  const stopped = `stopped serving after the switch: ${why}`;
  const rollback = event.revert;
  if (event.revertError !== undefined) {
    const cause = errorFromStates(event.revertError);
    return failed(`${stopped}; rollback failed: ${cause.name}: ${cause.message}`);
  }
  if (rollback?.done === true && rollback.status === "ROLLED_BACK") {
    const version = text(rollback.summary?.currentVersion) ?? text(rollback.summary?.toVersion);
    return {
      status: "ROLLED_BACK",
      error: {
        name: STOPPED_SERVING_ERROR,
        message: cut(`${stopped}; rolled back to ${version ?? "its previous release"}`),
      },
      ...(version === undefined ? {} : { runningVersion: version }),
    };
  }
  const reason =
    text(rollback?.summary?.reason) ?? `rollback ended ${rollback?.status ?? "unknown"}`;
  return failed(`${stopped}; not rolled back: ${reason}`);
}

function failed(message: string): VerificationFailure {
  return { status: "FAILED", error: { name: STOPPED_SERVING_ERROR, message: cut(message) } };
}

const text = (value: unknown): string | undefined =>
  typeof value === "string" && value !== "" ? value : undefined;

const cut = (message: string): string =>
  message.length > MAX_ERROR_MESSAGE ? `${message.slice(0, MAX_ERROR_MESSAGE - 1)}…` : message;
