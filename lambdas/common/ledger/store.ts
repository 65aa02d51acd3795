/**
 * The {@link LedgerStore} interface: what the handlers read and write, in domain
 * values. The store builds its own items (keys, chunks, index fields) from them.
 *
 * Every write that a retry may repeat is conditional on the state the writer
 * expects, so a repeat either does nothing or is recognised as a repeat. There are
 * no transactions (local mode's dynalite lacks them): multi-item writes are ordered
 * so that a crash leaves the ledger readable, e.g. snapshot chunks before the
 * snapshot item that announces them.
 *
 * @module
 */
import { FleetLockedError } from "../errors.js";
import type { JobEntry, RolloutInput, StepName } from "../schemas.js";
import {
  type CleanupAttempt,
  type ErrorInfo,
  epochSeconds,
  type Host,
  type HostStatus,
  iso,
  type Lease,
  type LeaseItem,
  type Lock,
  type Rollout,
  type RolloutGate,
  type RolloutStatus,
  type RolloutSummary,
  type Snapshot,
} from "./items.js";

/** Identifies a host of a rollout. */
export interface HostKey {
  readonly rolloutId: string;
  readonly wave: number;
  readonly hostId: string;
}

/** A new rollout (see {@link LedgerStore.createRollout}). */
export interface NewRollout {
  readonly rolloutId: string;
  /** The validated execution input (defaults applied). */
  readonly input: RolloutInput;
  readonly hostCount: number;
  readonly waveCount: number;
  /** The rollout a whole-rollout rollback undoes. */
  readonly rollbackOf?: string;
  /** Epoch ms. */
  readonly now: number;
}

/** A host of a new rollout, in rollout order (see {@link LedgerStore.putHosts}). */
export interface NewHost {
  readonly hostId: string;
  readonly instanceId: string;
  readonly wave: number;
  /** Position in the whole rollout, from 0. */
  readonly order: number;
  /**
   * A whole-rollout rollback: the version the host must run (what the rolled-back
   * rollout left) and the one it returns to; the rollback step checks both.
   */
  readonly fromVersion?: string;
  /** See {@link fromVersion}. */
  readonly toVersion?: string;
}

/** Where LoadWave puts a waiting host of a `fewest-jobs` rollout (see {@link LedgerStore.placeHost}). */
export interface HostPlacement {
  readonly rolloutId: string;
  readonly hostId: string;
  /** Waves that hold an item of the host (two after an interrupted placement). */
  readonly fromWaves: readonly number[];
  readonly toWave: number;
  readonly order: number;
  /** What the host reported: its job count, or why there is none. */
  readonly jobCount?: number;
  readonly jobCountReason?: string;
  /** Epoch ms. */
  readonly now: number;
}

/** The job snapshot a switch took (see {@link LedgerStore.putSnapshot}). */
export interface NewSnapshot {
  readonly hostId: string;
  readonly rolloutId: string;
  readonly instanceId: string;
  readonly profile: string;
  readonly oldVersion: string;
  readonly oldRelease: string;
  /** The jobs, verified against `jobsSha256`. */
  readonly jobs: readonly JobEntry[];
  readonly jobsSha256: string;
  /**
   * The switch rolled back: `oldVersion`/`oldRelease` name its target release, staged
   * and never served (no job ever ran on it), left for cleanup. @default false
   */
  readonly abandoned?: boolean;
  /** Epoch ms. */
  readonly now: number;
}

/** What a listing read: the items that match their schema, and the keys of those that do not. */
export interface Listing<T> {
  readonly items: T[];
  /** Keys (`pk sk`) of the items that failed their schema, skipped. */
  readonly corrupt: string[];
}

/**
 * A fleet lock as stored, readable or not: a lock item that fails its schema still
 * names an owner and an expiry when those attributes are intact, and can then be
 * broken like any other (by its owner's name, or once its raw `expiresAt` passed).
 */
export interface HeldLock {
  /** The `owner` attribute, when it is a string. */
  readonly owner?: string;
  /** The `expiresAt` attribute (epoch seconds), when it is a number. */
  readonly expiresAt?: number;
  /** Key (`pk sk`) of the item when it fails its schema. */
  readonly corrupt?: string;
}

