import {
  DeleteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  QueryCommand,
  UpdateCommand,
} from "@aws-sdk/lib-dynamodb";
import { mockClient } from "aws-sdk-client-mock";
import { beforeEach, describe, expect, it } from "vitest";
import type { HostItem, RolloutItem } from "../../lambdas/common/store.js";
import { evaluateWave } from "../../lambdas/evaluate-wave/evaluate-wave.js";
import { finishRollout } from "../../lambdas/finish-rollout/finish-rollout.js";
import { loadWave } from "../../lambdas/load-wave/load-wave.js";
import {
  awsError,
  hostItem,
  I1,
  I2,
  I3,
  ROLLOUT_ID,
  rolloutItem,
  storedInput,
  T0,
  TABLE,
  testDeps,
} from "./helpers.js";

const ddbMock = mockClient(DynamoDBDocumentClient);
const ROLLOUT_KEY = { pk: `ROLLOUT#${ROLLOUT_ID}`, sk: "ROLLOUT" };
const NOW = new Date(T0).toISOString();

function ledger(rollout: RolloutItem | undefined, hosts: HostItem[]) {
  ddbMock.on(GetCommand, { Key: ROLLOUT_KEY }).resolves({ Item: rollout });
  ddbMock.on(QueryCommand).resolves({ Items: hosts });
  ddbMock.on(UpdateCommand).resolves({});
  ddbMock.on(DeleteCommand).resolves({});
}

const id = (n: number) => `i-${String(n).padStart(17, "0")}`;
const hosts = (wave: number, statuses: HostItem["status"][], offset = 0) =>
  statuses.map((status, n) =>
    hostItem({
      hostId: id(wave * 100 + n),
      wave,
      order: offset + n,
      status,
      ...(status === "FAILED"
        ? { error: { name: "HostStepFailedError", message: `host ${n} broke` } }
        : {}),
    }),
  );

beforeEach(() => {
  ddbMock.reset();
});

describe("loadWave", () => {
  it("returns the wave's hosts in order and marks the rollout RUNNING on wave 0", async () => {
    // Prepare
    ledger(rolloutItem(), [
      hostItem({ hostId: I2, order: 1 }),
      hostItem({ hostId: I3, instanceId: I3, order: 2 }),
      hostItem({ hostId: I1, order: 0 }),
    ]);

    // Act
    const result = await loadWave(testDeps({}), { rolloutId: ROLLOUT_ID, wave: 0 });

    // Assess
    expect(result).toEqual({
      wave: 0,
      hosts: [
        { hostId: I1, instanceId: I1 },
        { hostId: I2, instanceId: I2 },
        { hostId: I3, instanceId: I3 },
      ],
    });
    expect(ddbMock).toHaveReceivedCommandWith(UpdateCommand, {
      Key: ROLLOUT_KEY,
      UpdateExpression: "SET #status = :running, updatedAt = :now",
      ConditionExpression: "#status = :planned",
    });
    expect(ddbMock).toHaveReceivedCommandWith(QueryCommand, {
      KeyConditionExpression: "pk = :pk AND begins_with(sk, :prefix)",
      ExpressionAttributeValues: { ":pk": `ROLLOUT#${ROLLOUT_ID}`, ":prefix": "HOST#0000#" },
    });
  });

  it("leaves the rollout status alone for later waves", async () => {
    // Prepare
    ledger(rolloutItem(), []);

    // Act
    const result = await loadWave(testDeps({}), { rolloutId: ROLLOUT_ID, wave: 12 });

    // Assess
    expect(result).toEqual({ wave: 12, hosts: [] });
    expect(ddbMock).toHaveReceivedCommandTimes(UpdateCommand, 0);
    expect(ddbMock).toHaveReceivedCommandWith(QueryCommand, {
      ExpressionAttributeValues: { ":pk": `ROLLOUT#${ROLLOUT_ID}`, ":prefix": "HOST#0012#" },
    });
  });
});

