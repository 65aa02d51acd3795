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
import { DynamoLedgerStore } from "../../lambdas/common/ledger/index.js";
import {
  awsError,
  hostItem,
  I1,
  I2,
  jobs,
  ROLLOUT_ID,
  rolloutItem,
  sdkClients,
  snapshotItem,
  storedInput,
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

describe("DynamoLedgerStore: lock items", () => {
  it("takes the lock with a conditional put; breakLock also accepts the named owner", async () => {
    // Prepare
    ddbMock.on(PutCommand).resolves({});

    // Act
    const lock = await store().store.acquireLock({
      fleet: "eu",
      owner: "r-7",
      now: T0,
      ttlSeconds: 600,
      breakLock: "dead-rollout",
    });

    // Assess
    expect(lock).toEqual({
      fleet: "eu",
      owner: "r-7",
      acquiredAt: NOW,
      expiresAt: Math.floor(T0 / 1000) + 600,
    });
    expect(ddbMock).toHaveReceivedCommandWith(PutCommand, {
      TableName: TABLE,
      Item: {
        pk: "LOCK#eu",
        sk: "LOCK",
        kind: "lock",
        schemaVersion: 1,
        fleet: "eu",
        owner: "r-7",
        acquiredAt: NOW,
        expiresAt: Math.floor(T0 / 1000) + 600,
      },
      ConditionExpression:
        "attribute_not_exists(pk) OR expiresAt <= :now OR #owner = :owner OR #owner = :breakLock",
      ExpressionAttributeNames: { "#owner": "owner" },
      ExpressionAttributeValues: {
        ":now": Math.floor(T0 / 1000),
        ":owner": "r-7",
        ":breakLock": "dead-rollout",
      },
    });
  });

  it("reads the lock that refused it and names its owner and expiry", async () => {
    // Prepare
    const expiresAt = Math.floor(T0 / 1000) + 3600;
    ddbMock.on(PutCommand).rejects(awsError("ConditionalCheckFailedException"));
    ddbMock.on(GetCommand).resolves({
      Item: {
        pk: "LOCK#default",
        sk: "LOCK",
        kind: "lock",
        schemaVersion: 1,
        fleet: "default",
        owner: "other-rollout",
        acquiredAt: new Date(T0 - 60_000).toISOString(),
        expiresAt,
      },
    });

    // Act
    const result = store().store.acquireLock({
      fleet: "default",
      owner: "r-6",
      now: T0,
      ttlSeconds: 600,
    });

    // Assess
    await expect(result).rejects.toMatchObject({
      name: "FleetLockedError",
      owner: "other-rollout",
      expiresAt,
      message: expect.stringMatching(
        /locked by rollout other-rollout until 2025-03-01T03:00:00.000Z.*breakLock: "other-rollout"/,
      ),
    });
    expect(ddbMock).toHaveReceivedCommandWith(PutCommand, {
      ConditionExpression: "attribute_not_exists(pk) OR expiresAt <= :now OR #owner = :owner",
    });
    expect(ddbMock).toHaveReceivedCommandWith(GetCommand, {
      TableName: TABLE,
      Key: { pk: "LOCK#default", sk: "LOCK" },
      ConsistentRead: true,
    });
  });
});

describe("DynamoLedgerStore: rollout item", () => {
  it("creates the rollout item with a put conditional on its absence", async () => {
    // Prepare
    ddbMock.on(PutCommand).rejectsOnce(awsError("ConditionalCheckFailedException")).resolves({});
    const input = storedInput();
    const rollout = { rolloutId: "r-1", input, hostCount: 120, waveCount: 4, now: T0 };

    // Act
    const first = await store().store.createRollout(rollout);
    const second = await store().store.createRollout(rollout);

    // Assess
    expect([first, second]).toEqual(["exists", "created"]);
    expect(ddbMock).toHaveReceivedCommandWith(PutCommand, {
      TableName: TABLE,
      Item: {
        pk: "ROLLOUT#r-1",
        sk: "ROLLOUT",
        kind: "rollout",
        schemaVersion: 1,
        rolloutId: "r-1",
        status: "PLANNED",
        input,
        fleet: "default",
        profile: "demo",
        targetVersion: "2.0.0",
        hostCount: 120,
        waveCount: 4,
        failureThreshold: 0,
        failedCount: 0,
        createdAt: NOW,
        updatedAt: NOW,
        gsi1pk: "ROLLOUTS",
        gsi1sk: `${NOW}#r-1`,
      },
      ConditionExpression: "attribute_not_exists(pk)",
    });
  });

  it("lists rollouts newest first from the sparse index, projected, up to the limit", async () => {
    // Prepare
    const summary = (id: string) => {
      const {
        input: _input,
        pk: _pk,
        sk: _sk,
        kind: _k,
        schemaVersion: _v,
        ...rest
      } = rolloutItem({ rolloutId: id });
      return { pk: `ROLLOUT#${id}`, sk: "ROLLOUT", ...rest };
    };
    ddbMock
      .on(QueryCommand)
      .resolvesOnce({ Items: [summary("r-3"), summary("r-2")], LastEvaluatedKey: { pk: "x" } })
      .resolvesOnce({ Items: [summary("r-1")] });

    // Act
    const rollouts = await store().store.listRollouts(2);

    // Assess
    expect(rollouts.map((r) => r.rolloutId)).toEqual(["r-3", "r-2"]);
    expect(rollouts[0]).not.toHaveProperty("input");
    expect(ddbMock).toHaveReceivedCommandTimes(QueryCommand, 1);
    expect(ddbMock).toHaveReceivedCommandWith(QueryCommand, {
      TableName: TABLE,
      IndexName: "gsi1",
      KeyConditionExpression: "gsi1pk = :rollouts",
      ExpressionAttributeValues: { ":rollouts": "ROLLOUTS" },
      ScanIndexForward: false,
      Limit: 2,
    });
    const projection = ddbMock.commandCalls(QueryCommand)[0]?.args[0].input;
    const names = Object.values(projection?.ExpressionAttributeNames ?? {});
    expect(names).toContain("status");
    expect(names).not.toContain("input");
  });

  it("reads the gate's live fields with a projection, consistently", async () => {
    // Prepare
    ddbMock.on(GetCommand).resolves({
      Item: { status: "RUNNING", failedCount: 1, failureThreshold: 2 },
    });

    // Act
    const gate = await store().store.getRolloutGate(ROLLOUT_ID);

    // Assess
    expect(gate).toEqual({ status: "RUNNING", failedCount: 1, failureThreshold: 2 });
    expect(ddbMock).toHaveReceivedCommandWith(GetCommand, {
      TableName: TABLE,
      Key: { pk: `ROLLOUT#${ROLLOUT_ID}`, sk: "ROLLOUT" },
      ProjectionExpression: "#status, failedCount, failureThreshold",
      ExpressionAttributeNames: { "#status": "status" },
      ConsistentRead: true,
    });
  });

  it("marks the rollout RUNNING conditional on PLANNED", async () => {
    // Prepare
    ddbMock.on(UpdateCommand).rejects(awsError("ConditionalCheckFailedException"));

    // Act
    await store().store.markRolloutRunning(ROLLOUT_ID, T0);

    // Assess
    expect(ddbMock).toHaveReceivedCommandWith(UpdateCommand, {
      TableName: TABLE,
      Key: { pk: `ROLLOUT#${ROLLOUT_ID}`, sk: "ROLLOUT" },
      UpdateExpression: "SET #status = :running, updatedAt = :now",
      ConditionExpression: "#status = :planned",
      ExpressionAttributeNames: { "#status": "status" },
      ExpressionAttributeValues: { ":running": "RUNNING", ":planned": "PLANNED", ":now": NOW },
    });
  });

  it("adds to failedCount with ADD on an existing item, and raises it conditionally", async () => {
    // Prepare
    ddbMock.on(UpdateCommand).resolves({});

    // Act
    await store().store.incrementFailedCount(ROLLOUT_ID, T0);
    await store().store.raiseFailedCount(ROLLOUT_ID, 4, T0);

    // Assess
    expect(ddbMock).toHaveReceivedNthCommandWith(UpdateCommand, 1, {
      TableName: TABLE,
      Key: { pk: `ROLLOUT#${ROLLOUT_ID}`, sk: "ROLLOUT" },
      UpdateExpression: "ADD failedCount :one SET updatedAt = :now",
      ConditionExpression: "attribute_exists(pk)",
      ExpressionAttributeValues: { ":one": 1, ":now": NOW },
    });
    expect(ddbMock).toHaveReceivedNthCommandWith(UpdateCommand, 2, {
      Key: { pk: `ROLLOUT#${ROLLOUT_ID}`, sk: "ROLLOUT" },
      UpdateExpression: "SET failedCount = :count, updatedAt = :now",
      ConditionExpression: "failedCount < :count",
      ExpressionAttributeValues: { ":count": 4, ":now": NOW },
    });
  });

  it("finishes a rollout from the given statuses or its own, or from any with an error", async () => {
    // Prepare
    ddbMock.on(UpdateCommand).resolves({});

    // Act
    await store().store.finishRollout({
      rolloutId: ROLLOUT_ID,
      status: "SUCCEEDED",
      counts: { UPGRADED: 2, SKIPPED: 1 },
      now: T0,
      from: ["PLANNED", "RUNNING"],
    });
    await store().store.finishRollout({
      rolloutId: ROLLOUT_ID,
      status: "FAILED",
      counts: {},
      error: { name: "States.TaskFailed", message: "boom" },
      now: T0,
      from: "any",
    });

    // Assess
    expect(ddbMock).toHaveReceivedNthCommandWith(UpdateCommand, 1, {
      TableName: TABLE,
      Key: { pk: `ROLLOUT#${ROLLOUT_ID}`, sk: "ROLLOUT" },
      UpdateExpression:
        "SET #status = :status, updatedAt = :now, finishedAt = :now, #counts = :counts",
      ConditionExpression: "attribute_exists(pk) AND #status IN (:from0, :from1, :from2)",
      ExpressionAttributeNames: { "#status": "status", "#counts": "counts" },
      ExpressionAttributeValues: {
        ":status": "SUCCEEDED",
        ":now": NOW,
        ":counts": { UPGRADED: 2, SKIPPED: 1 },
        ":from0": "PLANNED",
        ":from1": "RUNNING",
        ":from2": "SUCCEEDED",
      },
    });
    expect(ddbMock).toHaveReceivedNthCommandWith(UpdateCommand, 2, {
      UpdateExpression:
        "SET #status = :status, updatedAt = :now, finishedAt = :now, #counts = :counts, #error = :error",
      ConditionExpression: "attribute_exists(pk)",
      ExpressionAttributeNames: { "#status": "status", "#counts": "counts", "#error": "error" },
      ExpressionAttributeValues: {
        ":status": "FAILED",
        ":now": NOW,
        ":counts": {},
        ":error": { name: "States.TaskFailed", message: "boom" },
      },
    });
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
        "SET #stepMs.#step = :stepMs, updatedAt = :now, #endedAt = :now, fromVersion = :fromVersion, toVersion = :toVersion, suspendMs = :suspendMs, listenerGapMs = :listenerGapMs",
      ConditionExpression: "#commands.#step = :commandId",
      ExpressionAttributeNames: {
        "#commands": "commands",
        "#stepMs": "stepMs",
        "#step": "switch",
        "#endedAt": "switchEndedAt",
      },
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

  it("refuses an item that does not match its versioned schema, naming its key", async () => {
    // Prepare
    ddbMock.on(GetCommand).resolves({ Item: { ...rolloutItem(), schemaVersion: 2 } });

    // Act
    const result = store().store.getRollout(ROLLOUT_ID);

    // Assess
    await expect(result).rejects.toMatchObject({
      name: "InvalidLedgerItemError",
      key: `ROLLOUT#${ROLLOUT_ID} ROLLOUT`,
      message: expect.stringMatching(/^ledger item ROLLOUT#rollout-1 ROLLOUT: schemaVersion: /),
    });
    expect(ddbMock).toHaveReceivedCommandWith(GetCommand, {
      TableName: TABLE,
      Key: { pk: `ROLLOUT#${ROLLOUT_ID}`, sk: "ROLLOUT" },
      ConsistentRead: true,
    });
  });

  it("refuses a map the document client unmarshalled from a __proto__ key, naming its key", async () => {
    // Prepare: the document client's unmarshall builds a map by assignment
    // (`acc[key] = value`), so a stored `__proto__` key comes back as the map's prototype
    const counts: Record<string, number> = Object.create({ UPGRADED: 9 });
    counts.FAILED = 1;
    ddbMock.on(GetCommand).resolves({ Item: { ...rolloutItem({ status: "SUCCEEDED" }), counts } });

    // Act
    const result = store().store.getRollout(ROLLOUT_ID);

    // Assess
    expect(Object.keys(counts)).toEqual(["FAILED"]);
    await expect(result).rejects.toMatchObject({
      name: "InvalidLedgerItemError",
      message: `ledger item ROLLOUT#${ROLLOUT_ID} ROLLOUT: counts: carries a reserved key (__proto__, constructor, prototype)`,
    });
  });

  it("re-sends unprocessed BatchWrite items with backoff", async () => {
    // Prepare
    const hosts = Array.from({ length: 30 }, (_, n) => ({
      hostId: `i-${String(n).padStart(17, "0")}`,
      instanceId: `i-${String(n).padStart(17, "0")}`,
      wave: 0,
      order: n,
    }));
    const leftOver = { PutRequest: { Item: { pk: "p", sk: "s" } } };
    ddbMock
      .on(BatchWriteCommand)
      .resolvesOnce({ UnprocessedItems: { [TABLE]: [leftOver] } })
      .resolves({});
    const { store: ledger, waits } = store();

    // Act
    await ledger.putHosts(ROLLOUT_ID, hosts, T0);

    // Assess
    expect(ddbMock).toHaveReceivedCommandTimes(BatchWriteCommand, 3);
    const first = ddbMock.commandCalls(BatchWriteCommand)[0]?.args[0].input.RequestItems?.[TABLE];
    expect(first).toHaveLength(25);
    expect(first?.[0]).toEqual({
      PutRequest: {
        Item: {
          pk: `ROLLOUT#${ROLLOUT_ID}`,
          sk: `HOST#0000#${hosts[0]?.hostId}`,
          kind: "host",
          schemaVersion: 1,
          rolloutId: ROLLOUT_ID,
          hostId: hosts[0]?.hostId,
          instanceId: hosts[0]?.hostId,
          wave: 0,
          order: 0,
          status: "PENDING",
          commands: {},
          stepMs: {},
          updatedAt: NOW,
        },
      },
    });
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
    const result = store(3).store.putHosts(
      ROLLOUT_ID,
      [{ hostId: I1, instanceId: I1, wave: 0, order: 0 }],
      T0,
    );

    // Assess
    await expect(result).rejects.toMatchObject({
      name: "LedgerWriteIncompleteError",
      message: "BatchWriteItem left 1 items unprocessed after 3 attempts",
    });
    expect(ddbMock).toHaveReceivedCommandTimes(BatchWriteCommand, 3);
  });
});

describe("DynamoLedgerStore: snapshots", () => {
  const snapshot = snapshotItem(I1, ROLLOUT_ID, {
    jobCount: 0,
    jobsSha256: "e".repeat(64),
    chunkCount: 0,
    createdAt: NOW,
  });
  const newSnapshot = {
    hostId: I1,
    rolloutId: ROLLOUT_ID,
    instanceId: I1,
    profile: "demo",
    oldVersion: "1.0.0",
    oldRelease: "/opt/agent/releases/1.0.0",
    jobs: [],
    jobsSha256: "e".repeat(64),
    now: T0,
  };

  it("writes the chunks (BatchWriteItem), then the snapshot item with a conditional put", async () => {
    // Prepare
    ddbMock.on(BatchWriteCommand).resolves({});
    ddbMock.on(PutCommand).resolves({});
    const many = jobs(2500);

    // Act
    const result = await store().store.putSnapshot({
      ...newSnapshot,
      jobs: many.items,
      jobsSha256: many.sha256,
    });

    // Assess
    expect(result).toBe("created");
    const chunks =
      ddbMock.commandCalls(BatchWriteCommand)[0]?.args[0].input.RequestItems?.[TABLE] ?? [];
    expect(chunks.map((r) => [r.PutRequest?.Item?.sk, r.PutRequest?.Item?.jobs.length])).toEqual([
      [`SNAPSHOT#${ROLLOUT_ID}#JOBS#0000`, 1000],
      [`SNAPSHOT#${ROLLOUT_ID}#JOBS#0001`, 1000],
      [`SNAPSHOT#${ROLLOUT_ID}#JOBS#0002`, 500],
    ]);
    expect(chunks[2]?.PutRequest?.Item).toEqual({
      pk: `HOST#${I1}`,
      sk: `SNAPSHOT#${ROLLOUT_ID}#JOBS#0002`,
      kind: "snapshot-chunk",
      schemaVersion: 1,
      rolloutId: ROLLOUT_ID,
      index: 2,
      jobs: many.items.slice(2000),
    });
    expect(ddbMock).toHaveReceivedCommandWith(PutCommand, {
      TableName: TABLE,
      Item: { ...snapshot, jobCount: 2500, jobsSha256: many.sha256, chunkCount: 3 },
      ConditionExpression: "attribute_not_exists(pk)",
    });
    const order = ddbMock.calls().map((call) => call.args[0].constructor.name);
    expect(order).toEqual(["BatchWriteCommand", "PutCommand"]);
  });

  it("treats an existing identical snapshot as written", async () => {
    // Prepare
    ddbMock.on(PutCommand).rejects(awsError("ConditionalCheckFailedException"));
    ddbMock
      .on(GetCommand)
      .resolves({ Item: { ...snapshot, createdAt: "2025-03-01T01:00:00.000Z" } });

    // Act
    const result = await store().store.putSnapshot(newSnapshot);

    // Assess
    expect(result).toBe("exists");
    expect(ddbMock).toHaveReceivedCommandWith(PutCommand, {
      Item: snapshot,
      ConditionExpression: "attribute_not_exists(pk)",
    });
    expect(ddbMock).toHaveReceivedCommandWith(GetCommand, {
      Key: { pk: `HOST#${I1}`, sk: `SNAPSHOT#${ROLLOUT_ID}` },
      ConsistentRead: true,
    });
  });

  it("raises LedgerConflictError when a different snapshot exists", async () => {
    // Prepare
    ddbMock.on(PutCommand).rejects(awsError("ConditionalCheckFailedException"));
    ddbMock.on(GetCommand).resolves({ Item: { ...snapshot, jobsSha256: "f".repeat(64) } });

    // Act
    const result = store().store.putSnapshot(newSnapshot);

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

  it("counts a cleanup attempt, conditional on PENDING, leaving the index keys", async () => {
    // Prepare
    ddbMock.on(UpdateCommand).rejects(awsError("ConditionalCheckFailedException"));

    // Act
    const counted = await store().store.recordCleanupAttempt({
      hostId: I2,
      rolloutId: "r-1",
      result: { status: "KEPT", reason: "2 recorded jobs still running", alive: 2 },
      now: T0,
    });

    // Assess
    expect(counted).toBe(false);
    expect(ddbMock).toHaveReceivedCommandWith(UpdateCommand, {
      TableName: TABLE,
      Key: { pk: `HOST#${I2}`, sk: "SNAPSHOT#r-1" },
      UpdateExpression: "SET lastCheckedAt = :now, lastResult = :result ADD attempts :one",
      ConditionExpression: "#cleanup = :pending",
      ExpressionAttributeNames: { "#cleanup": "cleanup" },
      ExpressionAttributeValues: {
        ":pending": "PENDING",
        ":now": NOW,
        ":result": { status: "KEPT", reason: "2 recorded jobs still running", alive: 2 },
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
      .resolvesOnce({ Items: [snapshotItem(I2, ROLLOUT_ID)] });

    // Act
    const pending = await store().store.listPendingCleanups();

    // Assess
    expect(pending.items.map((s) => s.hostId)).toEqual([I1, I2]);
    expect(pending.items[0]).not.toHaveProperty("gsi1pk");
    expect(ddbMock).toHaveReceivedNthCommandWith(QueryCommand, 1, {
      TableName: TABLE,
      IndexName: "gsi1",
      KeyConditionExpression: "gsi1pk = :pending",
      ExpressionAttributeValues: { ":pending": "CLEANUP#PENDING" },
    });
    expect(ddbMock).toHaveReceivedNthCommandWith(QueryCommand, 2, {
      ExclusiveStartKey: { pk: "a", sk: "b", gsi1pk: "c", gsi1sk: "d" },
    });
  });
});
