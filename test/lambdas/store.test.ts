import {
  BatchWriteCommand,
  DeleteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
} from "@aws-sdk/lib-dynamodb";
import { mockClient } from "aws-sdk-client-mock";
import { beforeEach, describe, expect, it } from "vitest";
import { DynamoLedgerStore, type SnapshotItem } from "../../lambdas/common/store.js";
import {
  awsError,
  hostItem,
  I1,
  I2,
  ROLLOUT_ID,
  rolloutItem,
  sdkClients,
  T0,
  TABLE,
} from "./helpers.js";

const ddbMock = mockClient(DynamoDBDocumentClient);
const NOW = new Date(T0).toISOString();
const KEY = { rolloutId: ROLLOUT_ID, wave: 3, hostId: I1 };

function store(batchAttempts?: number) {
  const waits: number[] = [];
  const instance = new DynamoLedgerStore({
    client: sdkClients().document,
    tableName: TABLE,
    batchAttempts,
    sleep: async (ms) => {
      waits.push(ms);
    },
  });
  return { store: instance, waits };
}

beforeEach(() => {
  ddbMock.reset();
});

describe("DynamoLedgerStore: lock", () => {
  it("refreshes the lock only while owning it", async () => {
    // Prepare
    ddbMock.on(UpdateCommand).rejects(awsError("ConditionalCheckFailedException"));

    // Act
    const held = await store().store.refreshLock({
      fleet: "eu",
      owner: "r-1",
      now: T0,
      ttlSeconds: 300,
    });

    // Assess
    expect(held).toBe(false);
    expect(ddbMock).toHaveReceivedCommandWith(UpdateCommand, {
      TableName: TABLE,
      Key: { pk: "LOCK#eu", sk: "LOCK" },
      UpdateExpression: "SET expiresAt = :expiresAt",
      ConditionExpression: "#owner = :owner",
      ExpressionAttributeNames: { "#owner": "owner" },
      ExpressionAttributeValues: { ":expiresAt": Math.floor(T0 / 1000) + 300, ":owner": "r-1" },
    });
  });

  it("releases the lock with a delete conditional on the owner; absent or foreign is false", async () => {
    // Prepare
    ddbMock.on(DeleteCommand).rejectsOnce(awsError("ConditionalCheckFailedException")).resolves({});

    // Act
    const first = await store().store.releaseLock("default", "r-1");
    const second = await store().store.releaseLock("default", "r-1");

    // Assess
    expect([first, second]).toEqual([false, true]);
    expect(ddbMock).toHaveReceivedCommandWith(DeleteCommand, {
      TableName: TABLE,
      Key: { pk: "LOCK#default", sk: "LOCK" },
      ConditionExpression: "#owner = :owner",
      ExpressionAttributeNames: { "#owner": "owner" },
      ExpressionAttributeValues: { ":owner": "r-1" },
    });
  });

  it("does not swallow errors other than a failed condition", async () => {
    // Prepare
    ddbMock.on(DeleteCommand).rejects(awsError("ProvisionedThroughputExceededException"));

    // Act
    const result = store().store.releaseLock("default", "r-1");

    // Assess
    await expect(result).rejects.toMatchObject({ name: "ProvisionedThroughputExceededException" });
  });
});