/** Arguments of {@link LedgerStore.acquireLock}. */
export interface AcquireLockArgs {
  readonly fleet: string;
  readonly owner: string;
  readonly now: number;
  readonly ttlSeconds: number;
  /** Owner whose lock may be taken over (a rollout known to be dead). */
  readonly breakLock?: string;
}

/** Arguments of {@link LedgerStore.acquireLeases}. */
export interface AcquireLeasesArgs {
  /** The rollout taking the hosts (it holds the lock of `fleet`). */
  readonly owner: string;
  readonly fleet: string;
  readonly hostIds: readonly string[];
  readonly now: number;
  /** A rollout known to be dead, whose leases may be taken over. */
  readonly breakLock?: string;
}

/** Arguments of {@link LedgerStore.refreshLock}. */
export type RefreshLockArgs = Omit<AcquireLockArgs, "breakLock">;

/** Arguments of {@link LedgerStore.finishRollout}. */
export interface FinishRolloutArgs {
  readonly rolloutId: string;
  readonly status: RolloutStatus;
  readonly counts: Record<string, number>;
  readonly error?: ErrorInfo;
  /** Why the rollout halted, written as `haltReason` (cut to 1024 characters). */
  readonly haltReason?: string;
  readonly now: number;
  /** Statuses the rollout may be finished from; `"any"` for the failure path. */
  readonly from: readonly RolloutStatus[] | "any";
}

/** Arguments of {@link LedgerStore.recordCommand}. */
export interface RecordCommandArgs {
  readonly key: HostKey;
  readonly step: StepName;
  readonly commandId: string;
  /** Status of the host while the command runs. */
  readonly status: HostStatus;
  /** Statuses the host may be in before. */
  readonly from: readonly HostStatus[];
  readonly now: number;
}

/** Result of {@link LedgerStore.recordCommand}. */
export type RecordCommandResult =
  | { readonly recorded: true; readonly commandId: string }
  /** Another attempt recorded a command first: poll that one. */
  | { readonly recorded: false; readonly commandId: string };

/** Fields set on a host when a step's command has finished. */
export interface StepResultFields {
  readonly stepMs: number;
  readonly fromVersion?: string;
  readonly toVersion?: string;
  readonly suspendMs?: number;
  readonly listenerGapMs?: number;
  /** Client-seen time the port went unserved during the switch (the probe's figure). */
  readonly unservedMs?: number;
  /**
   * Preflight: the rollout whose switch on this host finished but never reached the
   * ledger; this rollout's switch takes it over and reports it.
   */
  readonly adoptRolloutId?: string;
  /** A failed step: the version its FAILED line says the host serves. */
  readonly runningVersion?: string;
}

/** Arguments of {@link LedgerStore.recordStepResult}. */
export interface RecordStepResultArgs {
  readonly key: HostKey;
  readonly step: StepName;
  readonly commandId: string;
  readonly fields: StepResultFields;
  readonly now: number;
}

/** Arguments of {@link LedgerStore.finalizeHost}. */
export interface FinalizeHostArgs {
  readonly key: HostKey;
  readonly status: HostStatus;
  readonly error?: ErrorInfo;
  readonly now: number;
}

/** Arguments of {@link LedgerStore.failUpgradedHost}. */
export interface FailUpgradedHostArgs {
  readonly key: HostKey;
  /** ROLLED_BACK (back on its previous release) or FAILED. */
  readonly status: HostStatus;
  readonly error: ErrorInfo;
  /** The version the host runs now, when known (its previous release after a rollback). */
  readonly runningVersion?: string;
  readonly now: number;
}

/** Arguments of {@link LedgerStore.completeCleanup} and {@link LedgerStore.recordCleanupAttempt}. */
export interface CleanupResultArgs {
  readonly hostId: string;
  readonly rolloutId: string;
  readonly result: CleanupAttempt;
  readonly now: number;
}

