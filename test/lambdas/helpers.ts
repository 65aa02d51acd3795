/**
 * Fixtures shared by the Lambda tests: raw ledger items, a fake clock, and
 * dependencies wired to an in-memory ledger store and to SDK clients whose `send` is
 * replaced by aws-sdk-client-mock.
 */
import { createHash } from "node:crypto";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { S3Client } from "@aws-sdk/client-s3";
import { SSMClient } from "@aws-sdk/client-ssm";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import type { Clock } from "../../lambdas/common/clock.js";
import type { Deps } from "../../lambdas/common/deps.js";
import type { Rollout } from "../../lambdas/common/ledger/index.js";
import type {
  HostItem,
  LockItem,
  RolloutItem,
  SnapshotItem,
} from "../../lambdas/common/ledger/items.js";
import {
  CLEANUP_PENDING_PK,
  hostSk,
  LOCK_SK,
  lockPk,
  ROLLOUT_SK,
  rolloutPk,
  snapshotPk,
  snapshotSk,
} from "../../lambdas/common/ledger/keys.js";
import type { RolloutInput } from "../../lambdas/common/schemas.js";
import type { HostStepConfig, HostStepDeps } from "../../lambdas/host-step/host-step.js";
import { MemoryLedgerStore } from "./memory-ledger-store.js";

export const TABLE = "ledger";
export const BUCKET = "rollout-output";
export const ROLLOUT_ID = "rollout-1";
export const T0 = Date.parse("2025-03-01T02:00:00.000Z");
export const SHA = "a".repeat(64);
export const I1 = "i-0123456789abcdef0";
export const I2 = "i-0123456789abcdef1";
export const I3 = "mi-0123456789abcdef2";

/** A clock whose sleep advances time instantly and records each sleep. */
export interface FakeClock extends Clock {
  readonly sleeps: number[];
  advance(ms: number): void;
}

export function fakeClock(start = T0): FakeClock {
  let now = start;
  const sleeps: number[] = [];
  return {
    sleeps,
    now: () => now,
    sleep: async (ms) => {
      sleeps.push(ms);
      now += ms;
    },
    advance: (ms) => {
      now += ms;
    },
  };
}

/** SDK clients whose `send` aws-sdk-client-mock replaces (region and credentials are inert). */
export function sdkClients() {
  const credentials = { accessKeyId: "test", secretAccessKey: "test" };
  return {
    document: DynamoDBDocumentClient.from(
      new DynamoDBClient({ region: "us-east-1", credentials }),
      {
        marshallOptions: { removeUndefinedValues: true },
      },
    ),
    ssm: new SSMClient({ region: "us-east-1", credentials }),
    s3: new S3Client({ region: "us-east-1", credentials }),
  };
}

/** Domain dependencies: an in-memory ledger, mocked SSM and S3 clients, a fake clock. */
export function testDeps<C>(
  config: C,
  clock: FakeClock = fakeClock(),
  store: MemoryLedgerStore = new MemoryLedgerStore(),
): Deps<C> & { clock: FakeClock; store: MemoryLedgerStore } {
  const clients = sdkClients();
  return {
    store,
    ssm: clients.ssm,
    s3: clients.s3,
    clock,
    config,
  };
}

/** host-step's configuration in the tests: documents `AR-<Step>-<profile>`, 20 s inline polls. */
export const HOST_STEP_CONFIG: HostStepConfig = {
  documentPrefix: "AR",
  outputBucket: BUCKET,
  inlinePollSeconds: 20,
  deliveryTimeoutSeconds: 600,
};

/** host-step's dependencies on `store`, with the rollout cache a container keeps. */
export function hostStepDeps(
  store: MemoryLedgerStore,
  clock: FakeClock = fakeClock(),
): HostStepDeps & { clock: FakeClock; store: MemoryLedgerStore } {
  return { ...testDeps(HOST_STEP_CONFIG, clock, store), rolloutCache: new Map<string, Rollout>() };
}

/** A valid execution input (before defaults). */
export function validInput(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    targetVersion: "2.0.0",
    artifact: { url: "https://artifacts.example.com/agent/agent-2.0.0.tar.gz", sha256: SHA },
    profile: "demo",
    hosts: { instanceIds: [I1, I2] },
    batchSize: 5,
    canary: 1,
    ...overrides,
  };
}

