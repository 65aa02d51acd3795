/**
 * Ledger items: strict, versioned zod schemas (a reader refuses an item it does not
 * understand), the records the store hands out (an item without its keys), and the
 * builders that turn domain values into items.
 *
 * @module
 */

import { z } from "zod";
import { isoTime } from "../clock.js";
import { InvalidLedgerItemError } from "../errors.js";
import {
  InstanceIdSchema,
  isPlainKey,
  type JobEntry,
  JobEntrySchema,
  plainRecord,
  RESERVED_KEYS,
  RolloutIdSchema,
  RolloutInputSchema,
  type StepName,
  StepNameSchema,
  WaveSchema,
} from "../schemas.js";
import {
  CLEANUP_PENDING_PK,
  chunkSk,
  cleanupSk,
  hostKey,
  LEASE_SK,
  LOCK_SK,
  leaseKey,
  lockPk,
  normalFleet,
  ROLLOUT_SK,
  ROLLOUTS_PK,
  rolloutListSk,
  rolloutPk,
  snapshotKey,
  snapshotPk,
} from "./keys.js";
import type { AcquireLockArgs, HeldLock, NewHost, NewRollout, NewSnapshot } from "./store.js";

/** Jobs per snapshot chunk (keeps a chunk well under DynamoDB's 400 KB item limit). */
export const JOBS_PER_CHUNK = 1000;

const IsoTime = z.iso.datetime();
export const ErrorInfoSchema = z.strictObject({ name: z.string(), message: z.string() });
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
export const StatusCountsSchema = plainRecord(z.string(), z.int().nonnegative());

/** A rollout as the store hands it out. */
export const RolloutSchema = z.strictObject({
  rolloutId: RolloutIdSchema,
  status: RolloutStatusSchema,
  input: RolloutInputSchema,
  /**
   * The rollout this one rolls back (a whole-rollout rollback): `input` is then that
   * rollout's, with its hosts the ones it upgraded and `targetVersion` the version they
   * return to (the first host's; each host's own is on its host item).
   */
  rollbackOf: RolloutIdSchema.optional(),
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
  /**
   * Why the rollout halted: the failure count, who took the fleet lock, the alarm in
   * ALARM (EvaluateWave), or the approval rejected or timed out (the approval gate).
   */
  haltReason: z.string().max(1024).optional(),
  /** The approval the execution waits for: after which wave, and the task token to answer. */
  approval: z
    .strictObject({
      wave: z.int().nonnegative(),
      taskToken: z.string().min(1).max(2048),
      requestedAt: IsoTime,
    })
    .optional(),
});
/** See {@link RolloutSchema}. */
export type Rollout = z.infer<typeof RolloutSchema>;
/** Rollout item. */
export const RolloutItemSchema = z.strictObject({
  pk: z.string(),
  sk: z.literal(ROLLOUT_SK),
  kind: z.literal("rollout"),
  schemaVersion: z.literal(1),
  /** In the sparse index, so rollouts are listed without a Scan (absent on older items). */
  gsi1pk: z.literal(ROLLOUTS_PK).optional(),
  gsi1sk: z.string().optional(),
  ...RolloutSchema.shape,
});
/** See {@link RolloutItemSchema}. */
export type RolloutItem = z.infer<typeof RolloutItemSchema>;

/** A rollout as {@link LedgerStore.listRollouts} hands it out: without its input. */
export const RolloutSummarySchema = RolloutSchema.omit({ input: true });
/** See {@link RolloutSummarySchema}. */
export type RolloutSummary = z.infer<typeof RolloutSummarySchema>;
/** Attributes of the rollout item a listing reads. */
export const ROLLOUT_SUMMARY_FIELDS = Object.keys(RolloutSummarySchema.shape) as Array<
  keyof RolloutSummary
>;

/** The live fields of a rollout that decide whether another host may start. */
export const RolloutGateSchema = RolloutSchema.pick({
  status: true,
  failedCount: true,
  failureThreshold: true,
});
/** See {@link RolloutGateSchema}. */
export type RolloutGate = z.infer<typeof RolloutGateSchema>;
/** The rollout's fleet alone (see `LedgerStore.getRolloutFleet`). */
export const RolloutFleetSchema = RolloutSchema.pick({ fleet: true }).strip();

