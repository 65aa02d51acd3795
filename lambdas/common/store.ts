/**
 * The rollout ledger: one DynamoDB table (docs/contracts.md, "Ledger"). Handlers use
 * the {@link LedgerStore} interface; {@link DynamoLedgerStore} implements it with the
 * document client.
 *
 * Every write that a retry may repeat is conditional on the state the writer
 * expects, so a repeat either does nothing or is recognised as a repeat. There are
 * no transactions (local mode's dynalite lacks them): multi-item writes are ordered
 * so that a crash leaves the ledger readable, e.g. snapshot chunks before the
 * snapshot item that announces them.
 *
 * @module
 */
import {
  BatchWriteCommand,
  type BatchWriteCommandInput,
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  paginateQuery,
  type QueryCommandInput,
  UpdateCommand,
} from "@aws-sdk/lib-dynamodb";
import { z } from "zod";
import {
  FleetLockedError,
  InvalidLedgerItemError,
  isConditionalCheckFailed,
  LedgerConflictError,
} from "./errors.js";
import {
  InstanceIdSchema,
  JobEntrySchema,
  RolloutIdSchema,
  RolloutInputSchema,
  type StepName,
  StepNameSchema,
  WaveSchema,
} from "./schemas.js";

// ---------------------------------------------------------------------------
// Keys

/** Partition key of a rollout and its hosts. */
export const rolloutPk = (rolloutId: string): string => `ROLLOUT#${rolloutId}`;
/** Sort key of the rollout item. */
export const ROLLOUT_SK = "ROLLOUT";
/** Sort-key prefix of a wave's host items: `HOST#<wave:4>#`. */
export const wavePrefix = (wave: number): string => `HOST#${String(wave).padStart(4, "0")}#`;
/** Sort key of a host item. */
export const hostSk = (wave: number, hostId: string): string => `${wavePrefix(wave)}${hostId}`;
/** Partition key of a host's snapshots. */
export const snapshotPk = (hostId: string): string => `HOST#${hostId}`;
/** Sort key of a snapshot item. */
export const snapshotSk = (rolloutId: string): string => `SNAPSHOT#${rolloutId}`;
/** Sort key of snapshot chunk `n` (from 0). */
export const chunkSk = (rolloutId: string, n: number): string =>
  `${snapshotSk(rolloutId)}#JOBS#${String(n).padStart(4, "0")}`;
/** Partition key of a fleet lock. */
export const lockPk = (fleet: string): string => `LOCK#${fleet}`;
/** Sort key of a lock item. */
export const LOCK_SK = "LOCK";
/** Sparse GSI name and its partition value for pending cleanups. */
export const CLEANUP_INDEX = "gsi1";
/** `gsi1pk` of a snapshot while its cleanup is pending. */
export const CLEANUP_PENDING_PK = "CLEANUP#PENDING";
/** Jobs per snapshot chunk (keeps a chunk well under DynamoDB's 400 KB item limit). */
export const JOBS_PER_CHUNK = 1000;

// ---------------------------------------------------------------------------
// Item schemas (strict, versioned: a reader refuses an item it does not understand)

const IsoTime = z.iso.datetime();
const ErrorInfoSchema = z.strictObject({ name: z.string(), message: z.string() });
/** `{name, message}` stored for a failed host or rollout. */
export type ErrorInfo = z.infer<typeof ErrorInfoSchema>;

/** Rollout statuses. */
export const RolloutStatusSchema = z.enum(["PLANNED", "RUNNING", "SUCCEEDED", "HALTED", "FAILED"]);
/** See {@link RolloutStatusSchema}. */
export type RolloutStatus = z.infer<typeof RolloutStatusSchema>;

/** Host statuses. */
export const HostStatusSchema = z.enum([
  "PENDING",
  "PREFLIGHT",
  "STAGING",
  "SWITCHING",
  "UPGRADED",
  "SKIPPED",
  "ROLLED_BACK",
  "FAILED",
  "NOT_STARTED",
]);
/** See {@link HostStatusSchema}. */
export type HostStatus = z.infer<typeof HostStatusSchema>;

