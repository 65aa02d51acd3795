/**
 * An in-memory {@link LedgerStore} for domain tests, with the semantics of
 * `DynamoLedgerStore` (proved by the shared contract suite in `ledger-contract.ts`,
 * which runs against both): the same items under the same keys, the same conditions
 * on every write, the same errors. Items are copied in and out as JSON, as the
 * document client marshals them (undefined values dropped).
 */

import { z } from "zod";
import { InvalidLedgerItemError, LedgerConflictError } from "../../lambdas/common/errors.js";
import {
  ACTIVE_HOST_STATUSES,
  epochSeconds,
  type Host,
  HostItemSchema,
  type HostStatus,
  heldLockOf,
  iso,
  type Lease,
  LeaseItemSchema,
  type Lock,
  LockItemSchema,
  newHostItems,
  newLeaseItem,
  newLockItem,
  newRolloutItem,
  newSnapshotItems,
  parseItem,
  ROLLOUT_GATE_FIELDS,
  ROLLOUT_SUMMARY_FIELDS,
  type Rollout,
  RolloutFleetSchema,
  type RolloutGate,
  RolloutGateSchema,
  RolloutItemSchema,
  type RolloutSummary,
  RolloutSummarySchema,
  type Snapshot,
  SnapshotChunkItemSchema,
  SnapshotItemSchema,
  stepEndedAtField,
  toRecord,
} from "../../lambdas/common/ledger/items.js";
import {
  CLEANUP_PENDING_PK,
  HOSTS_PREFIX,
  hostIdOfSk,
  hostKey,
  type ItemKey,
  leaseKey,
  lockKey,
  ROLLOUTS_PK,
  rolloutKey,
  rolloutPk,
  snapshotKey,
  snapshotPk,
  snapshotSk,
  wavePrefix,
} from "../../lambdas/common/ledger/keys.js";
import {
  type AcquireLeasesArgs,
  type AcquireLockArgs,
  acquireHostLeases,
  type CleanupResultArgs,
  type FailUpgradedHostArgs,
  type FinalizeHostArgs,
  type FinishRolloutArgs,
  fleetLockedError,
  type HeldLock,
  type HostKey,
  type HostPlacement,
  type LeaseOperations,
  type LedgerStore,
  type Listing,
  type NewHost,
  type NewRollout,
  type NewSnapshot,
  type RecordCommandArgs,
  type RecordCommandResult,
  type RecordStepResultArgs,
  type RefreshLockArgs,
} from "../../lambdas/common/ledger/store.js";
import type { JobEntry } from "../../lambdas/common/schemas.js";

/** A stored item as DynamoDB holds it: any attributes, valid or not. */
export type RawItem = Record<string, unknown> & { pk: string; sk: string };
type Attributes = Record<string, unknown>;

const copy = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;
const id = (key: ItemKey) => `${key.pk}\u0000${key.sk}`;
/** What DynamoDB raises when a condition it was not asked to tolerate fails. */
const conditionFailed = () =>
  Object.assign(new Error("The conditional request failed"), {
    name: "ConditionalCheckFailedException",
  });

/** {@link LedgerStore} on a map of raw items. */
export class MemoryLedgerStore implements LedgerStore {
  private readonly items = new Map<string, RawItem>();
  /** Store methods called, in order: lets tests check call order and caching. */
  readonly calls: (keyof LedgerStore)[] = [];

  /** Stores an item as it is, valid or not, replacing any item under its key. */
  putItem(item: RawItem): void {
    this.items.set(id(item), copy(item));
  }

  /** The raw item under a key, if any. */
  item(key: ItemKey): RawItem | undefined {
    const item = this.items.get(id(key));
    return item && copy(item);
  }

  /** The jobs a snapshot's chunks hold, in chunk order. */
  snapshotJobs(hostId: string, rolloutId: string): JobEntry[] {
    const prefix = `${snapshotSk(rolloutId)}#JOBS#`;
    return this.query(snapshotPk(hostId), prefix).flatMap(
      (item) => parseItem(SnapshotChunkItemSchema, item).jobs,
    );
  }

  async acquireLock(args: AcquireLockArgs): Promise<Lock> {
    this.calls.push("acquireLock");
    const item = newLockItem(args);
    const held = this.raw(lockKey(args.fleet));
    const free =
      held === undefined ||
      (typeof held.expiresAt === "number" && held.expiresAt <= epochSeconds(args.now)) ||
      held.owner === args.owner ||
      (args.breakLock !== undefined && held.owner === args.breakLock);
    if (!free) throw fleetLockedError(args.fleet, held && heldLockOf(copy(held)));
    this.putItem(item);
    return toRecord(item);
  }