/**
 * Data access of the handlers. Times are epoch milliseconds unless named otherwise.
 * A stored item that does not match its schema is never "missing": reading it throws
 * `InvalidLedgerItemError` naming its key.
 */
export interface LedgerStore {
  /**
   * Takes the fleet lock: succeeds when the lock is absent, expired, already owned by
   * `owner` (a retry) or owned by `breakLock`; else throws `FleetLockedError`.
   */
  acquireLock(args: AcquireLockArgs): Promise<Lock>;
  /** Pushes the lock's expiry; false when `owner` no longer holds it. */
  refreshLock(args: RefreshLockArgs): Promise<boolean>;
  /** Deletes the lock if `owner` holds it; false when absent or held by another. */
  releaseLock(fleet: string, owner: string): Promise<boolean>;
  /** The fleet's lock, if any. */
  getLock(fleet: string): Promise<Lock | undefined>;
  /** The fleet's lock as stored, even when it fails its schema; undefined when absent. */
  getHeldLock(fleet: string): Promise<HeldLock | undefined>;

  /**
   * Leases `hostIds` to `owner` (conditional puts, a bounded number at a time), so
   * that no host is in two running rollouts, whatever their fleets. A host leased to
   * `owner` already is kept (a retry). A lease is live while its owner holds its
   * fleet's lock: one whose owner lost it (released, expired, broken) or is named by
   * `breakLock` is taken over. On a live lease of another rollout, releases the
   * leases this call took and throws `FleetLockedError` naming the host and its owner.
   */
  acquireLeases(args: AcquireLeasesArgs): Promise<void>;
  /** Deletes the leases of `hostIds` that `owner` holds; how many it deleted. */
  releaseLeases(owner: string, hostIds: readonly string[]): Promise<number>;
  /** A host's lease, if any. */
  getLease(hostId: string): Promise<Lease | undefined>;
  /**
   * Puts a PENDING host in wave `toWave` at `order` with its job count: an update in
   * place, or a put of its item under the new wave (conditional on absent or PENDING)
   * followed by the delete of every other copy (conditional on PENDING), so that a
   * repeat finishes an interrupted placement. Refuses nothing: a host no longer
   * PENDING stays where it is.
   */
  placeHost(placement: HostPlacement): Promise<void>;
  /** Ids of a rollout's hosts, from their keys alone (a corrupt host item still counts). */
  listHostIds(rolloutId: string): Promise<string[]>;

  /** Writes a new PLANNED rollout; "exists" when one with this id is already there. */
  createRollout(rollout: NewRollout): Promise<"created" | "exists">;
  /** The rollout (strongly consistent read). */
  getRollout(rolloutId: string): Promise<Rollout | undefined>;
  /**
   * Only the rollout's fleet: what releasing its lock needs when the rest of the item
   * is corrupt. Throws `InvalidLedgerItemError` only when the fleet itself is.
   */
  getRolloutFleet(rolloutId: string): Promise<string | undefined>;
  /**
   * Only what the preflight gate needs, read fresh. The rollout item carries the whole
   * input (up to 10,000 host ids): the gate must not read that once per host.
   */
  getRolloutGate(rolloutId: string): Promise<RolloutGate | undefined>;
  /** PLANNED → RUNNING; no-op when already past PLANNED or absent. */
  markRolloutRunning(rolloutId: string, now: number): Promise<void>;
  /** Adds one to `failedCount`; rejects when the rollout is absent. */
  incrementFailedCount(rolloutId: string, now: number): Promise<void>;
  /** Raises `failedCount` to `count` if lower (repairs a count a crash left behind). */
  raiseFailedCount(rolloutId: string, count: number, now: number): Promise<void>;
  /** Records why the rollout halts (`haltReason`); no-op when the rollout is absent. */
  recordHaltReason(rolloutId: string, reason: string, now: number): Promise<void>;
  /**
   * Records the approval the execution waits for (`approval`: wave, task token); false
   * when the rollout is absent or no longer RUNNING.
   */
  recordApprovalRequest(
    rolloutId: string,
    request: { wave: number; taskToken: string },
    now: number,
  ): Promise<boolean>;
  /**
   * Sets the final status, counts and error. Only from `from` statuses (or the same
   * final status, a retry); `from: "any"` for the failure path.
   * Returns false when the rollout is absent or in another state.
   */
  finishRollout(args: FinishRolloutArgs): Promise<boolean>;