/** Statuses a host leaves only by a new rollout. */
export const FINAL_HOST_STATUSES: readonly HostStatus[] = [
  "UPGRADED",
  "SKIPPED",
  "ROLLED_BACK",
  "FAILED",
  "NOT_STARTED",
];
/** Statuses of a host whose item processor is still running. */
export const ACTIVE_HOST_STATUSES: readonly HostStatus[] = [
  "PENDING",
  "PREFLIGHT",
  "STAGING",
  "SWITCHING",
];
/** Final statuses that count against the failure threshold. */
export const FAILURE_HOST_STATUSES: readonly HostStatus[] = ["ROLLED_BACK", "FAILED"];

/** Host counts by status. */
export const StatusCountsSchema = z.record(z.string(), z.int().nonnegative());

/** Rollout item. */
export const RolloutItemSchema = z.strictObject({
  pk: z.string(),
  sk: z.literal(ROLLOUT_SK),
  kind: z.literal("rollout"),
  schemaVersion: z.literal(1),
  rolloutId: RolloutIdSchema,
  status: RolloutStatusSchema,
  input: RolloutInputSchema,
  fleet: z.string(),
  profile: z.string(),
  targetVersion: z.string(),
  hostCount: z.int().nonnegative(),
  waveCount: z.int().nonnegative(),
  failureThreshold: z.int().nonnegative(),
  failedCount: z.int().nonnegative(),
  createdAt: IsoTime,
  updatedAt: IsoTime,
  finishedAt: IsoTime.optional(),
  counts: StatusCountsSchema.optional(),
  error: ErrorInfoSchema.optional(),
});
/** See {@link RolloutItemSchema}. */
export type RolloutItem = z.infer<typeof RolloutItemSchema>;

/** The live fields of a rollout that decide whether another host may start. */
export const RolloutGateSchema = RolloutItemSchema.pick({
  status: true,
  failedCount: true,
  failureThreshold: true,
});
/** See {@link RolloutGateSchema}. */
export type RolloutGate = z.infer<typeof RolloutGateSchema>;

/** Host item (one per host per rollout). */
export const HostItemSchema = z.strictObject({
  pk: z.string(),
  sk: z.string(),
  kind: z.literal("host"),
  schemaVersion: z.literal(1),
  rolloutId: RolloutIdSchema,
  hostId: InstanceIdSchema,
  instanceId: InstanceIdSchema,
  wave: WaveSchema,
  order: z.int().nonnegative(),
  status: HostStatusSchema,
  fromVersion: z.string().optional(),
  toVersion: z.string().optional(),
  commands: z.partialRecord(StepNameSchema, z.string()),
  stepMs: z.partialRecord(StepNameSchema, z.number().nonnegative()),
  suspendMs: z.number().nonnegative().optional(),
  listenerGapMs: z.number().nonnegative().optional(),
  error: ErrorInfoSchema.optional(),
  updatedAt: IsoTime,
});
/** See {@link HostItemSchema}. */
export type HostItem = z.infer<typeof HostItemSchema>;

/** What the last cleanup attempt found. */
export const CleanupAttemptSchema = z.strictObject({
  status: z.string(),
  reason: z.string().optional(),
  alive: z.number().optional(),
  error: ErrorInfoSchema.optional(),
});
/** See {@link CleanupAttemptSchema}. */
export type CleanupAttempt = z.infer<typeof CleanupAttemptSchema>;

