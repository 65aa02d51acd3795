/**
 * FinishRollout and RecordRolloutFailure: the rollout's final status, a summary, and
 * the release of the fleet lock and the hosts' leases.
 *
 * @module
 */
import type { Deps } from "../common/deps.js";
import { InvalidLedgerItemError, LedgerConflictError } from "../common/errors.js";
import {
  countByStatus,
  failedHosts,
  type StatusCounts,
  unfinishedHosts,
} from "../common/host-summary.js";
import type { ErrorInfo, HostStatus, Rollout, RolloutStatus } from "../common/ledger/index.js";
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
  /** Number of failed (or never finished, or unreadable) hosts. */
  readonly failedHostCount: number;
  /** The first {@link MAX_LISTED_FAILURES} of them. */
  readonly failedHosts: FailedHostEntry[];
  /** True when this call deleted the lock (false: absent or owned by another rollout). */
  readonly lockReleased: boolean;
  /** Host leases of this rollout this call deleted. */
  readonly leasesReleased: number;
  /**
   * Keys (partition and sort key) of the rollout's items that fail their schema. They never keep the
   * end from being recorded or the lock from being released.
   */
  readonly corrupt: string[];
}

/** The rollout item as finish-rollout could read it. */
type RolloutRead =
  | { readonly found: "valid"; readonly rollout: Rollout; readonly fleet: string }
  /** Fails its schema: only its fleet (if readable) is known. */
  | { readonly found: "corrupt"; readonly key: string; readonly fleet: string | undefined }
  | { readonly found: "absent" };

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
 *
 * A corrupt item never blocks the end: a corrupt rollout item is still finished (the
 * update is conditional on its raw status) and its lock released (its fleet is read
 * alone); a corrupt host item counts as a failed host. Their keys are in `corrupt`.
 */
export async function finishRollout(
  deps: Deps<unknown>,
  event: FinishRolloutEvent,
): Promise<FinishRolloutResult> {
  const log = deps.logger?.child({ rolloutId: event.rolloutId });
  const read = await readRollout(deps, event.rolloutId);
  if (read.found === "absent") {
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
      leasesReleased: 0,
      corrupt: [],
    };
  }
  const corrupt = read.found === "corrupt" ? [read.key] : [];

  try {
    const listing = await deps.store.listHostsSkippingCorrupt(event.rolloutId);
    const hosts = listing.items;
    corrupt.push(...listing.corrupt);
    for (const key of corrupt) log?.error("corrupt ledger item; repair or delete it", { key });
    const counts = countByStatus(hosts);
    const failed = [...failedHosts(hosts), ...unfinishedHosts(hosts)].sort(
      (a, b) => a.wave - b.wave || a.order - b.order,
    );
    const failedHostCount = failed.length + listing.corrupt.length;
    let status: RolloutStatus;
    let error: ErrorInfo | undefined;
    if (event.outcome === "FAILED") {
      status = "FAILED";
      error = errorFromStates(event.error ?? { Error: "States.Unknown" });
    } else if (event.outcome === "HALTED") {
      status = "HALTED";
    } else if (listing.corrupt.length > 0) {
      status = "FAILED";
      error = {
        name: "InvalidLedgerItemError",
        message: `${listing.corrupt.length} host item(s) unreadable: ${listing.corrupt.slice(0, 10).join(", ")}`,
      };
    } else if (failed.length === 0) {
      status = "SUCCEEDED";
    } else {
      status = "FAILED";
      error = {
        name: "HostsFailed",
        message: `${failed.length} of ${hosts.length} hosts did not upgrade`,
      };
    }

    // A corrupt rollout item's status is unknown: the conditional write alone decides.
    const alreadyFinal =
      event.outcome === "FAILED" &&
      read.found === "valid" &&
      FINAL_STATUSES.has(read.rollout.status);
    const recorded =
      !alreadyFinal &&
      (await deps.store.finishRollout({
        rolloutId: event.rolloutId,
        status,
        counts: counts as Record<string, number>,
        error,
        ...haltReasonOf(event),
        now: deps.clock.now(),
        from: ["PLANNED", "RUNNING"],
      }));
    if (alreadyFinal) {
      log?.info("rollout already finished; its status is kept", {
        status: read.rollout.status,
        error,
      });
      status = read.rollout.status;
    } else if (!recorded) {
      log?.warn("rollout already finished with another status", { status });
    }
    const { lockReleased, leasesReleased } = await releaseClaims(deps, read.fleet, event.rolloutId);
    log?.info("rollout finished", { status, counts, failedHostCount });
    if (recorded) {
      deps.metrics?.rolloutFinished({
        status,
        hosts: hosts.length + listing.corrupt.length,
        failedHosts: failedHostCount,
        ...(read.found === "valid"
          ? { durationMs: deps.clock.now() - Date.parse(read.rollout.createdAt) }
          : {}),
      });
    }
    return {
      rolloutId: event.rolloutId,
      status,
      recorded,
      hostCount: hosts.length + listing.corrupt.length,
      counts,
      failedHostCount,
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
      leasesReleased,
      corrupt,
    };
  } catch (error) {
    // Whatever kept the end from being recorded, the lock must not outlive the rollout
    // by its whole TTL: release it, then let the error reach the state machine.
    await releaseClaims(deps, read.fleet, event.rolloutId).catch((releaseError: unknown) => {
      log?.error("could not release the fleet lock and host leases", { error: releaseError });
    });
    throw error;
  }
}

/** The `haltReason` a HALTED finish writes: the reason the state machine passed, if any. */
function haltReasonOf(event: FinishRolloutEvent): { haltReason?: string } {
  return event.outcome === "HALTED" && event.reason !== undefined && event.reason !== ""
    ? { haltReason: event.reason }
    : {};
}

/** Reads the rollout item; a corrupt one is reported with the fleet read alone. */
async function readRollout(deps: Deps<unknown>, rolloutId: string): Promise<RolloutRead> {
  try {
    const rollout = await deps.store.getRollout(rolloutId);
    return rollout === undefined
      ? { found: "absent" }
      : { found: "valid", rollout, fleet: rollout.fleet };
  } catch (error) {
    if (!(error instanceof InvalidLedgerItemError)) throw error;
    const fleet = await deps.store.getRolloutFleet(rolloutId).catch((fleetError: unknown) => {
      if (fleetError instanceof InvalidLedgerItemError) return undefined;
      throw fleetError;
    });
    return { found: "corrupt", key: error.key, fleet };
  }
}

/**
 * Releases what the rollout holds: its hosts' leases (found from the host items' keys,
 * so a corrupt host item's lease too), then the fleet lock. Only this rollout's.
 */
async function releaseClaims(
  deps: Deps<unknown>,
  fleet: string | undefined,
  rolloutId: string,
): Promise<{ lockReleased: boolean; leasesReleased: number }> {
  const log = deps.logger?.child({ rolloutId });
  const hostIds = await deps.store.listHostIds(rolloutId);
  const leasesReleased = await deps.store.releaseLeases(rolloutId, hostIds);
  if (fleet === undefined) {
    // The leases are released; the lock expires with its TTL.
    log?.error("the rollout's fleet is unreadable: its lock is left to expire");
    return { lockReleased: false, leasesReleased };
  }
  const lockReleased = await deps.store.releaseLock(fleet, rolloutId);
  if (!lockReleased) log?.info("fleet lock not held by this rollout; left as it is");
  return { lockReleased, leasesReleased };
}