  async refreshLock(args: RefreshLockArgs): Promise<boolean> {
    this.calls.push("refreshLock");
    const held = this.raw(lockKey(args.fleet));
    if (held?.owner !== args.owner) return false;
    held.expiresAt = epochSeconds(args.now) + args.ttlSeconds;
    return true;
  }

  async releaseLock(fleet: string, owner: string): Promise<boolean> {
    this.calls.push("releaseLock");
    if (this.raw(lockKey(fleet))?.owner !== owner) return false;
    this.items.delete(id(lockKey(fleet)));
    return true;
  }

  async getLock(fleet: string): Promise<Lock | undefined> {
    this.calls.push("getLock");
    return this.read(lockKey(fleet), LockItemSchema);
  }

  async getHeldLock(fleet: string): Promise<HeldLock | undefined> {
    this.calls.push("getHeldLock");
    const raw = this.item(lockKey(fleet));
    return raw && heldLockOf(raw);
  }

  async acquireLeases(args: AcquireLeasesArgs): Promise<void> {
    this.calls.push("acquireLeases");
    await acquireHostLeases(this.leaseOperations, args, (hostId) =>
      newLeaseItem({ hostId, owner: args.owner, fleet: args.fleet, now: args.now }),
    );
  }

  async releaseLeases(owner: string, hostIds: readonly string[]): Promise<number> {
    this.calls.push("releaseLeases");
    let released = 0;
    for (const hostId of hostIds) {
      if (this.raw(leaseKey(hostId))?.owner !== owner) continue;
      this.items.delete(id(leaseKey(hostId)));
      released++;
    }
    return released;
  }

  async getLease(hostId: string): Promise<Lease | undefined> {
    this.calls.push("getLease");
    return this.read(leaseKey(hostId), LeaseItemSchema);
  }

  async placeHost(placement: HostPlacement): Promise<void> {
    this.calls.push("placeHost");
    const { rolloutId, hostId, toWave } = placement;
    const target = hostKey({ rolloutId, wave: toWave, hostId });
    const counted =
      placement.jobCount === undefined
        ? { jobCountReason: placement.jobCountReason ?? "no job count" }
        : { jobCount: placement.jobCount };
    const others = placement.fromWaves.filter((wave) => wave !== toWave);
    const held = this.raw(target);
    const source =
      others.length === 0
        ? held
        : this.raw(hostKey({ rolloutId, wave: others[0] as number, hostId }));
    if (
      source !== undefined &&
      source.status === "PENDING" &&
      (held === undefined || held.status === "PENDING")
    ) {
      const { jobCount: _count, jobCountReason: _reason, ...rest } = source;
      this.putItem({
        ...(rest as RawItem),
        ...target,
        wave: toWave,
        order: placement.order,
        ...counted,
        updatedAt: iso(placement.now),
      });
    }
    for (const wave of others) {
      const key = hostKey({ rolloutId, wave, hostId });
      if (this.raw(key)?.status === "PENDING") this.items.delete(id(key));
    }
  }

  async listHostIds(rolloutId: string): Promise<string[]> {
    this.calls.push("listHostIds");
    return this.query(rolloutPk(rolloutId), HOSTS_PREFIX).map((item) => hostIdOfSk(item.sk));
  }

  /** Like DynamoDB's conditional puts (see `DynamoLedgerStore`). */
  private readonly leaseOperations: LeaseOperations = {
    putLease: async (item, replacing) => {
      const held = this.raw(item);
      const free =
        replacing === undefined
          ? held === undefined || held.owner === item.owner
          : held !== undefined &&
            (replacing.owner === undefined
              ? !("owner" in held)
              : JSON.stringify(held.owner) === JSON.stringify(replacing.owner));
      if (free) this.putItem(item);
      return free;
    },
    getRawLease: async (hostId) => this.item(leaseKey(hostId)),
    getHeldLock: (fleet) => this.getHeldLock(fleet),
    releaseLeases: (owner, hostIds) => this.releaseLeases(owner, hostIds),
  };

  async createRollout(rollout: NewRollout): Promise<"created" | "exists"> {
    this.calls.push("createRollout");
    const item = newRolloutItem(rollout);
    if (this.raw(item) !== undefined) return "exists";
    this.putItem(item);
    return "created";
  }

  async getRollout(rolloutId: string): Promise<Rollout | undefined> {
    this.calls.push("getRollout");
    return this.read(rolloutKey(rolloutId), RolloutItemSchema);
  }