/** Job snapshot taken by a switch (the jobs themselves live in chunk items). */
export const SnapshotItemSchema = z.strictObject({
  pk: z.string(),
  sk: z.string(),
  kind: z.literal("snapshot"),
  schemaVersion: z.literal(1),
  hostId: InstanceIdSchema,
  rolloutId: RolloutIdSchema,
  instanceId: InstanceIdSchema,
  profile: z.string(),
  oldVersion: z.string(),
  oldRelease: z.string(),
  jobCount: z.int().nonnegative(),
  jobsSha256: z.string(),
  chunkCount: z.int().nonnegative(),
  cleanup: z.enum(["PENDING", "DONE"]),
  gsi1pk: z.literal(CLEANUP_PENDING_PK).optional(),
  gsi1sk: z.string().optional(),
  attempts: z.int().nonnegative(),
  createdAt: IsoTime,
  lastCheckedAt: IsoTime.optional(),
  lastResult: CleanupAttemptSchema.optional(),
});
/** See {@link SnapshotItemSchema}. */
export type SnapshotItem = z.infer<typeof SnapshotItemSchema>;

/** Up to {@link JOBS_PER_CHUNK} jobs of a snapshot. */
export const SnapshotChunkItemSchema = z.strictObject({
  pk: z.string(),
  sk: z.string(),
  kind: z.literal("snapshot-chunk"),
  schemaVersion: z.literal(1),
  rolloutId: RolloutIdSchema,
  index: z.int().nonnegative(),
  jobs: z.array(JobEntrySchema).max(JOBS_PER_CHUNK),
});
/** See {@link SnapshotChunkItemSchema}. */
export type SnapshotChunkItem = z.infer<typeof SnapshotChunkItemSchema>;

/** Fleet lock. */
export const LockItemSchema = z.strictObject({
  pk: z.string(),
  sk: z.literal(LOCK_SK),
  kind: z.literal("lock"),
  schemaVersion: z.literal(1),
  fleet: z.string(),
  owner: RolloutIdSchema,
  acquiredAt: IsoTime,
  /** Epoch seconds. */
  expiresAt: z.int(),
});
/** See {@link LockItemSchema}. */
export type LockItem = z.infer<typeof LockItemSchema>;

// ---------------------------------------------------------------------------
// Interface

/** Identifies a host item. */
export interface HostKey {
  readonly rolloutId: string;
  readonly wave: number;
  readonly hostId: string;
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

/** Data access of the handlers. Times are epoch milliseconds unless named otherwise. */
export interface LedgerStore {
  /**
   * Takes the fleet lock: succeeds when the lock is absent, expired, already owned by
   * `owner` (a retry) or owned by `breakLock`; else throws {@link FleetLockedError}.
   */
  acquireLock(args: {
    fleet: string;
    owner: string;
    now: number;
    ttlSeconds: number;
    breakLock?: string;
  }): Promise<LockItem>;
  /** Pushes the lock's expiry; false when `owner` no longer holds it. */
  refreshLock(args: {
    fleet: string;
    owner: string;
    now: number;
    ttlSeconds: number;
  }): Promise<boolean>;
  /** Deletes the lock if `owner` holds it; false when absent or held by another. */
  releaseLock(fleet: string, owner: string): Promise<boolean>;
  /** The lock item, if any. */
  getLock(fleet: string): Promise<LockItem | undefined>;

  /** Writes a new rollout item; "exists" when one with this id is already there. */
  createRollout(item: RolloutItem): Promise<"created" | "exists">;
  /** The rollout item (strongly consistent read). */
  getRollout(rolloutId: string): Promise<RolloutItem | undefined>;
  /**
   * Only what the preflight gate needs, read fresh. The rollout item carries the whole
   * input (up to 10,000 host ids): the gate must not read that once per host.
   */
  getRolloutGate(rolloutId: string): Promise<RolloutGate | undefined>;
  /** PLANNED → RUNNING; no-op when already past PLANNED. */
  markRolloutRunning(rolloutId: string, now: number): Promise<void>;
  /** Adds one to `failedCount`. */
  incrementFailedCount(rolloutId: string, now: number): Promise<void>;
  /** Raises `failedCount` to `count` if lower (repairs a count a crash left behind). */
  raiseFailedCount(rolloutId: string, count: number, now: number): Promise<void>;
  /**
   * Sets the final status, counts and error. Only from `from` statuses (or the same
   * final status, a retry); `from: "any"` for the failure path.
   * Returns false when the rollout is in another state.
   */
  finishRollout(args: {
    rolloutId: string;
    status: RolloutStatus;
    counts: Record<string, number>;
    error?: ErrorInfo;
    now: number;
    from: readonly RolloutStatus[] | "any";
  }): Promise<boolean>;