describe("evaluateWave", () => {
  it("continues with the next wave and its bake time while failures are within the threshold", async () => {
    // Prepare
    const rollout = rolloutItem({
      waveCount: 3,
      failureThreshold: 1,
      failedCount: 1,
      input: storedInput({ failureThreshold: 1, bakeSeconds: 300, lockTtlSeconds: 3600 }),
    });
    ledger(rollout, [
      ...hosts(0, ["UPGRADED", "FAILED"]),
      ...hosts(1, ["UPGRADED", "SKIPPED", "UPGRADED"]),
    ]);

    // Act
    const result = await evaluateWave(testDeps({}), { rolloutId: ROLLOUT_ID, wave: 1 });

    // Assess
    expect(result).toEqual({
      decision: "CONTINUE",
      wave: 1,
      nextWave: 2,
      bakeSeconds: 300,
      counts: { UPGRADED: 2, SKIPPED: 1 },
      failedCount: 1,
    });
    expect(ddbMock).toHaveReceivedCommandWith(UpdateCommand, {
      TableName: TABLE,
      Key: { pk: "LOCK#default", sk: "LOCK" },
      UpdateExpression: "SET expiresAt = :expiresAt",
      ConditionExpression: "#owner = :owner",
      ExpressionAttributeValues: {
        ":expiresAt": Math.floor(T0 / 1000) + 3600,
        ":owner": ROLLOUT_ID,
      },
    });
    expect(ddbMock).toHaveReceivedCommandTimes(UpdateCommand, 1);
  });

  it("halts when failures exceed the threshold, and repairs a failedCount left behind", async () => {
    // Prepare
    ledger(rolloutItem({ waveCount: 3, failedCount: 0 }), hosts(0, ["UPGRADED", "ROLLED_BACK"]));

    // Act
    const result = await evaluateWave(testDeps({}), { rolloutId: ROLLOUT_ID, wave: 0 });

    // Assess
    expect(result).toMatchObject({
      decision: "HALT",
      bakeSeconds: 0,
      failedCount: 1,
      reason: "1 failed host(s) exceed the failure threshold 0",
    });
    expect(ddbMock).toHaveReceivedCommandWith(UpdateCommand, {
      Key: ROLLOUT_KEY,
      UpdateExpression: "SET failedCount = :count, updatedAt = :now",
      ConditionExpression: "failedCount < :count",
      ExpressionAttributeValues: { ":count": 1, ":now": NOW },
    });
  });

  it("counts a host of the wave left unfinished as a failure", async () => {
    // Prepare
    ledger(rolloutItem({ waveCount: 3 }), hosts(0, ["UPGRADED", "STAGING"]));

    // Act
    const result = await evaluateWave(testDeps({}), { rolloutId: ROLLOUT_ID, wave: 0 });

    // Assess
    expect(result).toMatchObject({
      decision: "HALT",
      reason: expect.stringContaining("1 never finished"),
    });
  });

  it("is DONE after the last wave", async () => {
    // Prepare
    ledger(rolloutItem({ waveCount: 2, input: storedInput({ bakeSeconds: 60 }) }), [
      ...hosts(0, ["UPGRADED"]),
      ...hosts(1, ["UPGRADED", "UPGRADED"]),
    ]);

    // Act
    const result = await evaluateWave(testDeps({}), { rolloutId: ROLLOUT_ID, wave: 1 });

    // Assess
    expect(result).toEqual({
      decision: "DONE",
      wave: 1,
      nextWave: 2,
      bakeSeconds: 0,
      counts: { UPGRADED: 2 },
      failedCount: 0,
    });
  });

  it("halts when the fleet lock is no longer this rollout's", async () => {
    // Prepare
    ledger(rolloutItem({ waveCount: 3 }), hosts(0, ["UPGRADED"]));
    ddbMock.on(UpdateCommand).rejects(awsError("ConditionalCheckFailedException"));

    // Act
    const result = await evaluateWave(testDeps({}), { rolloutId: ROLLOUT_ID, wave: 0 });

    // Assess
    expect(result).toMatchObject({
      decision: "HALT",
      reason: expect.stringContaining("fleet lock"),
    });
  });

  it("halts a rollout an operator set HALTED", async () => {
    // Prepare
    ledger(rolloutItem({ waveCount: 3, status: "HALTED" }), hosts(0, ["UPGRADED"]));

    // Act
    const result = await evaluateWave(testDeps({}), { rolloutId: ROLLOUT_ID, wave: 0 });

    // Assess
    expect(result).toMatchObject({ decision: "HALT", reason: "the rollout was set HALTED" });
  });
});

