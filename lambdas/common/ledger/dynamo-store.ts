/**
 * {@link DynamoLedgerStore}: the {@link LedgerStore} on one DynamoDB table, through
 * the document client.
 *
 * @module
 */
import { DeleteCommand, PutCommand, paginateQuery, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import { z } from "zod";
import { LedgerConflictError } from "../errors.js";
import { DynamoTable, type DynamoTableOptions } from "./dynamo-table.js";
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
  ROLLOUT_SUMMARY_FIELDS,
  type Rollout,
  RolloutFleetSchema,
  type RolloutGate,
  RolloutGateSchema,
  RolloutItemSchema,
  type RolloutSummary,
  RolloutSummarySchema,
  type Snapshot,
  SnapshotItemSchema,
  stepEndedAtField,
  toRecord,
} from "./items.js";
import {
  CLEANUP_INDEX,
  CLEANUP_PENDING_PK,
  HOSTS_PREFIX,
  hostIdOfSk,
  hostKey,
  leaseKey,
  lockKey,
  ROLLOUTS_PK,
  rolloutKey,
  rolloutPk,
  snapshotKey,
  wavePrefix,
} from "./keys.js";
import {
  type AcquireLeasesArgs,
  type AcquireLockArgs,
  acquireHostLeases,
  type CleanupResultArgs,
  type FailUpgradedHostArgs,
  type FinalizeHostArgs,
  type FinishRolloutArgs,
  fleetLockedError,
  forEachBounded,
  type HeldLock,
  type HostKey,
  type HostPlacement,
  LEASE_CONCURRENCY,
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
} from "./store.js";

/** Options of {@link DynamoLedgerStore}: the client and the ledger table's name. */
export type DynamoLedgerStoreOptions = DynamoTableOptions;

/** A rollout item as a listing projects it: keys (for error messages) and the summary. */
const ListedRolloutSchema = RolloutSummarySchema.extend({ pk: z.string(), sk: z.string() });

/** `:prefix0, :prefix1, …` for an `IN (…)` list, adding each value to `values`. */
function inList(
  prefix: string,
  statuses: readonly string[],
  values: Record<string, unknown>,
): string {
  return statuses
    .map((status, i) => {
      values[`:${prefix}${i}`] = status;
      return `:${prefix}${i}`;
    })
    .join(", ");
}

/** {@link LedgerStore} on one DynamoDB table. */
export class DynamoLedgerStore implements LedgerStore {
  private readonly db: DynamoTable;

  constructor(options: DynamoLedgerStoreOptions) {
    this.db = new DynamoTable(options);
  }

  async acquireLock(args: AcquireLockArgs): Promise<Lock> {
    const item = newLockItem(args);
    const breaking = args.breakLock !== undefined;
    const acquired = await this.db.conditional(
      new PutCommand({
        TableName: this.db.name,
        Item: item,
        ConditionExpression: `attribute_not_exists(pk) OR expiresAt <= :now OR #owner = :owner${
          breaking ? " OR #owner = :breakLock" : ""
        }`,
        ExpressionAttributeNames: { "#owner": "owner" },
        ExpressionAttributeValues: {
          ":now": epochSeconds(args.now),
          ":owner": args.owner,
          ...(breaking ? { ":breakLock": args.breakLock } : {}),
        },
      }),
    );
    if (acquired) return toRecord(item);
    throw fleetLockedError(args.fleet, await this.getHeldLock(args.fleet));
  }

  async refreshLock(args: RefreshLockArgs): Promise<boolean> {
    return this.db.conditional(
      new UpdateCommand({
        TableName: this.db.name,
        Key: lockKey(args.fleet),
        UpdateExpression: "SET expiresAt = :expiresAt",
        ConditionExpression: "#owner = :owner",
        ExpressionAttributeNames: { "#owner": "owner" },
        ExpressionAttributeValues: {
          ":expiresAt": epochSeconds(args.now) + args.ttlSeconds,
          ":owner": args.owner,
        },
      }),
    );
  }