  /** Writes host items (BatchWriteItem, unprocessed items retried). */
  putHosts(items: readonly HostItem[]): Promise<void>;
  /** One host item (strongly consistent read). */
  getHost(key: HostKey): Promise<HostItem | undefined>;
  /** Host items of a wave, in `order`. */
  listWaveHosts(rolloutId: string, wave: number): Promise<HostItem[]>;
  /** All host items of a rollout, in wave then `order`. */
  listHosts(rolloutId: string): Promise<HostItem[]>;
  /**
   * Records the command sent for `step` and moves the host to `status`, if the host
   * has no command for that step yet and is in one of `from`. When another attempt
   * got there first, returns its command id.
   */
  recordCommand(args: {
    key: HostKey;
    step: StepName;
    commandId: string;
    status: HostStatus;
    from: readonly HostStatus[];
    now: number;
  }): Promise<RecordCommandResult>;
  /** Records a finished step's timings and versions, conditional on its command id. */
  recordStepResult(args: {
    key: HostKey;
    step: StepName;
    commandId: string;
    fields: StepResultFields;
    now: number;
  }): Promise<void>;
  /**
   * Moves a host into a final status if it is not in one yet. `transitioned` is false
   * when it already was (then `status` is the status found).
   */
  finalizeHost(args: {
    key: HostKey;
    status: HostStatus;
    error?: ErrorInfo;
    now: number;
  }): Promise<{ transitioned: boolean; status: HostStatus }>;

  /**
   * Writes a snapshot's chunks, then the snapshot item (so the item never announces
   * chunks that are not there). "exists" when the same snapshot was written before.
   */
  putSnapshot(
    snapshot: SnapshotItem,
    chunks: readonly SnapshotChunkItem[],
  ): Promise<"created" | "exists">;
  /** The snapshot a rollout's switch recorded for a host (without its job chunks). */
  getSnapshot(hostId: string, rolloutId: string): Promise<SnapshotItem | undefined>;
  /** Snapshots whose cleanup is pending (sparse GSI), oldest first. */
  listPendingCleanups(): Promise<SnapshotItem[]>;
  /** Marks a cleanup done and drops the GSI keys; false when it was no longer pending. */
  completeCleanup(args: {
    hostId: string;
    rolloutId: string;
    result: CleanupAttempt;
    now: number;
  }): Promise<boolean>;
  /** Counts a cleanup attempt that left the snapshot pending; false when no longer pending. */
  recordCleanupAttempt(args: {
    hostId: string;
    rolloutId: string;
    result: CleanupAttempt;
    now: number;
  }): Promise<boolean>;
}

// ---------------------------------------------------------------------------
// DynamoDB implementation

/** Options of {@link DynamoLedgerStore}. */
export interface DynamoLedgerStoreOptions {
  /** Document client (created with `removeUndefinedValues`). */
  readonly client: DynamoDBDocumentClient;
  /** Ledger table name. */
  readonly tableName: string;
  /** Waits between BatchWriteItem retries of unprocessed items. @default setTimeout */
  readonly sleep?: (ms: number) => Promise<void>;
  /** BatchWriteItem attempts before giving up on unprocessed items. @default 8 */
  readonly batchAttempts?: number;
}

const iso = (ms: number): string => new Date(ms).toISOString();
const epochSeconds = (ms: number): number => Math.floor(ms / 1000);
const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function parseItem<S extends z.ZodType>(schema: S, item: unknown, what: string): z.output<S> {
  const result = schema.safeParse(item);
  if (!result.success) {
    const first = result.error.issues[0];
    throw new InvalidLedgerItemError(
      `${what}: ${first === undefined ? "invalid" : `${first.path.join(".")}: ${first.message}`}`,
    );
  }
  return result.data;
}

/** {@link LedgerStore} on one DynamoDB table. */
export class DynamoLedgerStore implements LedgerStore {
  private readonly client: DynamoDBDocumentClient;
  private readonly table: string;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly batchAttempts: number;