describe("DynamoLedgerStore: hosts", () => {
  it("records a step's command only if none is recorded and the host is in an expected status", async () => {
    // Prepare
    ddbMock.on(UpdateCommand).resolves({});

    // Act
    const result = await store().store.recordCommand({
      key: KEY,
      step: "stage",
      commandId: "cmd-1",
      status: "STAGING",
      from: ["PREFLIGHT"],
      now: T0,
    });

    // Assess
    expect(result).toEqual({ recorded: true, commandId: "cmd-1" });
    expect(ddbMock).toHaveReceivedCommandWith(UpdateCommand, {
      TableName: TABLE,
      Key: { pk: `ROLLOUT#${ROLLOUT_ID}`, sk: `HOST#0003#${I1}` },
      UpdateExpression: "SET #commands.#step = :commandId, #status = :status, updatedAt = :now",
      ConditionExpression: "attribute_not_exists(#commands.#step) AND #status IN (:from0)",
      ExpressionAttributeNames: { "#commands": "commands", "#step": "stage", "#status": "status" },
      ExpressionAttributeValues: {
        ":commandId": "cmd-1",
        ":status": "STAGING",
        ":now": NOW,
        ":from0": "PREFLIGHT",
      },
    });
  });

  it("returns the command another attempt recorded first", async () => {
    // Prepare
    ddbMock.on(UpdateCommand).rejects(awsError("ConditionalCheckFailedException"));
    ddbMock.on(GetCommand).resolves({
      Item: hostItem({
        wave: 3,
        status: "STAGING",
        commands: { preflight: "c0", stage: "cmd-0" },
      }),
    });

    // Act
    const result = await store().store.recordCommand({
      key: KEY,
      step: "stage",
      commandId: "cmd-1",
      status: "STAGING",
      from: ["PREFLIGHT"],
      now: T0,
    });

    // Assess
    expect(result).toEqual({ recorded: false, commandId: "cmd-0" });
    expect(ddbMock).toHaveReceivedCommandWith(GetCommand, {
      Key: { pk: `ROLLOUT#${ROLLOUT_ID}`, sk: `HOST#0003#${I1}` },
      ConsistentRead: true,
    });
  });

  it("raises LedgerConflictError when the host is in an unexpected status without a command", async () => {
    // Prepare
    ddbMock.on(UpdateCommand).rejects(awsError("ConditionalCheckFailedException"));
    ddbMock.on(GetCommand).resolves({ Item: hostItem({ wave: 3, status: "FAILED" }) });

    // Act
    const result = store().store.recordCommand({
      key: KEY,
      step: "stage",
      commandId: "cmd-1",
      status: "STAGING",
      from: ["PREFLIGHT"],
      now: T0,
    });

    // Assess
    await expect(result).rejects.toMatchObject({
      name: "LedgerConflictError",
      message: `host ${I1} is FAILED; stage expects PREFLIGHT`,
    });
  });

  it("records a step result conditional on its command id", async () => {
    // Prepare
    ddbMock.on(UpdateCommand).resolves({});

    // Act
    await store().store.recordStepResult({
      key: KEY,
      step: "switch",
      commandId: "cmd-9",
      fields: {
        stepMs: 4200,
        fromVersion: "1.0.0",
        toVersion: "2.0.0",
        suspendMs: 900,
        listenerGapMs: 350,
      },
      now: T0,
    });

    // Assess
    expect(ddbMock).toHaveReceivedCommandWith(UpdateCommand, {
      UpdateExpression:
        "SET #stepMs.#step = :stepMs, updatedAt = :now, fromVersion = :fromVersion, toVersion = :toVersion, suspendMs = :suspendMs, listenerGapMs = :listenerGapMs",
      ConditionExpression: "#commands.#step = :commandId",
      ExpressionAttributeNames: { "#commands": "commands", "#stepMs": "stepMs", "#step": "switch" },
      ExpressionAttributeValues: {
        ":stepMs": 4200,
        ":now": NOW,
        ":commandId": "cmd-9",
        ":fromVersion": "1.0.0",
        ":toVersion": "2.0.0",
        ":suspendMs": 900,
        ":listenerGapMs": 350,
      },
    });
  });

  it("finalizes a host only from an active status", async () => {
    // Prepare
    ddbMock.on(UpdateCommand).resolves({});

    // Act
    const result = await store().store.finalizeHost({
      key: KEY,
      status: "FAILED",
      error: { name: "HostStepFailedError", message: "disk full" },
      now: T0,
    });

    // Assess
    expect(result).toEqual({ transitioned: true, status: "FAILED" });
    expect(ddbMock).toHaveReceivedCommandWith(UpdateCommand, {
      UpdateExpression: "SET #status = :final, updatedAt = :now, #error = :error",
      ConditionExpression: "#status IN (:active0, :active1, :active2, :active3)",
      ExpressionAttributeNames: { "#status": "status", "#error": "error" },
      ExpressionAttributeValues: {
        ":final": "FAILED",
        ":now": NOW,
        ":active0": "PENDING",
        ":active1": "PREFLIGHT",
        ":active2": "STAGING",
        ":active3": "SWITCHING",
        ":error": { name: "HostStepFailedError", message: "disk full" },
      },
    });
  });

  it("reads every page of a wave and returns the hosts in order", async () => {
    // Prepare
    ddbMock
      .on(QueryCommand)
      .resolvesOnce({
        Items: [hostItem({ hostId: I2, order: 7, wave: 2 })],
        LastEvaluatedKey: { pk: "x", sk: "y" },
      })
      .resolvesOnce({ Items: [hostItem({ hostId: I1, order: 5, wave: 2 })] });

    // Act
    const hosts = await store().store.listWaveHosts(ROLLOUT_ID, 2);

    // Assess
    expect(hosts.map((h) => h.hostId)).toEqual([I1, I2]);
    expect(ddbMock).toHaveReceivedCommandTimes(QueryCommand, 2);
    expect(ddbMock).toHaveReceivedNthCommandWith(QueryCommand, 1, {
      TableName: TABLE,
      KeyConditionExpression: "pk = :pk AND begins_with(sk, :prefix)",
      ExpressionAttributeValues: { ":pk": `ROLLOUT#${ROLLOUT_ID}`, ":prefix": "HOST#0002#" },
      ConsistentRead: true,
    });
    expect(ddbMock).toHaveReceivedNthCommandWith(QueryCommand, 2, {
      ExclusiveStartKey: { pk: "x", sk: "y" },
    });
  });

  it("refuses an item that does not match its versioned schema", async () => {
    // Prepare
    ddbMock.on(GetCommand).resolves({ Item: { ...rolloutItem(), schemaVersion: 2 } });

    // Act
    const result = store().store.getRollout(ROLLOUT_ID);

    // Assess
    await expect(result).rejects.toMatchObject({
      name: "InvalidLedgerItemError",
      message: expect.stringContaining("schemaVersion"),
    });
  });

  it("re-sends unprocessed BatchWrite items with backoff", async () => {
    // Prepare
    const items = Array.from({ length: 30 }, (_, n) =>
      hostItem({ hostId: `i-${String(n).padStart(17, "0")}`, order: n }),
    );
    const leftOver = { PutRequest: { Item: { pk: "p", sk: "s" } } };
    ddbMock
      .on(BatchWriteCommand)
      .resolvesOnce({ UnprocessedItems: { [TABLE]: [leftOver] } })
      .resolves({});
    const { store: ledger, waits } = store();

    // Act
    await ledger.putHosts(items);

    // Assess
    expect(ddbMock).toHaveReceivedCommandTimes(BatchWriteCommand, 3);
    expect(
      ddbMock.commandCalls(BatchWriteCommand)[0]?.args[0].input.RequestItems?.[TABLE],
    ).toHaveLength(25);
    expect(ddbMock).toHaveReceivedNthCommandWith(BatchWriteCommand, 2, {
      RequestItems: { [TABLE]: [leftOver] },
    });
    expect(
      ddbMock.commandCalls(BatchWriteCommand)[2]?.args[0].input.RequestItems?.[TABLE],
    ).toHaveLength(5);
    expect(waits).toEqual([100]);
  });

  it("gives up after the configured BatchWrite attempts", async () => {
    // Prepare
    ddbMock.on(BatchWriteCommand).resolves({
      UnprocessedItems: { [TABLE]: [{ PutRequest: { Item: { pk: "p", sk: "s" } } }] },
    });

    // Act
    const result = store(3).store.putHosts([hostItem()]);

    // Assess
    await expect(result).rejects.toThrow("1 items unprocessed after 3 attempts");
    expect(ddbMock).toHaveReceivedCommandTimes(BatchWriteCommand, 3);
  });
});