/** The parsed input as stored in the rollout item. */
export function storedInput(overrides: Partial<RolloutInput> = {}): RolloutInput {
  return {
    targetVersion: "2.0.0",
    artifact: { url: "https://artifacts.example.com/agent/agent-2.0.0.tar.gz", sha256: SHA },
    profile: "demo",
    hosts: { instanceIds: [I1, I2] },
    batchSize: 5,
    canary: 1,
    waveSize: 100,
    failureThreshold: 0,
    bakeSeconds: 0,
    dryRun: false,
    fleet: "default",
    lockTtlSeconds: 43_200,
    ...overrides,
  };
}

export function rolloutItem(overrides: Partial<RolloutItem> = {}): RolloutItem {
  const input = overrides.input ?? storedInput();
  return {
    pk: rolloutPk(ROLLOUT_ID),
    sk: ROLLOUT_SK,
    kind: "rollout",
    schemaVersion: 1,
    rolloutId: ROLLOUT_ID,
    status: "RUNNING",
    input,
    fleet: input.fleet,
    profile: input.profile,
    targetVersion: input.targetVersion,
    hostCount: 2,
    waveCount: 2,
    failureThreshold: input.failureThreshold,
    failedCount: 0,
    createdAt: new Date(T0).toISOString(),
    updatedAt: new Date(T0).toISOString(),
    ...overrides,
  };
}

export function hostItem(overrides: Partial<HostItem> = {}): HostItem {
  const hostId = overrides.hostId ?? I1;
  const wave = overrides.wave ?? 0;
  return {
    pk: rolloutPk(overrides.rolloutId ?? ROLLOUT_ID),
    sk: hostSk(wave, hostId),
    kind: "host",
    schemaVersion: 1,
    rolloutId: ROLLOUT_ID,
    hostId,
    instanceId: hostId,
    wave,
    order: 0,
    status: "PENDING",
    commands: {},
    stepMs: {},
    updatedAt: new Date(T0).toISOString(),
    ...overrides,
  };
}

/** A pending snapshot item of `hostId` for `rolloutId`, with jobs of sha `sha.repeat(64)`. */
export function snapshotItem(
  hostId: string,
  rolloutId: string,
  overrides: Partial<SnapshotItem> = {},
): SnapshotItem {
  const createdAt = overrides.createdAt ?? "2025-02-01T00:00:00.000Z";
  return {
    pk: snapshotPk(hostId),
    sk: snapshotSk(rolloutId),
    kind: "snapshot",
    schemaVersion: 1,
    hostId,
    rolloutId,
    instanceId: hostId,
    profile: "demo",
    oldVersion: "1.0.0",
    oldRelease: "/opt/agent/releases/1.0.0",
    jobCount: 2,
    jobsSha256: "b".repeat(64),
    chunkCount: 1,
    cleanup: "PENDING",
    gsi1pk: CLEANUP_PENDING_PK,
    gsi1sk: `${createdAt}#${hostId}`,
    attempts: 0,
    createdAt,
    ...overrides,
  };
}

/** The lock item of `fleet` held by `owner`, acquired at `acquiredAt`, a minute left from T0. */
export function lockItem(fleet: string, owner: string, acquiredAt: string): LockItem {
  return {
    pk: lockPk(fleet),
    sk: LOCK_SK,
    kind: "lock",
    schemaVersion: 1,
    fleet,
    owner,
    acquiredAt,
    expiresAt: Math.floor(T0 / 1000) + 60,
  };
}

/** `count` jobs `[job-<n>, pid, startTicks]` and the sha256 of their snapshot file, computed here. */
export function jobs(count: number): {
  items: [string, number, number][];
  sha256: string;
} {
  const items: [string, number, number][] = [];
  for (let n = 0; n < count; n++) items.push([`job-${n}`, 1000 + n, 500_000 + n]);
  const file = items.map(([id, pid, start]) => `${id} ${pid} ${start}\n`).join("");
  return { items, sha256: createHash("sha256").update(file).digest("hex") };
}

/** An SDK-style service error with the given name. */
export function awsError(name: string, message = name): Error {
  const error = new Error(message);
  error.name = name;
  return error;
}

/**
 * A host script's stdout for a result line, as `host/scripts/lib/result.sh` prints
 * it: the integrity line `result-sha256 <hex>`, then the line.
 */
export function scriptStdout(resultLine: string): string {
  const digest = createHash("sha256").update(resultLine, "utf8").digest("hex");
  return `result-sha256 ${digest}\n${resultLine}\n`;
}

/** An S3 GetObject body as the SDK returns it (only what the code reads). */
export function s3Body(text: string) {
  return { transformToString: async () => text } as never;
}