  constructor(options: DynamoLedgerStoreOptions) {
    this.client = options.client;
    this.table = options.tableName;
    this.sleep = options.sleep ?? defaultSleep;
    this.batchAttempts = options.batchAttempts ?? 8;
  }

  async acquireLock(args: {
    fleet: string;
    owner: string;
    now: number;
    ttlSeconds: number;
    breakLock?: string;
  }): Promise<LockItem> {
    const item: LockItem = {
      pk: lockPk(args.fleet),
      sk: LOCK_SK,
      kind: "lock",
      schemaVersion: 1,
      fleet: args.fleet,
      owner: args.owner,
      acquiredAt: iso(args.now),
      expiresAt: epochSeconds(args.now) + args.ttlSeconds,
    };
    const breaking = args.breakLock !== undefined;
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.table,
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
      return item;
    } catch (error) {
      if (!isConditionalCheckFailed(error)) throw error;
      const held = await this.getLock(args.fleet);
      // Released between our write and our read: the caller may simply try again.
      const owner = held?.owner ?? "(released)";
      const expiresAt = held?.expiresAt ?? 0;
      throw new FleetLockedError(
        `fleet "${args.fleet}" is locked by rollout ${owner} until ${iso(expiresAt * 1000)}; ` +
          `wait for it, or pass breakLock: "${owner}" if that rollout is dead`,
        owner,
        expiresAt,
      );
    }
  }