describe("DynamoLedgerStore: snapshots", () => {
  const snapshot: SnapshotItem = {
    pk: `HOST#${I1}`,
    sk: `SNAPSHOT#${ROLLOUT_ID}`,
    kind: "snapshot",
    schemaVersion: 1,
    hostId: I1,
    rolloutId: ROLLOUT_ID,
    instanceId: I1,
    profile: "demo",
    oldVersion: "1.0.0",
    oldRelease: "/opt/agent/releases/1.0.0",
    jobCount: 0,
    jobsSha256: "e".repeat(64),
    chunkCount: 0,
    cleanup: "PENDING",
    gsi1pk: "CLEANUP#PENDING",
    gsi1sk: `${NOW}#${I1}`,
    attempts: 0,
    createdAt: NOW,
  };

  it("treats an existing identical snapshot as written", async () => {
    // Prepare
    ddbMock.on(PutCommand).rejects(awsError("ConditionalCheckFailedException"));
    ddbMock
      .on(GetCommand)
      .resolves({ Item: { ...snapshot, createdAt: "2025-03-01T01:00:00.000Z" } });

    // Act
    const result = await store().store.putSnapshot(snapshot, []);

    // Assess
    expect(result).toBe("exists");
    expect(ddbMock).toHaveReceivedCommandWith(PutCommand, {
      Item: snapshot,
      ConditionExpression: "attribute_not_exists(pk)",
    });
  });

  it("raises LedgerConflictError when a different snapshot exists", async () => {
    // Prepare
    ddbMock.on(PutCommand).rejects(awsError("ConditionalCheckFailedException"));
    ddbMock.on(GetCommand).resolves({ Item: { ...snapshot, jobsSha256: "f".repeat(64) } });

    // Act
    const result = store().store.putSnapshot(snapshot, []);

    // Assess
    await expect(result).rejects.toMatchObject({ name: "LedgerConflictError" });
  });

  it("marks a cleanup done and removes the index keys, conditional on PENDING", async () => {
    // Prepare
    ddbMock.on(UpdateCommand).resolves({});

    // Act
    const done = await store().store.completeCleanup({
      hostId: I1,
      rolloutId: ROLLOUT_ID,
      result: { status: "DELETED" },
      now: T0,
    });

    // Assess
    expect(done).toBe(true);
    expect(ddbMock).toHaveReceivedCommandWith(UpdateCommand, {
      TableName: TABLE,
      Key: { pk: `HOST#${I1}`, sk: `SNAPSHOT#${ROLLOUT_ID}` },
      UpdateExpression:
        "SET #cleanup = :done, lastCheckedAt = :now, lastResult = :result ADD attempts :one REMOVE gsi1pk, gsi1sk",
      ConditionExpression: "#cleanup = :pending",
      ExpressionAttributeNames: { "#cleanup": "cleanup" },
      ExpressionAttributeValues: {
        ":done": "DONE",
        ":pending": "PENDING",
        ":now": NOW,
        ":result": { status: "DELETED" },
        ":one": 1,
      },
    });
  });

  it("queries the sparse index of pending cleanups across pages", async () => {
    // Prepare
    ddbMock
      .on(QueryCommand)
      .resolvesOnce({
        Items: [snapshot],
        LastEvaluatedKey: { pk: "a", sk: "b", gsi1pk: "c", gsi1sk: "d" },
      })
      .resolvesOnce({ Items: [{ ...snapshot, hostId: I2, pk: `HOST#${I2}`, instanceId: I2 }] });

    // Act
    const pending = await store().store.listPendingCleanups();

    // Assess
    expect(pending.map((s) => s.hostId)).toEqual([I1, I2]);
    expect(ddbMock).toHaveReceivedNthCommandWith(QueryCommand, 1, {
      TableName: TABLE,
      IndexName: "gsi1",
      KeyConditionExpression: "gsi1pk = :pending",
      ExpressionAttributeValues: { ":pending": "CLEANUP#PENDING" },
    });
  });
});