  async releaseLock(fleet: string, owner: string): Promise<boolean> {
    return this.db.conditional(
      new DeleteCommand({
        TableName: this.db.name,
        Key: lockKey(fleet),
        ConditionExpression: "#owner = :owner",
        ExpressionAttributeNames: { "#owner": "owner" },
        ExpressionAttributeValues: { ":owner": owner },
      }),
    );
  }

  async getLock(fleet: string): Promise<Lock | undefined> {
    const item = await this.db.getItem(lockKey(fleet), LockItemSchema);
    return item && toRecord(item);
  }

  async getHeldLock(fleet: string): Promise<HeldLock | undefined> {
    const raw = await this.db.getRawItem(lockKey(fleet));
    return raw && heldLockOf(raw);
  }

  async acquireLeases(args: AcquireLeasesArgs): Promise<void> {
    await acquireHostLeases(this.leaseOperations, args, (hostId) =>
      newLeaseItem({ hostId, owner: args.owner, fleet: args.fleet, now: args.now }),
    );
  }

  async releaseLeases(owner: string, hostIds: readonly string[]): Promise<number> {
    let released = 0;
    await forEachBounded(hostIds, LEASE_CONCURRENCY, async (hostId) => {
      const deleted = await this.db.conditional(
        new DeleteCommand({
          TableName: this.db.name,
          Key: leaseKey(hostId),
          ConditionExpression: "#owner = :owner",
          ExpressionAttributeNames: { "#owner": "owner" },
          ExpressionAttributeValues: { ":owner": owner },
        }),
      );
      if (deleted) released++;
    });
    return released;
  }

  async getLease(hostId: string): Promise<Lease | undefined> {
    const item = await this.db.getItem(leaseKey(hostId), LeaseItemSchema);
    return item && toRecord(item);
  }

  async placeHost(placement: HostPlacement): Promise<void> {
    const { rolloutId, hostId, toWave } = placement;
    const target = hostKey({ rolloutId, wave: toWave, hostId });
    const counted =
      placement.jobCount === undefined
        ? { jobCountReason: placement.jobCountReason ?? "no job count" }
        : { jobCount: placement.jobCount };
    const others = placement.fromWaves.filter((wave) => wave !== toWave);
    if (others.length === 0) {
      await this.db.conditional(
        new UpdateCommand({
          TableName: this.db.name,
          Key: target,
          UpdateExpression: `SET #order = :order, #counted = :counted, updatedAt = :now REMOVE #other`,
          ConditionExpression: "#status = :pending",
          ExpressionAttributeNames: {
            "#order": "order",
            "#status": "status",
            "#counted": Object.keys(counted)[0] as string,
            "#other": "jobCount" in counted ? "jobCountReason" : "jobCount",
          },
          ExpressionAttributeValues: {
            ":order": placement.order,
            ":counted": Object.values(counted)[0],
            ":pending": "PENDING",
            ":now": iso(placement.now),
          },
        }),
      );
      return;
    }
    const source = await this.db.getItem(
      hostKey({ rolloutId, wave: others[0] as number, hostId }),
      HostItemSchema,
    );
    if (source !== undefined && source.status === "PENDING") {
      const { jobCount: _count, jobCountReason: _reason, ...rest } = source;
      await this.db.conditional(
        new PutCommand({
          TableName: this.db.name,
          Item: parseItem(HostItemSchema, {
            ...rest,
            ...target,
            wave: toWave,
            order: placement.order,
            ...counted,
            updatedAt: iso(placement.now),
          }),
          ConditionExpression: "attribute_not_exists(pk) OR #status = :pending",
          ExpressionAttributeNames: { "#status": "status" },
          ExpressionAttributeValues: { ":pending": "PENDING" },
        }),
      );
    }
    // The new copy first: an interruption leaves the host twice, never nowhere.
    for (const wave of others) {
      await this.db.conditional(
        new DeleteCommand({
          TableName: this.db.name,
          Key: hostKey({ rolloutId, wave, hostId }),
          ConditionExpression: "#status = :pending",
          ExpressionAttributeNames: { "#status": "status" },
          ExpressionAttributeValues: { ":pending": "PENDING" },
        }),
      );
    }
  }

