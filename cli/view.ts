/**
 * One rollout read from the ledger, as the commands and the report show it.
 *
 * @module
 */
import type { ErrorInfo, Host, Rollout, Snapshot } from "../lambdas/common/ledger/index.js";
import type { HostNames } from "../local/format.js";
import type { LedgerHost } from "../local/ledger-view.js";
import type { RolloutReport } from "../local/runner.js";
import type { Backend } from "./backend.js";
import { CliError, EXIT } from "./errors.js";

/** Final rollout statuses: `watch` stops on them. */
export const FINAL_ROLLOUT_STATUSES: readonly string[] = ["SUCCEEDED", "HALTED", "FAILED"];

/** A host of the rollout with what the ledger and the host say about it. */
export interface HostView {
  readonly host: Host;
  /** Readable name (local mode) or the instance id. */
  readonly name: string;
  /** The job snapshot its switch recorded: the old release it may go back to. */
  readonly snapshot?: Snapshot;
  /** Version read on the host (local mode); else what the ledger implies. */
  readonly runningVersion?: string;
}

/** A rollout, its hosts and (local mode) its job figures. */
export interface RolloutView {
  readonly rollout: Rollout;
  readonly hosts: readonly HostView[];
  readonly jobs?: RolloutReport["jobs"];
}

/** `name: message` of a stored error. */
export const describeError = (error: ErrorInfo | undefined): string | undefined =>
  error === undefined ? undefined : `${error.name}: ${error.message}`;

/** A ledger host as local mode's progress lines take it. */
export function toLedgerHost(host: Host): LedgerHost {
  return {
    hostId: host.hostId,
    wave: host.wave,
    status: host.status,
    fromVersion: host.fromVersion,
    toVersion: host.toVersion,
    suspendMs: host.suspendMs,
    listenerGapMs: host.listenerGapMs,
    error: describeError(host.error),
  };
}

/** What `formatProgress` needs of a fleet: the host names. */
export function hostNames(names: ReadonlyMap<string, string>): HostNames {
  return { hosts: [...names].map(([instanceId, computerName]) => ({ instanceId, computerName })) };
}

/**
 * Whether the host's previous release is still there to go back to: on the host while
 * the snapshot's cleanup is pending, gone once the cleanup is done; none after a
 * switch that rolled back (its snapshot is of the release it abandoned).
 */
export function rollbackWindow(snapshot: Snapshot | undefined): string {
  if (snapshot === undefined) return "-";
  if (snapshot.abandoned === true) {
    // The release a rolled-back switch tried: nothing to go back to, only to clean.
    const where = snapshot.cleanup === "DONE" ? "cleaned" : "on host, cleanup pending";
    return `none (${snapshot.oldVersion} abandoned: ${where})`;
  }
  if (snapshot.cleanup === "DONE") {
    return `${snapshot.oldVersion} cleaned (${snapshot.lastResult?.status ?? "DONE"})`;
  }
  const last = snapshot.lastResult;
  const why =
    last === undefined ? "" : `; last check ${last.status}${last.reason ? `: ${last.reason}` : ""}`;
  return `${snapshot.oldVersion} on host (cleanup pending${why})`;
}

/** The version a host runs by the ledger, when it cannot be read on the host. */
function impliedVersion(host: Host): string | undefined {
  if (host.runningVersion !== undefined) return host.runningVersion;
  if (host.status === "UPGRADED" || host.status === "SKIPPED") return host.toVersion;
  return host.fromVersion;
}

/** The most recent rollout's id, when none is named. */
export async function resolveRolloutId(
  backend: Backend,
  named: string | undefined,
): Promise<string> {
  if (named !== undefined) return named;
  const [latest] = await backend.store.listRollouts(1);
  if (latest === undefined) {
    throw new CliError(`no rollouts in the ledger of ${backend.where}`, EXIT.NOT_FOUND);
  }
  return latest.rolloutId;
}

/** Reads `rolloutId` whole: rollout, hosts, snapshots, versions, job figures. */
export async function loadRollout(backend: Backend, rolloutId: string): Promise<RolloutView> {
  const rollout = await backend.store.getRollout(rolloutId);
  if (rollout === undefined) {
    throw new CliError(`unknown rollout ${rolloutId} in ${backend.where}`, EXIT.NOT_FOUND);
  }
  const hosts = await backend.store.listHosts(rolloutId);
  const views: HostView[] = [];
  // A few reads at a time: a fleet of thousands must not open thousands of sockets.
  for (let i = 0; i < hosts.length; i += 16) {
    const batch = hosts.slice(i, i + 16);
    views.push(
      ...(await Promise.all(
        batch.map(async (host): Promise<HostView> => {
          const [snapshot, running] = await Promise.all([
            backend.store.getSnapshot(host.hostId, rolloutId),
            backend.runningVersion(host.hostId),
          ]);
          return {
            host,
            name: backend.hostNames.get(host.hostId) ?? host.hostId,
            ...(snapshot === undefined ? {} : { snapshot }),
            ...((running ?? impliedVersion(host)) === undefined
              ? {}
              : { runningVersion: running ?? impliedVersion(host) }),
          };
        }),
      )),
    );
  }
  const jobs = await backend.jobFigures(rolloutId);
  return { rollout, hosts: views, ...(jobs === undefined ? {} : { jobs }) };
}

/** Milliseconds, or `-`. */
export const ms = (value: number | undefined): string =>
  value === undefined ? "-" : String(value);