/** Attributes of the rollout item the gate reads. */
export const ROLLOUT_GATE_FIELDS = ["status", "failedCount", "failureThreshold"] as const;

/** A host of a rollout as the store hands it out. */
export const HostSchema = z.strictObject({
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
  unservedMs: z.number().nonnegative().optional(),
  /** Preflight: a rollout whose switch here never reached the ledger; the switch reports it. */
  adoptRolloutId: RolloutIdSchema.optional(),
  /** When each step's result was recorded (its start is this minus `stepMs`); absent on older items. */
  preflightEndedAt: IsoTime.optional(),
  stageEndedAt: IsoTime.optional(),
  switchEndedAt: IsoTime.optional(),
  /** When the rollback of a host found not serving after its switch was recorded. */
  rollbackEndedAt: IsoTime.optional(),
  /**
   * The version the host runs when it differs from `toVersion`: an upgraded host found
   * not serving and rolled back runs its previous release again.
   */
  runningVersion: z.string().optional(),
  error: ErrorInfoSchema.optional(),
  /** `fewest-jobs`: the jobs the host ran when its wave was loaded. */
  jobCount: z.int().nonnegative().optional(),
  /** `fewest-jobs`: why the host gave no job count (it then went last). */
  jobCountReason: z.string().max(256).optional(),
  updatedAt: IsoTime,
});
/** See {@link HostSchema}. */
export type Host = z.infer<typeof HostSchema>;
/** The host attribute holding when `step`'s result was recorded. */
export const stepEndedAtField = (step: StepName): `${StepName}EndedAt` => `${step}EndedAt`;

