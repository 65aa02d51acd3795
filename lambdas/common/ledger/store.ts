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
  type Host,
  type HostStatus,
  iso,
  type Lock,
  type Rollout,
  type RolloutGate,
  type RolloutStatus,
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

/** Arguments of {@link LedgerStore.refreshLock}. */
export type RefreshLockArgs = Omit<AcquireLockArgs, "breakLock">;

/** Arguments of {@link LedgerStore.finishRollout}. */
export interface FinishRolloutArgs {
  readonly rolloutId: string;
  readonly status: RolloutStatus;
  readonly counts: Record<string, number>;
  readonly error?: ErrorInfo;
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
  /**
   * Sets the final status, counts and error. Only from `from` statuses (or the same
   * final status, a retry); `from: "any"` for the failure path.
   * Returns false when the rollout is absent or in another state.
   */
  finishRollout(args: FinishRolloutArgs): Promise<boolean>;

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
   * Records a finished step's timings and versions, conditional on its command id
   * (`LedgerConflictError` when another command is recorded).
   */
  recordStepResult(args: RecordStepResultArgs): Promise<void>;
  /**
   * Moves a host into a final status if it is not in one yet. `transitioned` is false
   * when it already was (then `status` is the status found).
   */
  finalizeHost(args: FinalizeHostArgs): Promise<{ transitioned: boolean; status: HostStatus }>;

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