  async refreshLock(args: {
    fleet: string;
    owner: string;
    now: number;
    ttlSeconds: number;
  }): Promise<boolean> {
    return this.conditional(
      new UpdateCommand({
        TableName: this.table,
        Key: { pk: lockPk(args.fleet), sk: LOCK_SK },
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
    return this.conditional(
      new DeleteCommand({
        TableName: this.table,
        Key: { pk: lockPk(fleet), sk: LOCK_SK },
        ConditionExpression: "#owner = :owner",
        ExpressionAttributeNames: { "#owner": "owner" },
        ExpressionAttributeValues: { ":owner": owner },
      }),
    );
  }

  async getLock(fleet: string): Promise<LockItem | undefined> {
    const out = await this.client.send(
      new GetCommand({
        TableName: this.table,
        Key: { pk: lockPk(fleet), sk: LOCK_SK },
        ConsistentRead: true,
      }),
    );
    return out.Item === undefined ? undefined : parseItem(LockItemSchema, out.Item, "lock item");
  }

  async createRollout(item: RolloutItem): Promise<"created" | "exists"> {
    const created = await this.conditional(
      new PutCommand({
        TableName: this.table,
        Item: parseItem(RolloutItemSchema, item, "rollout item"),
        ConditionExpression: "attribute_not_exists(pk)",
      }),
    );
    return created ? "created" : "exists";
  }

  async getRollout(rolloutId: string): Promise<RolloutItem | undefined> {
    const out = await this.client.send(
      new GetCommand({
        TableName: this.table,
        Key: { pk: rolloutPk(rolloutId), sk: ROLLOUT_SK },
        ConsistentRead: true,
      }),
    );
    return out.Item === undefined
      ? undefined
      : parseItem(RolloutItemSchema, out.Item, `rollout ${rolloutId}`);
  }

  async getRolloutGate(rolloutId: string): Promise<RolloutGate | undefined> {
    const out = await this.client.send(
      new GetCommand({
        TableName: this.table,
        Key: { pk: rolloutPk(rolloutId), sk: ROLLOUT_SK },
        ProjectionExpression: "#status, failedCount, failureThreshold",
        ExpressionAttributeNames: { "#status": "status" },
        ConsistentRead: true,
      }),
    );
    return out.Item === undefined
      ? undefined
      : parseItem(RolloutGateSchema.strip(), out.Item, `rollout ${rolloutId} gate`);
  }

  async markRolloutRunning(rolloutId: string, now: number): Promise<void> {
    await this.conditional(
      new UpdateCommand({
        TableName: this.table,
        Key: { pk: rolloutPk(rolloutId), sk: ROLLOUT_SK },
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
    await this.client.send(
      new UpdateCommand({
        TableName: this.table,
        Key: { pk: rolloutPk(rolloutId), sk: ROLLOUT_SK },
        UpdateExpression: "ADD failedCount :one SET updatedAt = :now",
        ConditionExpression: "attribute_exists(pk)",
        ExpressionAttributeValues: { ":one": 1, ":now": iso(now) },
      }),
    );
  }

  async raiseFailedCount(rolloutId: string, count: number, now: number): Promise<void> {
    await this.conditional(
      new UpdateCommand({
        TableName: this.table,
        Key: { pk: rolloutPk(rolloutId), sk: ROLLOUT_SK },
        UpdateExpression: "SET failedCount = :count, updatedAt = :now",
        ConditionExpression: "failedCount < :count",
        ExpressionAttributeValues: { ":count": count, ":now": iso(now) },
      }),
    );
  }

  async finishRollout(args: {
    rolloutId: string;
    status: RolloutStatus;
    counts: Record<string, number>;
    error?: ErrorInfo;
    now: number;
    from: readonly RolloutStatus[] | "any";
  }): Promise<boolean> {
    const values: Record<string, unknown> = {
      ":status": args.status,
      ":now": iso(args.now),
      ":counts": args.counts,
    };
    let condition = "attribute_exists(pk)";
    if (args.from !== "any") {
      const allowed = [...new Set([...args.from, args.status])];
      const names = allowed.map((status, i) => {
        values[`:from${i}`] = status;
        return `:from${i}`;
      });
      condition += ` AND #status IN (${names.join(", ")})`;
    }
    let update = "SET #status = :status, updatedAt = :now, finishedAt = :now, #counts = :counts";
    const attributeNames: Record<string, string> = { "#status": "status", "#counts": "counts" };
    if (args.error !== undefined) {
      update += ", #error = :error";
      attributeNames["#error"] = "error";
      values[":error"] = args.error;
    }
    return this.conditional(
      new UpdateCommand({
        TableName: this.table,
        Key: { pk: rolloutPk(args.rolloutId), sk: ROLLOUT_SK },
        UpdateExpression: update,
        ConditionExpression: condition,
        ExpressionAttributeNames: attributeNames,
        ExpressionAttributeValues: values,
      }),
    );
  }

  async putHosts(items: readonly HostItem[]): Promise<void> {
    await this.batchPut(items.map((item) => parseItem(HostItemSchema, item, "host item")));
  }

  async getHost(key: HostKey): Promise<HostItem | undefined> {
    const out = await this.client.send(
      new GetCommand({
        TableName: this.table,
        Key: { pk: rolloutPk(key.rolloutId), sk: hostSk(key.wave, key.hostId) },
        ConsistentRead: true,
      }),
    );
    return out.Item === undefined
      ? undefined
      : parseItem(HostItemSchema, out.Item, `host ${key.hostId}`);
  }

  async listWaveHosts(rolloutId: string, wave: number): Promise<HostItem[]> {
    const hosts = await this.queryAll(
      {
        TableName: this.table,
        KeyConditionExpression: "pk = :pk AND begins_with(sk, :prefix)",
        ExpressionAttributeValues: { ":pk": rolloutPk(rolloutId), ":prefix": wavePrefix(wave) },
        ConsistentRead: true,
      },
      (item) => parseItem(HostItemSchema, item, "host item"),
    );
    return hosts.sort((a, b) => a.order - b.order);
  }

  async listHosts(rolloutId: string): Promise<HostItem[]> {
    const hosts = await this.queryAll(
      {
        TableName: this.table,
        KeyConditionExpression: "pk = :pk AND begins_with(sk, :prefix)",
        ExpressionAttributeValues: { ":pk": rolloutPk(rolloutId), ":prefix": "HOST#" },
        ConsistentRead: true,
      },
      (item) => parseItem(HostItemSchema, item, "host item"),
    );
    return hosts.sort((a, b) => a.wave - b.wave || a.order - b.order);
  }

  async recordCommand(args: {
    key: HostKey;
    step: StepName;
    commandId: string;
    status: HostStatus;
    from: readonly HostStatus[];
    now: number;
  }): Promise<RecordCommandResult> {
    const values: Record<string, unknown> = {
      ":commandId": args.commandId,
      ":status": args.status,
      ":now": iso(args.now),
    };
    const from = args.from.map((status, i) => {
      values[`:from${i}`] = status;
      return `:from${i}`;
    });
    const recorded = await this.conditional(
      new UpdateCommand({
        TableName: this.table,
        Key: { pk: rolloutPk(args.key.rolloutId), sk: hostSk(args.key.wave, args.key.hostId) },
        UpdateExpression: "SET #commands.#step = :commandId, #status = :status, updatedAt = :now",
        ConditionExpression: `attribute_not_exists(#commands.#step) AND #status IN (${from.join(", ")})`,
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

  async recordStepResult(args: {
    key: HostKey;
    step: StepName;
    commandId: string;
    fields: StepResultFields;
    now: number;
  }): Promise<void> {
    const sets = ["#stepMs.#step = :stepMs", "updatedAt = :now"];
    const values: Record<string, unknown> = {
      ":stepMs": args.fields.stepMs,
      ":now": iso(args.now),
      ":commandId": args.commandId,
    };
    for (const field of ["fromVersion", "toVersion", "suspendMs", "listenerGapMs"] as const) {
      const value = args.fields[field];
      if (value !== undefined) {
        sets.push(`${field} = :${field}`);
        values[`:${field}`] = value;
      }
    }
    const ok = await this.conditional(
      new UpdateCommand({
        TableName: this.table,
        Key: { pk: rolloutPk(args.key.rolloutId), sk: hostSk(args.key.wave, args.key.hostId) },
        UpdateExpression: `SET ${sets.join(", ")}`,
        ConditionExpression: "#commands.#step = :commandId",
        ExpressionAttributeNames: {
          "#commands": "commands",
          "#stepMs": "stepMs",
          "#step": args.step,
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

  async finalizeHost(args: {
    key: HostKey;
    status: HostStatus;
    error?: ErrorInfo;
    now: number;
  }): Promise<{ transitioned: boolean; status: HostStatus }> {
    const values: Record<string, unknown> = { ":final": args.status, ":now": iso(args.now) };
    const active = ACTIVE_HOST_STATUSES.map((status, i) => {
      values[`:active${i}`] = status;
      return `:active${i}`;
    });
    const names: Record<string, string> = { "#status": "status" };
    let update = "SET #status = :final, updatedAt = :now";
    if (args.error !== undefined) {
      update += ", #error = :error";
      names["#error"] = "error";
      values[":error"] = args.error;
    }
    const transitioned = await this.conditional(
      new UpdateCommand({
        TableName: this.table,
        Key: { pk: rolloutPk(args.key.rolloutId), sk: hostSk(args.key.wave, args.key.hostId) },
        UpdateExpression: update,
        ConditionExpression: `#status IN (${active.join(", ")})`,
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

  async putSnapshot(
    snapshot: SnapshotItem,
    chunks: readonly SnapshotChunkItem[],
  ): Promise<"created" | "exists"> {
    const item = parseItem(SnapshotItemSchema, snapshot, "snapshot item");
    await this.batchPut(chunks.map((chunk) => parseItem(SnapshotChunkItemSchema, chunk, "chunk")));
    const created = await this.conditional(
      new PutCommand({
        TableName: this.table,
        Item: item,
        ConditionExpression: "attribute_not_exists(pk)",
      }),
    );
    if (created) return "created";
    const out = await this.client.send(
      new GetCommand({
        TableName: this.table,
        Key: { pk: item.pk, sk: item.sk },
        ConsistentRead: true,
      }),
    );
    const existing =
      out.Item === undefined ? undefined : parseItem(SnapshotItemSchema, out.Item, "snapshot");
    if (existing?.jobsSha256 === item.jobsSha256) return "exists";
    throw new LedgerConflictError(
      `snapshot of host ${item.hostId} for rollout ${item.rolloutId} already exists with other jobs`,
    );
  }

  async getSnapshot(hostId: string, rolloutId: string): Promise<SnapshotItem | undefined> {
    const out = await this.client.send(
      new GetCommand({
        TableName: this.table,
        Key: { pk: snapshotPk(hostId), sk: snapshotSk(rolloutId) },
        ConsistentRead: true,
      }),
    );
    return out.Item === undefined
      ? undefined
      : parseItem(SnapshotItemSchema, out.Item, `snapshot ${hostId}/${rolloutId}`);
  }

  async listPendingCleanups(): Promise<SnapshotItem[]> {
    return this.queryAll(
      {
        TableName: this.table,
        IndexName: CLEANUP_INDEX,
        KeyConditionExpression: "gsi1pk = :pending",
        ExpressionAttributeValues: { ":pending": CLEANUP_PENDING_PK },
      },
      (item) => parseItem(SnapshotItemSchema, item, "snapshot item"),
    );
  }

  async completeCleanup(args: {
    hostId: string;
    rolloutId: string;
    result: CleanupAttempt;
    now: number;
  }): Promise<boolean> {
    return this.conditional(
      new UpdateCommand({
        TableName: this.table,
        Key: { pk: snapshotPk(args.hostId), sk: snapshotSk(args.rolloutId) },
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

  async recordCleanupAttempt(args: {
    hostId: string;
    rolloutId: string;
    result: CleanupAttempt;
    now: number;
  }): Promise<boolean> {
    return this.conditional(
      new UpdateCommand({
        TableName: this.table,
        Key: { pk: snapshotPk(args.hostId), sk: snapshotSk(args.rolloutId) },
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

  /** Sends a conditional write; false when its condition did not hold. */
  private async conditional(command: PutCommand | UpdateCommand | DeleteCommand): Promise<boolean> {
    try {
      // The union defeats the client's overloads; each member is a valid command.
      await this.client.send(command as UpdateCommand);
      return true;
    } catch (error) {
      if (isConditionalCheckFailed(error)) return false;
      throw error;
    }
  }

  private async queryAll<T>(input: QueryCommandInput, parse: (item: unknown) => T): Promise<T[]> {
    const items: T[] = [];
    for await (const page of paginateQuery({ client: this.client }, input)) {
      for (const item of page.Items ?? []) items.push(parse(item));
    }
    return items;
  }

  /**
   * BatchWriteItem in requests of 25, re-sending unprocessed items with exponential
   * backoff (DynamoDB returns them under throttling instead of failing the call).
   */
  private async batchPut(items: readonly Record<string, unknown>[]): Promise<void> {
    for (let start = 0; start < items.length; start += 25) {
      let requests: NonNullable<BatchWriteCommandInput["RequestItems"]>[string] = items
        .slice(start, start + 25)
        .map((Item) => ({ PutRequest: { Item } }));
      for (let attempt = 1; ; attempt++) {
        const out = await this.client.send(
          new BatchWriteCommand({ RequestItems: { [this.table]: requests } }),
        );
        const unprocessed = out.UnprocessedItems?.[this.table] ?? [];
        if (unprocessed.length === 0) break;
        if (attempt >= this.batchAttempts) {
          throw new Error(
            `BatchWriteItem left ${unprocessed.length} items unprocessed after ${attempt} attempts`,
          );
        }
        requests = unprocessed;
        await this.sleep(Math.min(50 * 2 ** attempt, 2000));
      }
    }
  }
}