/** Host item (one per host per rollout). */
export const HostItemSchema = z.strictObject({
  pk: z.string(),
  sk: z.string(),
  kind: z.literal("host"),
  schemaVersion: z.literal(1),
  ...HostSchema.shape,
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

/** A job snapshot taken by a switch, as the store hands it out (without its jobs). */
export const SnapshotSchema = z.strictObject({
  hostId: InstanceIdSchema,
  rolloutId: RolloutIdSchema,
  instanceId: InstanceIdSchema,
  profile: z.string(),
  oldVersion: z.string(),
  oldRelease: z.string(),
  /** The release a rolled-back switch tried and left (`oldRelease`), never served. */
  abandoned: z.literal(true).optional(),
  jobCount: z.int().nonnegative(),
  jobsSha256: z.string(),
  chunkCount: z.int().nonnegative(),
  cleanup: z.enum(["PENDING", "DONE"]),
  attempts: z.int().nonnegative(),
  createdAt: IsoTime,
  lastCheckedAt: IsoTime.optional(),
  lastResult: CleanupAttemptSchema.optional(),
});
/** See {@link SnapshotSchema}. */
export type Snapshot = z.infer<typeof SnapshotSchema>;
/** Snapshot item (the jobs themselves live in chunk items). */
export const SnapshotItemSchema = z.strictObject({
  pk: z.string(),
  sk: z.string(),
  kind: z.literal("snapshot"),
  schemaVersion: z.literal(1),
  gsi1pk: z.literal(CLEANUP_PENDING_PK).optional(),
  gsi1sk: z.string().optional(),
  ...SnapshotSchema.shape,
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

/** A fleet lock as the store hands it out. */
export const LockSchema = z.strictObject({
  fleet: z.string(),
  owner: RolloutIdSchema,
  acquiredAt: IsoTime,
  /** Epoch seconds. */
  expiresAt: z.int(),
});
/** See {@link LockSchema}. */
export type Lock = z.infer<typeof LockSchema>;
/** Fleet lock item. */
export const LockItemSchema = z.strictObject({
  pk: z.string(),
  sk: z.literal(LOCK_SK),
  kind: z.literal("lock"),
  schemaVersion: z.literal(1),
  ...LockSchema.shape,
});
/** See {@link LockItemSchema}. */
export type LockItem = z.infer<typeof LockItemSchema>;

/**
 * A host's lease as the store hands it out: the host belongs to `owner`'s rollout
 * for as long as `owner` holds the lock of `fleet` (normalised).
 */
export const LeaseSchema = z.strictObject({
  hostId: z.string(),
  owner: RolloutIdSchema,
  fleet: z.string(),
  acquiredAt: IsoTime,
});
/** See {@link LeaseSchema}. */
export type Lease = z.infer<typeof LeaseSchema>;
/** Lease item (one per host, while a rollout holds it). */
export const LeaseItemSchema = z.strictObject({
  pk: z.string(),
  sk: z.literal(LEASE_SK),
  kind: z.literal("lease"),
  schemaVersion: z.literal(1),
  ...LeaseSchema.shape,
});
/** See {@link LeaseItemSchema}. */
export type LeaseItem = z.infer<typeof LeaseItemSchema>;

// ---------------------------------------------------------------------------
// Reading

/** ISO-8601 of epoch milliseconds. */
export const iso = isoTime;
/** Epoch seconds of epoch milliseconds. */
export const epochSeconds = (ms: number): number => Math.floor(ms / 1000);

/**
 * Parses a raw item with its schema: the one way items are read (and checked before
 * they are written). Throws {@link InvalidLedgerItemError} naming the item's key.
 */
export function parseItem<S extends z.ZodType>(schema: S, raw: unknown): z.output<S> {
  const { pk, sk } = (typeof raw === "object" && raw !== null ? raw : {}) as Record<
    string,
    unknown
  >;
  const key = `${String(pk)} ${String(sk)}`;
  const reserved = reservedKeyPath(raw, []);
  if (reserved !== undefined) {
    throw new InvalidLedgerItemError(
      `ledger item ${key}: ${reserved}: carries a reserved key (${RESERVED_KEYS.join(", ")})`,
      key,
    );
  }
  const result = schema.safeParse(raw);
  if (result.success) return result.data;
  const first = result.error.issues[0];
  const issue =
    first === undefined ? "invalid" : `${first.path.join(".") || "(item)"}: ${first.message}`;
  throw new InvalidLedgerItemError(`ledger item ${key}: ${issue}`, key);
}

/**
 * Path of the first map in `value` that carries a reserved key: as an own key, or (the
 * document client unmarshals a map by assignment) as a prototype it was given.
 */
function reservedKeyPath(value: unknown, path: readonly string[]): string | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const here = path.join(".") || "(item)";
  if (!Array.isArray(value)) {
    const proto: unknown = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) return here;
  }
  for (const [name, field] of Object.entries(value)) {
    if (!Array.isArray(value) && !isPlainKey(name)) return here;
    const found = reservedKeyPath(field, [...path, name]);
    if (found !== undefined) return found;
  }
  return undefined;
}

/** The lock a raw lock item holds, readable or not (see {@link HeldLock}). */
export function heldLockOf(raw: Record<string, unknown>): HeldLock {
  const parsed = LockItemSchema.safeParse(raw);
  if (parsed.success) return { owner: parsed.data.owner, expiresAt: parsed.data.expiresAt };
  return {
    ...(typeof raw.owner === "string" ? { owner: raw.owner } : {}),
    ...(typeof raw.expiresAt === "number" ? { expiresAt: raw.expiresAt } : {}),
    corrupt: `${String(raw.pk)} ${String(raw.sk)}`,
  };
}

const STORAGE_FIELDS = ["pk", "sk", "kind", "schemaVersion", "gsi1pk", "gsi1sk"] as const;
type StorageField = (typeof STORAGE_FIELDS)[number];

/** The record of an item: the item without its keys, kind and version. */
export function toRecord<T extends object>(item: T): Omit<T, StorageField> {
  const record = { ...item } as Record<string, unknown>;
  for (const field of STORAGE_FIELDS) delete record[field];
  return record as Omit<T, StorageField>;
}

// ---------------------------------------------------------------------------
// Building

/** The rollout item of a new plan: PLANNED, no failures yet. */
export function newRolloutItem(args: NewRollout): RolloutItem {
  const time = iso(args.now);
  return parseItem(RolloutItemSchema, {
    pk: rolloutPk(args.rolloutId),
    sk: ROLLOUT_SK,
    kind: "rollout",
    schemaVersion: 1,
    rolloutId: args.rolloutId,
    status: "PLANNED",
    input: args.input,
    ...(args.rollbackOf === undefined ? {} : { rollbackOf: args.rollbackOf }),
    fleet: args.input.fleet,
    profile: args.input.profile,
    targetVersion: args.input.targetVersion,
    hostCount: args.hostCount,
    waveCount: args.waveCount,
    failureThreshold: args.input.failureThreshold,
    failedCount: 0,
    createdAt: time,
    updatedAt: time,
    gsi1pk: ROLLOUTS_PK,
    gsi1sk: rolloutListSk(time, args.rolloutId),
  } satisfies RolloutItem);
}

/** PENDING host items of a new plan. */
export function newHostItems(
  rolloutId: string,
  hosts: readonly NewHost[],
  now: number,
): HostItem[] {
  const time = iso(now);
  return hosts.map((host) =>
    parseItem(HostItemSchema, {
      ...hostKey({ rolloutId, wave: host.wave, hostId: host.hostId }),
      kind: "host",
      schemaVersion: 1,
      rolloutId,
      hostId: host.hostId,
      instanceId: host.instanceId,
      wave: host.wave,
      order: host.order,
      status: "PENDING",
      ...(host.fromVersion === undefined ? {} : { fromVersion: host.fromVersion }),
      ...(host.toVersion === undefined ? {} : { toVersion: host.toVersion }),
      commands: {},
      stepMs: {},
      updatedAt: time,
    } satisfies HostItem),
  );
}

/** A snapshot item (cleanup PENDING, in the sparse index) and its job chunks. */
export function newSnapshotItems(args: NewSnapshot): {
  snapshot: SnapshotItem;
  chunks: SnapshotChunkItem[];
} {
  const createdAt = iso(args.now);
  const chunks: SnapshotChunkItem[] = [];
  for (let n = 0; n * JOBS_PER_CHUNK < args.jobs.length; n++) {
    const jobs: JobEntry[] = args.jobs.slice(n * JOBS_PER_CHUNK, (n + 1) * JOBS_PER_CHUNK);
    chunks.push(
      parseItem(SnapshotChunkItemSchema, {
        pk: snapshotPk(args.hostId),
        sk: chunkSk(args.rolloutId, n),
        kind: "snapshot-chunk",
        schemaVersion: 1,
        rolloutId: args.rolloutId,
        index: n,
        jobs,
      } satisfies SnapshotChunkItem),
    );
  }
  const snapshot = parseItem(SnapshotItemSchema, {
    ...snapshotKey(args.hostId, args.rolloutId),
    kind: "snapshot",
    schemaVersion: 1,
    hostId: args.hostId,
    rolloutId: args.rolloutId,
    instanceId: args.instanceId,
    profile: args.profile,
    oldVersion: args.oldVersion,
    oldRelease: args.oldRelease,
    ...(args.abandoned === true ? { abandoned: true as const } : {}),
    jobCount: args.jobs.length,
    jobsSha256: args.jobsSha256,
    chunkCount: chunks.length,
    cleanup: "PENDING",
    gsi1pk: CLEANUP_PENDING_PK,
    gsi1sk: cleanupSk(createdAt, args.hostId),
    attempts: 0,
    createdAt,
  } satisfies SnapshotItem);
  return { snapshot, chunks };
}

/** The lease item `owner` writes for a host. */
export function newLeaseItem(args: {
  readonly hostId: string;
  readonly owner: string;
  readonly fleet: string;
  readonly now: number;
}): LeaseItem {
  return parseItem(LeaseItemSchema, {
    pk: leaseKey(args.hostId).pk,
    sk: LEASE_SK,
    kind: "lease",
    schemaVersion: 1,
    hostId: args.hostId,
    owner: args.owner,
    fleet: normalFleet(args.fleet),
    acquiredAt: iso(args.now),
  } satisfies LeaseItem);
}

/** The lock item `owner` writes when it takes a fleet's lock. */
export function newLockItem(args: AcquireLockArgs): LockItem {
  return parseItem(LockItemSchema, {
    pk: lockPk(args.fleet),
    sk: LOCK_SK,
    kind: "lock",
    schemaVersion: 1,
    fleet: normalFleet(args.fleet),
    owner: args.owner,
    acquiredAt: iso(args.now),
    expiresAt: epochSeconds(args.now) + args.ttlSeconds,
  } satisfies LockItem);
}