  async getRolloutFleet(rolloutId: string): Promise<string | undefined> {
    this.calls.push("getRolloutFleet");
    const key = rolloutKey(rolloutId);
    const raw = this.raw(key);
    if (raw === undefined) return undefined;
    // Like the projection: only the fleet is read.
    return parseItem(RolloutFleetSchema, {
      ...key,
      ...("fleet" in raw ? { fleet: raw.fleet } : {}),
    }).fleet;
  }

  async getRolloutGate(rolloutId: string): Promise<RolloutGate | undefined> {
    this.calls.push("getRolloutGate");
    const key = rolloutKey(rolloutId);
    const raw = this.raw(key);
    if (raw === undefined) return undefined;
    // Like the projection: only the gate's attributes are read.
    const projected: Attributes = { ...key };
    for (const field of ROLLOUT_GATE_FIELDS) {
      if (field in raw) projected[field] = raw[field];
    }
    return parseItem(RolloutGateSchema.strip(), projected);
  }

  async markRolloutRunning(rolloutId: string, now: number): Promise<void> {
    this.calls.push("markRolloutRunning");
    const raw = this.raw(rolloutKey(rolloutId));
    if (raw?.status !== "PLANNED") return;
    Object.assign(raw, { status: "RUNNING", updatedAt: iso(now) });
  }

  async incrementFailedCount(rolloutId: string, now: number): Promise<void> {
    this.calls.push("incrementFailedCount");
    const raw = this.raw(rolloutKey(rolloutId));
    if (raw === undefined) throw conditionFailed();
    const count = typeof raw.failedCount === "number" ? raw.failedCount : 0;
    Object.assign(raw, { failedCount: count + 1, updatedAt: iso(now) });
  }

  async raiseFailedCount(rolloutId: string, count: number, now: number): Promise<void> {
    this.calls.push("raiseFailedCount");
    const raw = this.raw(rolloutKey(rolloutId));
    if (raw === undefined || typeof raw.failedCount !== "number" || raw.failedCount >= count) {
      return;
    }
    Object.assign(raw, { failedCount: count, updatedAt: iso(now) });
  }

  async recordHaltReason(rolloutId: string, reason: string, now: number): Promise<void> {
    this.calls.push("recordHaltReason");
    const raw = this.raw(rolloutKey(rolloutId));
    if (raw === undefined) return;
    Object.assign(raw, { haltReason: reason.slice(0, 1024), updatedAt: iso(now) });
  }

  async recordApprovalRequest(
    rolloutId: string,
    request: { wave: number; taskToken: string },
    now: number,
  ): Promise<boolean> {
    this.calls.push("recordApprovalRequest");
    const raw = this.raw(rolloutKey(rolloutId));
    if (raw === undefined || raw.status !== "RUNNING") return false;
    Object.assign(raw, { approval: { ...request, requestedAt: iso(now) }, updatedAt: iso(now) });
    return true;
  }

  async finishRollout(args: FinishRolloutArgs): Promise<boolean> {
    this.calls.push("finishRollout");
    const raw = this.raw(rolloutKey(args.rolloutId));
    if (raw === undefined) return false;
    if (args.from !== "any" && ![...args.from, args.status].includes(raw.status as never)) {
      return false;
    }
    const time = iso(args.now);
    Object.assign(raw, {
      status: args.status,
      updatedAt: time,
      finishedAt: time,
      counts: copy(args.counts),
      ...(args.error === undefined ? {} : { error: copy(args.error) }),
      ...(args.haltReason === undefined ? {} : { haltReason: args.haltReason.slice(0, 1024) }),
    });
    return true;
  }

  async putHosts(rolloutId: string, hosts: readonly NewHost[], now: number): Promise<void> {
    this.calls.push("putHosts");
    for (const item of newHostItems(rolloutId, hosts, now)) this.putItem(item);
  }

  async getHost(key: HostKey): Promise<Host | undefined> {
    this.calls.push("getHost");
    return this.read(hostKey(key), HostItemSchema);
  }

  async listWaveHosts(rolloutId: string, wave: number): Promise<Host[]> {
    this.calls.push("listWaveHosts");
    return this.hosts(rolloutId, wavePrefix(wave)).sort((a, b) => a.order - b.order);
  }

  async listHosts(rolloutId: string): Promise<Host[]> {
    this.calls.push("listHosts");
    return this.hosts(rolloutId, HOSTS_PREFIX).sort((a, b) => a.wave - b.wave || a.order - b.order);
  }