  /**
   * The most recently created rollouts, newest first, at most `limit`, without their
   * input: a query of the sparse index, never a Scan.
   */
  listRollouts(limit: number): Promise<RolloutSummary[]>;

  /** Writes the PENDING hosts of a new rollout (batched; unprocessed writes retried). */
  putHosts(rolloutId: string, hosts: readonly NewHost[], now: number): Promise<void>;
  /** One host (strongly consistent read). */
  getHost(key: HostKey): Promise<Host | undefined>;
  /** Hosts of a wave, in `order`. */
  listWaveHosts(rolloutId: string, wave: number): Promise<Host[]>;
  /** All hosts of a rollout, in wave then `order`. */
  listHosts(rolloutId: string): Promise<Host[]>;
  /** All hosts of a rollout that match their schema, in wave then `order`, and the keys of the others. */
  listHostsSkippingCorrupt(rolloutId: string): Promise<Listing<Host>>;
  /**
   * Records the command sent for `step` and moves the host to `status`, if the host
   * has no command for that step yet and is in one of `from`. When another attempt
   * got there first, returns its command id; otherwise throws `LedgerConflictError`.
   */
  recordCommand(args: RecordCommandArgs): Promise<RecordCommandResult>;
  /**
   * Records a finished step's timings and versions, and when it was recorded
   * (`<step>EndedAt` = `now`), conditional on its command id (`LedgerConflictError`
   * when another command is recorded).
   */
  recordStepResult(args: RecordStepResultArgs): Promise<void>;
  /**
   * Moves a host into a final status if it is not in one yet. `transitioned` is false
   * when it already was (then `status` is the status found).
   */
  finalizeHost(args: FinalizeHostArgs): Promise<{ transitioned: boolean; status: HostStatus }>;
  /**
   * Moves an UPGRADED host that stopped serving after its switch into `status` (a
   * failure), with its error and the version it runs now; only from UPGRADED, so a
   * repeat finds it moved. `transitioned` is false when it was not UPGRADED (then
   * `status` is the status found).
   */
  failUpgradedHost(
    args: FailUpgradedHostArgs,
  ): Promise<{ transitioned: boolean; status: HostStatus }>;

  /**
   * Writes a snapshot's job chunks, then the snapshot (cleanup PENDING), so it never
   * announces chunks that are not there. "exists" when the same snapshot was written
   * before; `LedgerConflictError` when one with other jobs was.
   */
  putSnapshot(snapshot: NewSnapshot): Promise<"created" | "exists">;
  /** The snapshot a rollout's switch recorded for a host (without its jobs). */
  getSnapshot(hostId: string, rolloutId: string): Promise<Snapshot | undefined>;
  /**
   * Snapshots whose cleanup is pending, oldest first; one that fails its schema is
   * skipped and its key listed, so it never keeps the others from being cleaned.
   */
  listPendingCleanups(): Promise<Listing<Snapshot>>;
  /** Marks a cleanup done (out of the pending list); false when it was no longer pending. */
  completeCleanup(args: CleanupResultArgs): Promise<boolean>;
  /** Counts a cleanup attempt that left the snapshot pending; false when no longer pending. */
  recordCleanupAttempt(args: CleanupResultArgs): Promise<boolean>;
}

/** The error {@link LedgerStore.acquireLock} throws when `held` keeps it from the lock. */
export function fleetLockedError(fleet: string, held: HeldLock | undefined): FleetLockedError {
  // Released between the refused write and this read: the caller may simply try again.
  const owner = held === undefined ? "(released)" : (held.owner ?? "(unreadable)");
  const expiresAt = held?.expiresAt ?? 0;
  const until = Number.isFinite(expiresAt * 1000) ? iso(expiresAt * 1000) : String(expiresAt);
  const corrupt =
    held?.corrupt === undefined
      ? ""
      : ` (corrupt lock item ${held.corrupt}: it can be broken like any other lock)`;
  return new FleetLockedError(
    `fleet "${fleet}" is locked by rollout ${owner} until ${until}${corrupt}; ` +
      `wait for it, or pass breakLock: "${owner}" if that rollout is dead`,
    owner,
    expiresAt,
  );
}