  async listHostIds(rolloutId: string): Promise<string[]> {
    const ids: string[] = [];
    for await (const page of paginateQuery(
      { client: this.db.client },
      { ...this.hostsQuery(rolloutId, HOSTS_PREFIX), ProjectionExpression: "sk" },
    )) {
      for (const item of page.Items ?? []) ids.push(hostIdOfSk(String(item.sk)));
    }
    return ids;
  }

  private readonly leaseOperations: LeaseOperations = {
    putLease: (item, replacing) => {
      const values: Record<string, unknown> = {};
      let condition: string;
      if (replacing === undefined) {
        condition = "attribute_not_exists(pk) OR #owner = :owner";
        values[":owner"] = item.owner;
      } else if (replacing.owner === undefined) {
        condition = "attribute_exists(pk) AND attribute_not_exists(#owner)";
      } else {
        condition = "#owner = :replacing";
        values[":replacing"] = replacing.owner;
      }
      return this.db.conditional(
        new PutCommand({
          TableName: this.db.name,
          Item: item,
          ConditionExpression: condition,
          ExpressionAttributeNames: { "#owner": "owner" },
          ...(Object.keys(values).length === 0 ? {} : { ExpressionAttributeValues: values }),
        }),
      );
    },
    getRawLease: (hostId) => this.db.getRawItem(leaseKey(hostId)),
    getHeldLock: (fleet) => this.getHeldLock(fleet),
    releaseLeases: (owner, hostIds) => this.releaseLeases(owner, hostIds),
  };

  async createRollout(rollout: NewRollout): Promise<"created" | "exists"> {
    const created = await this.db.conditional(
      new PutCommand({
        TableName: this.db.name,
        Item: newRolloutItem(rollout),
        ConditionExpression: "attribute_not_exists(pk)",
      }),
    );
    return created ? "created" : "exists";
  }

  async getRollout(rolloutId: string): Promise<Rollout | undefined> {
    const item = await this.db.getItem(rolloutKey(rolloutId), RolloutItemSchema);
    return item && toRecord(item);
  }

  async getRolloutFleet(rolloutId: string): Promise<string | undefined> {
    const item = await this.db.getItem(rolloutKey(rolloutId), RolloutFleetSchema, {
      ProjectionExpression: "fleet",
    });
    return item?.fleet;
  }

  async getRolloutGate(rolloutId: string): Promise<RolloutGate | undefined> {
    return this.db.getItem(rolloutKey(rolloutId), RolloutGateSchema.strip(), {
      ProjectionExpression: "#status, failedCount, failureThreshold",
      ExpressionAttributeNames: { "#status": "status" },
    });
  }

  async markRolloutRunning(rolloutId: string, now: number): Promise<void> {
    await this.db.conditional(
      new UpdateCommand({
        TableName: this.db.name,
        Key: rolloutKey(rolloutId),
        UpdateExpression: "SET #status = :running, updatedAt = :now",
        ConditionExpression: "#status = :planned",
        ExpressionAttributeNames: { "#status": "status" },
        ExpressionAttributeValues: {
          ":running": "RUNNING",
          ":planned": "PLANNED",
          ":now": iso(now),
        },
      }),
    );
  }

  async incrementFailedCount(rolloutId: string, now: number): Promise<void> {
    await this.db.client.send(
      new UpdateCommand({
        TableName: this.db.name,
        Key: rolloutKey(rolloutId),
        UpdateExpression: "ADD failedCount :one SET updatedAt = :now",
        ConditionExpression: "attribute_exists(pk)",
        ExpressionAttributeValues: { ":one": 1, ":now": iso(now) },
      }),
    );
  }

  async raiseFailedCount(rolloutId: string, count: number, now: number): Promise<void> {
    await this.db.conditional(
      new UpdateCommand({
        TableName: this.db.name,
        Key: rolloutKey(rolloutId),
        UpdateExpression: "SET failedCount = :count, updatedAt = :now",
        ConditionExpression: "failedCount < :count",
        ExpressionAttributeValues: { ":count": count, ":now": iso(now) },
      }),
    );
  }

  async recordHaltReason(rolloutId: string, reason: string, now: number): Promise<void> {
    await this.db.conditional(
      new UpdateCommand({
        TableName: this.db.name,
        Key: rolloutKey(rolloutId),
        UpdateExpression: "SET haltReason = :reason, updatedAt = :now",
        ConditionExpression: "attribute_exists(pk)",
        ExpressionAttributeValues: { ":reason": reason.slice(0, 1024), ":now": iso(now) },
      }),
    );
  }