  async listHostsSkippingCorrupt(rolloutId: string): Promise<Listing<Host>> {
    this.calls.push("listHostsSkippingCorrupt");
    const listing = skippingCorrupt(this.query(rolloutPk(rolloutId), HOSTS_PREFIX), HostItemSchema);
    return {
      items: listing.items.sort((a, b) => a.wave - b.wave || a.order - b.order),
      corrupt: listing.corrupt,
    };
  }

  async recordCommand(args: RecordCommandArgs): Promise<RecordCommandResult> {
    this.calls.push("recordCommand");
    const raw = this.raw(hostKey(args.key));
    const commands = raw?.commands as Attributes | undefined;
    if (
      raw !== undefined &&
      commands?.[args.step] === undefined &&
      args.from.includes(raw.status as HostStatus)
    ) {
      Object.assign(raw, {
        commands: { ...commands, [args.step]: args.commandId },
        status: args.status,
        updatedAt: iso(args.now),
      });
      return { recorded: true, commandId: args.commandId };
    }
    const host = this.read(hostKey(args.key), HostItemSchema);
    const existing = host?.commands[args.step];
    if (existing !== undefined) return { recorded: false, commandId: existing };
    throw new LedgerConflictError(
      host === undefined
        ? `host ${args.key.hostId} of rollout ${args.key.rolloutId} is not in the ledger`
        : `host ${args.key.hostId} is ${host.status}; ${args.step} expects ${args.from.join(" or ")}`,
    );
  }

  async recordStepResult(args: RecordStepResultArgs): Promise<void> {
    this.calls.push("recordStepResult");
    const raw = this.raw(hostKey(args.key));
    if (
      raw === undefined ||
      (raw.commands as Attributes | undefined)?.[args.step] !== args.commandId
    ) {
      throw new LedgerConflictError(
        `host ${args.key.hostId}: ${args.step} command ${args.commandId} is not the one recorded`,
      );
    }
    const { stepMs, ...versions } = copy(args.fields);
    Object.assign(raw, versions, {
      stepMs: { ...(raw.stepMs as Attributes), [args.step]: stepMs },
      updatedAt: iso(args.now),
      [stepEndedAtField(args.step)]: iso(args.now),
    });
  }

  async finalizeHost(
    args: FinalizeHostArgs,
  ): Promise<{ transitioned: boolean; status: HostStatus }> {
    this.calls.push("finalizeHost");
    const raw = this.raw(hostKey(args.key));
    if (raw !== undefined && ACTIVE_HOST_STATUSES.includes(raw.status as HostStatus)) {
      Object.assign(raw, {
        status: args.status,
        updatedAt: iso(args.now),
        ...(args.error === undefined ? {} : { error: copy(args.error) }),
      });
      return { transitioned: true, status: args.status };
    }
    const host = this.read(hostKey(args.key), HostItemSchema);
    if (host === undefined) {
      throw new LedgerConflictError(
        `host ${args.key.hostId} of rollout ${args.key.rolloutId} is not in the ledger`,
      );
    }
    return { transitioned: false, status: host.status };
  }

  async failUpgradedHost(
    args: FailUpgradedHostArgs,
  ): Promise<{ transitioned: boolean; status: HostStatus }> {
    this.calls.push("failUpgradedHost");
    const raw = this.raw(hostKey(args.key));
    if (raw?.status === "UPGRADED") {
      Object.assign(raw, {
        status: args.status,
        error: copy(args.error),
        updatedAt: iso(args.now),
        ...(args.runningVersion === undefined ? {} : { runningVersion: args.runningVersion }),
      });
      return { transitioned: true, status: args.status };
    }
    const host = this.read(hostKey(args.key), HostItemSchema);
    if (host === undefined) {
      throw new LedgerConflictError(
        `host ${args.key.hostId} of rollout ${args.key.rolloutId} is not in the ledger`,
      );
    }
    return { transitioned: false, status: host.status };
  }

  async putSnapshot(args: NewSnapshot): Promise<"created" | "exists"> {
    this.calls.push("putSnapshot");
    const { snapshot, chunks } = newSnapshotItems(args);
    for (const chunk of chunks) this.putItem(chunk);
    if (this.raw(snapshot) === undefined) {
      this.putItem(snapshot);
      return "created";
    }
    const existing = this.read(snapshotKey(args.hostId, args.rolloutId), SnapshotItemSchema);
    if (existing?.jobsSha256 === snapshot.jobsSha256) return "exists";
    throw new LedgerConflictError(
      `snapshot of host ${args.hostId} for rollout ${args.rolloutId} already exists with other jobs`,
    );
  }

