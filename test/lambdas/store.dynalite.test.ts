/**
 * The ledger store against dynalite (a DynamoDB implementation on 127.0.0.1), through
 * the real SDK clients: checks that the condition and update expressions are valid
 * DynamoDB and do what the handlers rely on.
 */
import type { Server } from "node:http";
import { createRequire } from "node:module";
import type { AddressInfo } from "node:net";
import { CreateTableCommand, DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { createDocumentClient } from "../../lambdas/common/clients.js";
import { DynamoLedgerStore, type SnapshotItem } from "../../lambdas/common/store.js";
import { recordHost } from "../../lambdas/record-host/record-host.js";
import { fakeClock, hostItem, I1, I2, rolloutItem, T0 } from "./helpers.js";

const require = createRequire(import.meta.url);
const dynalite = require("dynalite") as (options: { createTableMs: number }) => Server;

let server: Server;
let endpoint: string;
let tableCounter = 0;
let ledger: DynamoLedgerStore;

beforeAll(async () => {
  vi.stubEnv("AWS_ACCESS_KEY_ID", "local");
  vi.stubEnv("AWS_SECRET_ACCESS_KEY", "local");
  server = dynalite({ createTableMs: 0 });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  vi.unstubAllEnvs();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

beforeEach(async () => {
  // A fresh table per test keeps tests independent.
  const tableName = `ledger-${++tableCounter}`;
  const client = new DynamoDBClient({ endpoint, region: "us-east-1" });
  await client.send(
    new CreateTableCommand({
      TableName: tableName,
      BillingMode: "PAY_PER_REQUEST",
      KeySchema: [
        { AttributeName: "pk", KeyType: "HASH" },
        { AttributeName: "sk", KeyType: "RANGE" },
      ],
      AttributeDefinitions: [
        { AttributeName: "pk", AttributeType: "S" },
        { AttributeName: "sk", AttributeType: "S" },
        { AttributeName: "gsi1pk", AttributeType: "S" },
        { AttributeName: "gsi1sk", AttributeType: "S" },
      ],
      GlobalSecondaryIndexes: [
        {
          IndexName: "gsi1",
          KeySchema: [
            { AttributeName: "gsi1pk", KeyType: "HASH" },
            { AttributeName: "gsi1sk", KeyType: "RANGE" },
          ],
          Projection: { ProjectionType: "ALL" },
        },
      ],
    }),
  );
  ledger = new DynamoLedgerStore({
    client: createDocumentClient({ endpoint, region: "us-east-1" }),
    tableName,
  });
});

describe("fleet lock on DynamoDB", () => {
  it("refuses a held lock, and takes it once expired, by its owner again, or with breakLock", async () => {
    // Prepare
    await ledger.acquireLock({ fleet: "default", owner: "r-a", now: T0, ttlSeconds: 600 });

    // Act
    const held = await ledger
      .acquireLock({ fleet: "default", owner: "r-b", now: T0 + 1000, ttlSeconds: 600 })
      .catch((error: unknown) => error);
    const retry = await ledger.acquireLock({
      fleet: "default",
      owner: "r-a",
      now: T0 + 2000,
      ttlSeconds: 600,
    });
    const broken = await ledger.acquireLock({
      fleet: "default",
      owner: "r-c",
      now: T0 + 3000,
      ttlSeconds: 600,
      breakLock: "r-a",
    });
    const afterExpiry = await ledger.acquireLock({
      fleet: "default",
      owner: "r-d",
      now: T0 + 3000 + 600_000,
      ttlSeconds: 600,
    });

    // Assess
    expect(held).toMatchObject({ name: "FleetLockedError", owner: "r-a" });
    expect(retry.owner).toBe("r-a");
    expect(broken.owner).toBe("r-c");
    expect(afterExpiry.owner).toBe("r-d");
    expect((await ledger.getLock("default"))?.owner).toBe("r-d");
  });

  it("does not break a lock whose owner is not the one named in breakLock", async () => {
    // Prepare
    await ledger.acquireLock({ fleet: "default", owner: "r-a", now: T0, ttlSeconds: 600 });

    // Act
    const result = ledger.acquireLock({
      fleet: "default",
      owner: "r-b",
      now: T0,
      ttlSeconds: 600,
      breakLock: "r-x",
    });

    // Assess
    await expect(result).rejects.toMatchObject({ name: "FleetLockedError", owner: "r-a" });
  });

  it("refreshes and releases only its own lock", async () => {
    // Prepare
    await ledger.acquireLock({ fleet: "default", owner: "r-a", now: T0, ttlSeconds: 600 });

    // Act
    const foreignRefresh = await ledger.refreshLock({
      fleet: "default",
      owner: "r-b",
      now: T0,
      ttlSeconds: 900,
    });
    const foreignRelease = await ledger.releaseLock("default", "r-b");
    const ownRefresh = await ledger.refreshLock({
      fleet: "default",
      owner: "r-a",
      now: T0,
      ttlSeconds: 900,
    });
    const ownRelease = await ledger.releaseLock("default", "r-a");
    const absentRelease = await ledger.releaseLock("default", "r-a");

    // Assess
    expect([foreignRefresh, foreignRelease, ownRefresh, ownRelease, absentRelease]).toEqual([
      false,
      false,
      true,
      true,
      false,
    ]);
    expect(await ledger.getLock("default")).toBeUndefined();
  });
});

describe("host items on DynamoDB", () => {
  it("records a step's command once and reports the first one to a second attempt", async () => {
    // Prepare
    await ledger.putHosts([hostItem({ wave: 1 })]);
    const key = { rolloutId: "rollout-1", wave: 1, hostId: I1 };

    // Act
    const first = await ledger.recordCommand({
      key,
      step: "preflight",
      commandId: "c-1",
      status: "PREFLIGHT",
      from: ["PENDING"],
      now: T0,
    });
    const second = await ledger.recordCommand({
      key,
      step: "preflight",
      commandId: "c-2",
      status: "PREFLIGHT",
      from: ["PENDING"],
      now: T0,
    });
    await ledger.recordStepResult({
      key,
      step: "preflight",
      commandId: "c-1",
      fields: { stepMs: 800, fromVersion: "1.0.0" },
      now: T0,
    });
    const wrongCommand = await ledger
      .recordStepResult({
        key,
        step: "preflight",
        commandId: "c-2",
        fields: { stepMs: 1 },
        now: T0,
      })
      .catch((error: unknown) => error);

    // Assess
    expect(first).toEqual({ recorded: true, commandId: "c-1" });
    expect(second).toEqual({ recorded: false, commandId: "c-1" });
    expect(wrongCommand).toMatchObject({ name: "LedgerConflictError" });
    expect(await ledger.getHost(key)).toMatchObject({
      status: "PREFLIGHT",
      commands: { preflight: "c-1" },
      stepMs: { preflight: 800 },
      fromVersion: "1.0.0",
    });
  });

  it("record-host counts a failure once across two identical calls", async () => {
    // Prepare
    await ledger.createRollout(rolloutItem({ failedCount: 0 }));
    await ledger.putHosts([
      hostItem({ status: "STAGING" }),
      hostItem({ hostId: I2, order: 1, status: "SWITCHING" }),
    ]);
    const deps = { store: ledger, clock: fakeClock(), config: {} } as never;
    const host = { rolloutId: "rollout-1", wave: 0, hostId: I1, instanceId: I1 };
    const event = {
      outcome: "failure" as const,
      host,
      error: {
        Error: "HostStepFailedError",
        Cause: JSON.stringify({
          errorType: "HostStepFailedError",
          errorMessage: "stage failed on i-1: no space",
          trace: ["x"],
        }),
      },
    };

    // Act
    const first = await recordHost(deps, event);
    const second = await recordHost(deps, event);
    const rolledBack = await recordHost(deps, {
      outcome: "result",
      host: { ...host, hostId: I2, instanceId: I2 },
      switch: {
        step: "switch",
        commandId: "c",
        done: true,
        waitSeconds: 0,
        status: "ROLLED_BACK",
        summary: { reason: "health failed" },
      },
    });

    // Assess
    expect(first).toEqual({ hostId: I1, status: "FAILED" });
    expect(second).toEqual({ hostId: I1, status: "FAILED" });
    expect(rolledBack).toEqual({ hostId: I2, status: "ROLLED_BACK" });
    expect((await ledger.getRollout("rollout-1"))?.failedCount).toBe(2);
    expect(await ledger.getHost({ rolloutId: "rollout-1", wave: 0, hostId: I1 })).toMatchObject({
      status: "FAILED",
      error: { name: "HostStepFailedError", message: "stage failed on i-1: no space" },
    });
  });

  it("raises failedCount only upwards", async () => {
    // Prepare
    await ledger.createRollout(rolloutItem({ failedCount: 3 }));

    // Act
    await ledger.raiseFailedCount("rollout-1", 2, T0);
    const unchanged = (await ledger.getRollout("rollout-1"))?.failedCount;
    await ledger.raiseFailedCount("rollout-1", 5, T0);

    // Assess
    expect(unchanged).toBe(3);
    expect((await ledger.getRollout("rollout-1"))?.failedCount).toBe(5);
  });

  it("reads the preflight gate's live fields only", async () => {
    // Prepare
    await ledger.createRollout(rolloutItem({ status: "RUNNING", failedCount: 2 }));

    // Act
    const gate = await ledger.getRolloutGate("rollout-1");
    const missing = await ledger.getRolloutGate("rollout-2");

    // Assess
    expect(gate).toEqual({ status: "RUNNING", failedCount: 2, failureThreshold: 0 });
    expect(missing).toBeUndefined();
  });

  it("finishes a rollout from RUNNING, and again with the same status, but not with another", async () => {
    // Prepare
    await ledger.createRollout(rolloutItem({ status: "RUNNING" }));
    const args = {
      rolloutId: "rollout-1",
      counts: { UPGRADED: 2 },
      now: T0,
      from: ["PLANNED", "RUNNING"] as const,
    };

    // Act
    const first = await ledger.finishRollout({ ...args, status: "SUCCEEDED" });
    const repeat = await ledger.finishRollout({ ...args, status: "SUCCEEDED" });
    const other = await ledger.finishRollout({ ...args, status: "HALTED" });
    const failure = await ledger.finishRollout({
      ...args,
      status: "FAILED",
      from: "any",
      error: { name: "X", message: "y" },
    });

    // Assess
    expect([first, repeat, other, failure]).toEqual([true, true, false, true]);
    expect(await ledger.getRollout("rollout-1")).toMatchObject({
      status: "FAILED",
      error: { name: "X", message: "y" },
      counts: { UPGRADED: 2 },
    });
  });
});

describe("snapshots on DynamoDB", () => {
  const snapshot = (hostId: string, createdAt: string): SnapshotItem => ({
    pk: `HOST#${hostId}`,
    sk: "SNAPSHOT#rollout-1",
    kind: "snapshot",
    schemaVersion: 1,
    hostId,
    rolloutId: "rollout-1",
    instanceId: hostId,
    profile: "demo",
    oldVersion: "1.0.0",
    oldRelease: "/opt/agent/releases/1.0.0",
    jobCount: 1,
    jobsSha256: "b".repeat(64),
    chunkCount: 1,
    cleanup: "PENDING",
    gsi1pk: "CLEANUP#PENDING",
    gsi1sk: `${createdAt}#${hostId}`,
    attempts: 0,
    createdAt,
  });

  it("lists pending snapshots oldest first; a done cleanup leaves the sparse index", async () => {
    // Prepare
    const chunk = (hostId: string) => ({
      pk: `HOST#${hostId}`,
      sk: "SNAPSHOT#rollout-1#JOBS#0000",
      kind: "snapshot-chunk" as const,
      schemaVersion: 1 as const,
      rolloutId: "rollout-1",
      index: 0,
      jobs: [["job-1", 42, 9000] as [string, number, number]],
    });
    await ledger.putSnapshot(snapshot(I2, "2025-03-01T01:00:00.000Z"), [chunk(I2)]);
    await ledger.putSnapshot(snapshot(I1, "2025-03-01T02:00:00.000Z"), [chunk(I1)]);
    const again = await ledger.putSnapshot(snapshot(I1, "2025-03-01T02:05:00.000Z"), [chunk(I1)]);

    // Act
    const before = await ledger.listPendingCleanups();
    const kept = await ledger.recordCleanupAttempt({
      hostId: I1,
      rolloutId: "rollout-1",
      result: { status: "KEPT", alive: 1 },
      now: T0,
    });
    const done = await ledger.completeCleanup({
      hostId: I2,
      rolloutId: "rollout-1",
      result: { status: "DELETED" },
      now: T0,
    });
    const doneAgain = await ledger.completeCleanup({
      hostId: I2,
      rolloutId: "rollout-1",
      result: { status: "DELETED" },
      now: T0,
    });
    const after = await ledger.listPendingCleanups();

    // Assess
    expect(again).toBe("exists");
    expect(before.map((s) => s.hostId)).toEqual([I2, I1]);
    expect([kept, done, doneAgain]).toEqual([true, true, false]);
    expect(after).toHaveLength(1);
    expect(after[0]).toMatchObject({
      hostId: I1,
      attempts: 1,
      lastResult: { status: "KEPT", alive: 1 },
    });
  });

  it("reads one snapshot back, done or pending, and nothing for an unknown rollout", async () => {
    // Prepare
    for (const hostId of [I1, I2]) {
      await ledger.putSnapshot(snapshot(hostId, "2025-03-01T01:00:00.000Z"), []);
    }
    await ledger.completeCleanup({
      hostId: I2,
      rolloutId: "rollout-1",
      result: { status: "DELETED" },
      now: T0,
    });

    // Act
    const done = await ledger.getSnapshot(I2, "rollout-1");
    const pending = await ledger.getSnapshot(I1, "rollout-1");
    const unknown = await ledger.getSnapshot(I1, "rollout-2");

    // Assess
    expect(done).toMatchObject({ hostId: I2, cleanup: "DONE", oldVersion: "1.0.0", jobCount: 1 });
    expect(done?.gsi1pk).toBeUndefined();
    expect(pending).toMatchObject({ hostId: I1, cleanup: "PENDING", gsi1pk: "CLEANUP#PENDING" });
    expect(unknown).toBeUndefined();
  });
});