  async recordApprovalRequest(
    rolloutId: string,
    request: { wave: number; taskToken: string },
    now: number,
  ): Promise<boolean> {
    return this.db.conditional(
      new UpdateCommand({
        TableName: this.db.name,
        Key: rolloutKey(rolloutId),
        UpdateExpression: "SET approval = :approval, updatedAt = :now",
        ConditionExpression: "#status = :running",
        ExpressionAttributeNames: { "#status": "status" },
        ExpressionAttributeValues: {
          ":approval": { ...request, requestedAt: iso(now) },
          ":running": "RUNNING",
          ":now": iso(now),
        },
      }),
    );
  }

  async finishRollout(args: FinishRolloutArgs): Promise<boolean> {
    const values: Record<string, unknown> = {
      ":status": args.status,
      ":now": iso(args.now),
      ":counts": args.counts,
    };
    let condition = "attribute_exists(pk)";
    if (args.from !== "any") {
      const allowed = [...new Set([...args.from, args.status])];
      condition += ` AND #status IN (${inList("from", allowed, values)})`;
    }
    let update = "SET #status = :status, updatedAt = :now, finishedAt = :now, #counts = :counts";
    const names: Record<string, string> = { "#status": "status", "#counts": "counts" };
    if (args.error !== undefined) {
      update += ", #error = :error";
      names["#error"] = "error";
      values[":error"] = args.error;
    }
    if (args.haltReason !== undefined) {
      update += ", haltReason = :haltReason";
      values[":haltReason"] = args.haltReason.slice(0, 1024);
    }
    return this.db.conditional(
      new UpdateCommand({
        TableName: this.db.name,
        Key: rolloutKey(args.rolloutId),
        UpdateExpression: update,
        ConditionExpression: condition,
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: values,
      }),
    );
  }

  async listRollouts(limit: number): Promise<RolloutSummary[]> {
    const names: Record<string, string> = {};
    const projection = ROLLOUT_SUMMARY_FIELDS.map((field, i) => {
      names[`#f${i}`] = field;
      return `#f${i}`;
    });
    const rollouts: RolloutSummary[] = [];
    const pages = paginateQuery(
      { client: this.db.client, pageSize: Math.min(limit, 100) },
      {
        TableName: this.db.name,
        IndexName: CLEANUP_INDEX.name,
        KeyConditionExpression: "gsi1pk = :rollouts",
        ExpressionAttributeValues: { ":rollouts": ROLLOUTS_PK },
        ProjectionExpression: `pk, sk, ${projection.join(", ")}`,
        ExpressionAttributeNames: names,
        ScanIndexForward: false,
      },
    );
    for await (const page of pages) {
      for (const item of page.Items ?? []) {
        rollouts.push(parseItem(ListedRolloutSchema, item));
        if (rollouts.length >= limit) return rollouts.map(toRecord);
      }
    }
    return rollouts.map(toRecord);
  }

  async putHosts(rolloutId: string, hosts: readonly NewHost[], now: number): Promise<void> {
    await this.db.batchPut(newHostItems(rolloutId, hosts, now));
  }

  async getHost(key: HostKey): Promise<Host | undefined> {
    const item = await this.db.getItem(hostKey(key), HostItemSchema);
    return item && toRecord(item);
  }

  async listWaveHosts(rolloutId: string, wave: number): Promise<Host[]> {
    const hosts = await this.queryHosts(rolloutId, wavePrefix(wave));
    return hosts.sort((a, b) => a.order - b.order);
  }

  async listHosts(rolloutId: string): Promise<Host[]> {
    const hosts = await this.queryHosts(rolloutId, HOSTS_PREFIX);
    return hosts.sort((a, b) => a.wave - b.wave || a.order - b.order);
  }