describe("finishRollout", () => {
  it("records SUCCEEDED with counts when no host failed, and releases its own lock", async () => {
    // Prepare
    ledger(rolloutItem({ fleet: "eu", input: storedInput({ fleet: "eu" }) }), [
      ...hosts(0, ["UPGRADED"]),
      ...hosts(1, ["UPGRADED", "SKIPPED"]),
    ]);

    // Act
    const result = await finishRollout(testDeps({}), { rolloutId: ROLLOUT_ID, outcome: "DONE" });

    // Assess
    expect(result).toEqual({
      rolloutId: ROLLOUT_ID,
      status: "SUCCEEDED",
      recorded: true,
      hostCount: 3,
      counts: { UPGRADED: 2, SKIPPED: 1 },
      failedHostCount: 0,
      failedHosts: [],
      lockReleased: true,
    });
    expect(ddbMock).toHaveReceivedCommandWith(UpdateCommand, {
      TableName: TABLE,
      Key: ROLLOUT_KEY,
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
    expect(ddbMock).toHaveReceivedCommandWith(DeleteCommand, {
      TableName: TABLE,
      Key: { pk: "LOCK#eu", sk: "LOCK" },
      ConditionExpression: "#owner = :owner",
      ExpressionAttributeNames: { "#owner": "owner" },
      ExpressionAttributeValues: { ":owner": ROLLOUT_ID },
    });
  });

  it("records FAILED after the last wave when hosts failed, listing at most 50 with reasons", async () => {
    // Prepare
    const failed = hosts(
      0,
      Array.from({ length: 60 }, () => "FAILED" as const),
    );
    ledger(rolloutItem({ failureThreshold: 100 }), [...failed, ...hosts(1, ["UPGRADED"], 60)]);

    // Act
    const result = await finishRollout(testDeps({}), { rolloutId: ROLLOUT_ID, outcome: "DONE" });

    // Assess
    expect(result).toMatchObject({
      status: "FAILED",
      failedHostCount: 60,
      counts: { FAILED: 60, UPGRADED: 1 },
    });
    expect(result.failedHosts).toHaveLength(50);
    expect(result.failedHosts[0]).toEqual({
      hostId: id(0),
      wave: 0,
      status: "FAILED",
      reason: "HostStepFailedError: host 0 broke",
    });
    expect(ddbMock).toHaveReceivedCommandWith(UpdateCommand, {
      ExpressionAttributeValues: expect.objectContaining({
        ":status": "FAILED",
        ":error": { name: "HostsFailed", message: "60 of 61 hosts did not upgrade" },
      }),
    });
  });

  it("releases only its own lock: a lock held by another rollout stays", async () => {
    // Prepare
    ledger(rolloutItem(), hosts(0, ["UPGRADED", "NOT_STARTED"]));
    ddbMock.on(DeleteCommand).rejects(awsError("ConditionalCheckFailedException"));

    // Act
    const result = await finishRollout(testDeps({}), { rolloutId: ROLLOUT_ID, outcome: "HALTED" });

    // Assess
    expect(result).toMatchObject({ status: "HALTED", lockReleased: false, recorded: true });
    expect(ddbMock).toHaveReceivedCommandTimes(DeleteCommand, 1);
    expect(ddbMock).toHaveReceivedCommandWith(DeleteCommand, {
      ExpressionAttributeValues: { ":owner": ROLLOUT_ID },
    });
  });

  it("records the failure path's error on a rollout still running", async () => {
    // Prepare
    ledger(rolloutItem({ status: "RUNNING" }), hosts(0, ["UPGRADED"]));

    // Act
    const result = await finishRollout(testDeps({}), {
      rolloutId: ROLLOUT_ID,
      outcome: "FAILED",
      error: {
        Error: "States.TaskFailed",
        Cause:
          '{"errorType":"LedgerConflictError","errorMessage":"rollout x is not in the ledger"}',
      },
    });

    // Assess
    expect(result).toMatchObject({ status: "FAILED", recorded: true, lockReleased: true });
    expect(ddbMock).toHaveReceivedCommandWith(UpdateCommand, {
      ConditionExpression: "attribute_exists(pk) AND #status IN (:from0, :from1, :from2)",
      ExpressionAttributeValues: expect.objectContaining({
        ":status": "FAILED",
        ":from0": "PLANNED",
        ":from1": "RUNNING",
        ":error": { name: "States.TaskFailed", message: "rollout x is not in the ledger" },
      }),
    });
  });

  it.each(["SUCCEEDED", "HALTED", "FAILED"] as const)(
    "leaves a rollout already %s as it is on the failure path, and releases its own lock",
    async (final) => {
      // Prepare: FinishRollout wrote the final status, then the execution failed (or
      // the FAILED status-change event arrives after it).
      ledger(rolloutItem({ status: final, fleet: "eu" }), hosts(0, ["UPGRADED"]));

      // Act
      const result = await finishRollout(testDeps({}), {
        rolloutId: ROLLOUT_ID,
        outcome: "FAILED",
        error: { Error: "States.DataLimitExceeded", Cause: "too big" },
      });

      // Assess
      expect(result).toMatchObject({ status: final, recorded: false, lockReleased: true });
      expect(ddbMock).toHaveReceivedCommandTimes(UpdateCommand, 0);
      expect(ddbMock).toHaveReceivedCommandWith(DeleteCommand, {
        Key: { pk: "LOCK#eu", sk: "LOCK" },
        ExpressionAttributeValues: { ":owner": ROLLOUT_ID },
      });
    },
  );

  it("keeps the lock of another rollout when a late failure event arrives", async () => {
    // Prepare
    ledger(rolloutItem({ status: "SUCCEEDED" }), hosts(0, ["UPGRADED"]));
    ddbMock.on(DeleteCommand).rejects(awsError("ConditionalCheckFailedException"));

    // Act
    const result = await finishRollout(testDeps({}), {
      rolloutId: ROLLOUT_ID,
      outcome: "FAILED",
      error: { Error: "ExecutionFailed", Cause: "late" },
    });

    // Assess
    expect(result).toMatchObject({ status: "SUCCEEDED", recorded: false, lockReleased: false });
    expect(ddbMock).toHaveReceivedCommandTimes(UpdateCommand, 0);
  });

  it("writes nothing on the failure path when planning never wrote the rollout", async () => {
    // Prepare
    ledger(undefined, []);

    // Act
    const result = await finishRollout(testDeps({}), {
      rolloutId: ROLLOUT_ID,
      outcome: "FAILED",
      error: { Error: "InternalServerError", Cause: "boom" },
    });

    // Assess
    expect(result).toMatchObject({ status: "FAILED", recorded: false, lockReleased: false });
    expect(ddbMock).toHaveReceivedCommandTimes(UpdateCommand, 0);
    expect(ddbMock).toHaveReceivedCommandTimes(DeleteCommand, 0);
    expect(ddbMock).toHaveReceivedCommandTimes(QueryCommand, 0);
  });

  it("raises LedgerConflictError when finishing a rollout that does not exist", async () => {
    // Prepare
    ledger(undefined, []);

    // Act
    const result = finishRollout(testDeps({}), { rolloutId: ROLLOUT_ID, outcome: "DONE" });

    // Assess
    await expect(result).rejects.toMatchObject({ name: "LedgerConflictError" });
  });
});