/** Leases taken or checked at a time. */
export const LEASE_CONCURRENCY = 16;

/** What {@link acquireHostLeases} needs from a store. */
export interface LeaseOperations {
  /**
   * Puts `item` if its host has no lease or its owner holds it already; with
   * `replacing`, only if the lease's `owner` attribute is `replacing.owner` (absent
   * when undefined). False when the condition failed.
   */
  putLease(item: LeaseItem, replacing?: { readonly owner: unknown }): Promise<boolean>;
  /** The lease item of a host as stored, unparsed. */
  getRawLease(hostId: string): Promise<Record<string, unknown> | undefined>;
  getHeldLock(fleet: string): Promise<HeldLock | undefined>;
  releaseLeases(owner: string, hostIds: readonly string[]): Promise<number>;
}

/** A live lease of another rollout in the way. */
interface LeaseConflict {
  readonly hostId: string;
  readonly owner: string;
  readonly fleet: string;
  readonly expiresAt: number;
}

/**
 * {@link LedgerStore.acquireLeases} on a store's primitives: both stores share it, so
 * the contract suite proves the primitives and this one algorithm.
 */
export async function acquireHostLeases(
  ops: LeaseOperations,
  args: AcquireLeasesArgs,
  newItem: (hostId: string) => LeaseItem,
): Promise<void> {
  const taken: string[] = [];
  let conflict: LeaseConflict | undefined;
  await forEachBounded(args.hostIds, LEASE_CONCURRENCY, async (hostId) => {
    if (conflict !== undefined) return;
    const outcome = await leaseOne(ops, args, newItem(hostId));
    if (outcome === "taken") taken.push(hostId);
    else conflict ??= outcome;
  });
  if (conflict === undefined) return;
  await ops.releaseLeases(args.owner, taken);
  throw new FleetLockedError(
    `host ${conflict.hostId} is in running rollout ${conflict.owner} (fleet "${conflict.fleet}") ` +
      `until ${iso(conflict.expiresAt * 1000)}; wait for it, or pass breakLock: "${conflict.owner}" if that rollout is dead`,
    conflict.owner,
    conflict.expiresAt,
  );
}

async function leaseOne(
  ops: LeaseOperations,
  args: AcquireLeasesArgs,
  item: LeaseItem,
): Promise<"taken" | LeaseConflict> {
  let last: LeaseConflict = { hostId: item.hostId, owner: "(contended)", fleet: "", expiresAt: 0 };
  // A few rounds: a lease may change hands between the refused put and the takeover.
  for (let round = 0; round < 3; round++) {
    if (await ops.putLease(item)) return "taken";
    const raw = await ops.getRawLease(item.hostId);
    if (raw === undefined) continue;
    const owner = typeof raw.owner === "string" ? raw.owner : undefined;
    const fleet = typeof raw.fleet === "string" ? raw.fleet : undefined;
    if (owner !== undefined && owner !== args.breakLock && fleet !== undefined) {
      const lock = await ops.getHeldLock(fleet);
      const expiresAt = lock?.expiresAt ?? 0;
      if (lock?.owner === owner && expiresAt > epochSeconds(args.now)) {
        return { hostId: item.hostId, owner, fleet, expiresAt };
      }
      last = { hostId: item.hostId, owner, fleet, expiresAt };
    }
    // Its rollout no longer holds its fleet's lock (or is named by breakLock, or the
    // item is unreadable): the lease is stale.
    if (await ops.putLease(item, { owner: raw.owner })) return "taken";
  }
  return last;
}

/** Runs `work` over `items` with at most `limit` in flight. */
export async function forEachBounded<T>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    for (let index = next++; index < items.length; index = next++) {
      await work(items[index] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