  async listHostsSkippingCorrupt(rolloutId: string): Promise<Listing<Host>> {
    const listing = await this.db.queryAllSkippingCorrupt(
      this.hostsQuery(rolloutId, HOSTS_PREFIX),
      HostItemSchema,
    );
    const hosts = listing.items.map(toRecord);
    return {
      items: hosts.sort((a, b) => a.wave - b.wave || a.order - b.order),
      corrupt: listing.corrupt,
    };
  }

  async recordCommand(args: RecordCommandArgs): Promise<RecordCommandResult> {
    const values: Record<string, unknown> = {
      ":commandId": args.commandId,
      ":status": args.status,
      ":now": iso(args.now),
    };
    const from = inList("from", args.from, values);
    const recorded = await this.db.conditional(
      new UpdateCommand({
        TableName: this.db.name,
        Key: hostKey(args.key),
        UpdateExpression: "SET #commands.#step = :commandId, #status = :status, updatedAt = :now",
        ConditionExpression: `attribute_not_exists(#commands.#step) AND #status IN (${from})`,
        ExpressionAttributeNames: {
          "#commands": "commands",
          "#step": args.step,
          "#status": "status",
        },
        ExpressionAttributeValues: values,
      }),
    );
    if (recorded) return { recorded: true, commandId: args.commandId };
    const host = await this.getHost(args.key);
    const existing = host?.commands[args.step];
    if (existing !== undefined) return { recorded: false, commandId: existing };
    throw new LedgerConflictError(
      host === undefined
        ? `host ${args.key.hostId} of rollout ${args.key.rolloutId} is not in the ledger`
        : `host ${args.key.hostId} is ${host.status}; ${args.step} expects ${args.from.join(" or ")}`,
    );
  }

  async recordStepResult(args: RecordStepResultArgs): Promise<void> {
    const sets = ["#stepMs.#step = :stepMs", "updatedAt = :now", "#endedAt = :now"];
    const values: Record<string, unknown> = {
      ":stepMs": args.fields.stepMs,
      ":now": iso(args.now),
      ":commandId": args.commandId,
    };
    for (const field of [
      "fromVersion",
      "toVersion",
      "suspendMs",
      "listenerGapMs",
      "unservedMs",
      "adoptRolloutId",
      "runningVersion",
    ] as const) {
      const value = args.fields[field];
      if (value !== undefined) {
        sets.push(`${field} = :${field}`);
        values[`:${field}`] = value;
      }
    }
    const ok = await this.db.conditional(
      new UpdateCommand({
        TableName: this.db.name,
        Key: hostKey(args.key),
        UpdateExpression: `SET ${sets.join(", ")}`,
        ConditionExpression: "#commands.#step = :commandId",
        ExpressionAttributeNames: {
          "#commands": "commands",
          "#stepMs": "stepMs",
          "#step": args.step,
          "#endedAt": stepEndedAtField(args.step),
        },
        ExpressionAttributeValues: values,
      }),
    );
    if (!ok) {
      throw new LedgerConflictError(
        `host ${args.key.hostId}: ${args.step} command ${args.commandId} is not the one recorded`,
      );
    }
  }

  async finalizeHost(
    args: FinalizeHostArgs,
  ): Promise<{ transitioned: boolean; status: HostStatus }> {
    const values: Record<string, unknown> = { ":final": args.status, ":now": iso(args.now) };
    const active = inList("active", ACTIVE_HOST_STATUSES, values);
    const names: Record<string, string> = { "#status": "status" };
    let update = "SET #status = :final, updatedAt = :now";
    if (args.error !== undefined) {
      update += ", #error = :error";
      names["#error"] = "error";
      values[":error"] = args.error;
    }
    const transitioned = await this.db.conditional(
      new UpdateCommand({
        TableName: this.db.name,
        Key: hostKey(args.key),
        UpdateExpression: update,
        ConditionExpression: `#status IN (${active})`,
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: values,
      }),
    );
    if (transitioned) return { transitioned: true, status: args.status };
    const host = await this.getHost(args.key);
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
    const values: Record<string, unknown> = {
      ":failed": args.status,
      ":upgraded": "UPGRADED",
      ":error": args.error,
      ":now": iso(args.now),
    };
    let update = "SET #status = :failed, #error = :error, updatedAt = :now";
    if (args.runningVersion !== undefined) {
      update += ", runningVersion = :running";
      values[":running"] = args.runningVersion;
    }
    const transitioned = await this.db.conditional(
      new UpdateCommand({
        TableName: this.db.name,
        Key: hostKey(args.key),
        UpdateExpression: update,
        ConditionExpression: "#status = :upgraded",
        ExpressionAttributeNames: { "#status": "status", "#error": "error" },
        ExpressionAttributeValues: values,
      }),
    );
    if (transitioned) return { transitioned: true, status: args.status };
    const host = await this.getHost(args.key);
    if (host === undefined) {
      throw new LedgerConflictError(
        `host ${args.key.hostId} of rollout ${args.key.rolloutId} is not in the ledger`,
      );
    }
    return { transitioned: false, status: host.status };
  }

