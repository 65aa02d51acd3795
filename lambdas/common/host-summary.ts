/**
 * Counting a rollout's hosts by status from their ledger items: the host items are
 * the authority on outcomes (the rollout's `failedCount` is a fast copy for the
 * preflight gate).
 *
 * @module
 */
import {
  ACTIVE_HOST_STATUSES,
  FAILURE_HOST_STATUSES,
  type Host,
  type HostStatus,
} from "./ledger/index.js";

/** Number of hosts per status (statuses with no host are absent). */
export type StatusCounts = Partial<Record<HostStatus, number>>;

/** Counts hosts per status. */
export function countByStatus(hosts: readonly Host[]): StatusCounts {
  const counts: StatusCounts = {};
  for (const host of hosts) counts[host.status] = (counts[host.status] ?? 0) + 1;
  return counts;
}

/** Hosts that ended ROLLED_BACK or FAILED. */
export function failedHosts(hosts: readonly Host[]): Host[] {
  return hosts.filter((host) => FAILURE_HOST_STATUSES.includes(host.status));
}

/** Hosts still in a non-final status (their item processor never recorded them). */
export function unfinishedHosts(hosts: readonly Host[]): Host[] {
  return hosts.filter((host) => ACTIVE_HOST_STATUSES.includes(host.status));
}

/** Error name of an upgraded host its wave's verification found not serving. */
export const STOPPED_SERVING_ERROR = "StoppedServing";
/** Error name of an upgraded host whose verification could not run. */
export const UNVERIFIED_ERROR = "Unverified";

/** Hosts that failed their wave's verification after their switch (not serving, or unverifiable). */
export function failedVerification(hosts: readonly Host[]): Host[] {
  return hosts.filter(
    (host) => host.error?.name === STOPPED_SERVING_ERROR || host.error?.name === UNVERIFIED_ERROR,
  );
}