  async getSnapshot(hostId: string, rolloutId: string): Promise<Snapshot | undefined> {
    this.calls.push("getSnapshot");
    return this.read(snapshotKey(hostId, rolloutId), SnapshotItemSchema);
  }

  async listRollouts(limit: number): Promise<RolloutSummary[]> {
    this.calls.push("listRollouts");
    // The sparse index, newest first; like the projection, only the summary's attributes.
    return [...this.items.values()]
      .filter((item) => item.gsi1pk === ROLLOUTS_PK && typeof item.gsi1sk === "string")
      .sort((a, b) => compare(b.gsi1sk as string, a.gsi1sk as string))
      .slice(0, limit)
      .map((item) => {
        const projected: Attributes = { pk: item.pk, sk: item.sk };
        for (const field of ROLLOUT_SUMMARY_FIELDS) {
          if (field in item) projected[field] = copy(item[field]);
        }
        return toRecord(
          parseItem(RolloutSummarySchema.extend({ pk: z.string(), sk: z.string() }), projected),
        );
      });
  }

  async listPendingCleanups(): Promise<Listing<Snapshot>> {
    this.calls.push("listPendingCleanups");
    // The sparse index holds the items carrying both of its keys, in gsi1sk order.
    const pending = [...this.items.values()]
      .filter((item) => item.gsi1pk === CLEANUP_PENDING_PK && typeof item.gsi1sk === "string")
      .sort((a, b) => compare(a.gsi1sk as string, b.gsi1sk as string))
      .map(copy);
    return skippingCorrupt(pending, SnapshotItemSchema);
  }

  async completeCleanup(args: CleanupResultArgs): Promise<boolean> {
    this.calls.push("completeCleanup");
    const raw = this.cleanupAttempt(args);
    if (raw === undefined) return false;
    raw.cleanup = "DONE";
    delete raw.gsi1pk;
    delete raw.gsi1sk;
    return true;
  }

  async recordCleanupAttempt(args: CleanupResultArgs): Promise<boolean> {
    this.calls.push("recordCleanupAttempt");
    return this.cleanupAttempt(args) !== undefined;
  }

  /** Counts an attempt on a pending snapshot; the (live) item, or undefined if not pending. */
  private cleanupAttempt(args: CleanupResultArgs): RawItem | undefined {
    const raw = this.raw(snapshotKey(args.hostId, args.rolloutId));
    if (raw?.cleanup !== "PENDING") return undefined;
    const attempts = typeof raw.attempts === "number" ? raw.attempts : 0;
    Object.assign(raw, {
      lastCheckedAt: iso(args.now),
      lastResult: copy(args.result),
      attempts: attempts + 1,
    });
    return raw;
  }

  /** The live item under a key (conditions read and updates change it in place). */
  private raw(key: ItemKey): RawItem | undefined {
    return this.items.get(id(key));
  }

  /** The one read-and-parse path: the record of the item, undefined when absent. */
  private read<S extends z.ZodType<object>>(key: ItemKey, schema: S) {
    const item = this.item(key);
    return item === undefined ? undefined : toRecord(parseItem(schema, item));
  }

  /** Items of a partition whose sort key starts with `prefix`, in sort-key order. */
  private query(pk: string, prefix: string): RawItem[] {
    return [...this.items.values()]
      .filter((item) => item.pk === pk && item.sk.startsWith(prefix))
      .sort((a, b) => compare(a.sk, b.sk))
      .map(copy);
  }

  private hosts(rolloutId: string, prefix: string): Host[] {
    return this.query(rolloutPk(rolloutId), prefix).map((item) =>
      toRecord(parseItem(HostItemSchema, item)),
    );
  }
}

/** The records of the items that match `schema`, and the keys of those that do not. */
function skippingCorrupt<S extends z.ZodType<object>>(
  items: readonly RawItem[],
  schema: S,
): Listing<ReturnType<typeof toRecord<z.output<S>>>> {
  const listing: Listing<ReturnType<typeof toRecord<z.output<S>>>> = { items: [], corrupt: [] };
  for (const item of items) {
    try {
      listing.items.push(toRecord(parseItem(schema, item)));
    } catch (error) {
      if (!(error instanceof InvalidLedgerItemError)) throw error;
      listing.corrupt.push(error.key);
    }
  }
  return listing;
}

/** Byte order of ASCII strings, as DynamoDB sorts keys. */
const compare = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