  async putSnapshot(args: NewSnapshot): Promise<"created" | "exists"> {
    const { snapshot, chunks } = newSnapshotItems(args);
    await this.db.batchPut(chunks);
    const created = await this.db.conditional(
      new PutCommand({
        TableName: this.db.name,
        Item: snapshot,
        ConditionExpression: "attribute_not_exists(pk)",
      }),
    );
    if (created) return "created";
    const existing = await this.getSnapshot(args.hostId, args.rolloutId);
    if (existing?.jobsSha256 === snapshot.jobsSha256) return "exists";
    throw new LedgerConflictError(
      `snapshot of host ${args.hostId} for rollout ${args.rolloutId} already exists with other jobs`,
    );
  }

  async getSnapshot(hostId: string, rolloutId: string): Promise<Snapshot | undefined> {
    const item = await this.db.getItem(snapshotKey(hostId, rolloutId), SnapshotItemSchema);
    return item && toRecord(item);
  }

  async listPendingCleanups(): Promise<Listing<Snapshot>> {
    const listing = await this.db.queryAllSkippingCorrupt(
      {
        TableName: this.db.name,
        IndexName: CLEANUP_INDEX.name,
        KeyConditionExpression: "gsi1pk = :pending",
        ExpressionAttributeValues: { ":pending": CLEANUP_PENDING_PK },
      },
      SnapshotItemSchema,
    );
    return { items: listing.items.map(toRecord), corrupt: listing.corrupt };
  }

  async completeCleanup(args: CleanupResultArgs): Promise<boolean> {
    return this.db.conditional(
      new UpdateCommand({
        TableName: this.db.name,
        Key: snapshotKey(args.hostId, args.rolloutId),
        UpdateExpression:
          "SET #cleanup = :done, lastCheckedAt = :now, lastResult = :result ADD attempts :one REMOVE gsi1pk, gsi1sk",
        ConditionExpression: "#cleanup = :pending",
        ExpressionAttributeNames: { "#cleanup": "cleanup" },
        ExpressionAttributeValues: {
          ":done": "DONE",
          ":pending": "PENDING",
          ":now": iso(args.now),
          ":result": args.result,
          ":one": 1,
        },
      }),
    );
  }

  async recordCleanupAttempt(args: CleanupResultArgs): Promise<boolean> {
    return this.db.conditional(
      new UpdateCommand({
        TableName: this.db.name,
        Key: snapshotKey(args.hostId, args.rolloutId),
        UpdateExpression: "SET lastCheckedAt = :now, lastResult = :result ADD attempts :one",
        ConditionExpression: "#cleanup = :pending",
        ExpressionAttributeNames: { "#cleanup": "cleanup" },
        ExpressionAttributeValues: {
          ":pending": "PENDING",
          ":now": iso(args.now),
          ":result": args.result,
          ":one": 1,
        },
      }),
    );
  }

  private async queryHosts(rolloutId: string, prefix: string): Promise<Host[]> {
    const items = await this.db.queryAll(this.hostsQuery(rolloutId, prefix), HostItemSchema);
    return items.map(toRecord);
  }

  private hostsQuery(rolloutId: string, prefix: string) {
    return {
      TableName: this.db.name,
      KeyConditionExpression: "pk = :pk AND begins_with(sk, :prefix)",
      ExpressionAttributeValues: { ":pk": rolloutPk(rolloutId), ":prefix": prefix },
      ConsistentRead: true,
    };
  }
}
