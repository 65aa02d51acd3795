/**
 * The measurement hooks the benchmarks rely on count exactly: the metered local
 * DynamoDB (request and capacity units), and a whole 2-host rollout through the
 * synthesized state machine (transitions, history events, handler calls, commands).
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  ConditionalCheckFailedException,
  CreateTableCommand,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
} from "@aws-sdk/client-dynamodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLightFleet, LIGHT_PROFILE_FILE } from "../../bench/light-fleet.js";
import type { RolloutMeasurement } from "../../bench/scenario.js";
import { runScenario } from "../../bench/scenario.js";
import { type LocalDynamo, startLocalDynamo } from "../../local/dynamo.js";

describe("metered local DynamoDB", () => {
  let dynamo: LocalDynamo;
  let client: DynamoDBClient;

  beforeAll(async () => {
    dynamo = await startLocalDynamo(undefined, { meter: true, indexKeyAttributes: ["gsi1pk"] });
    client = new DynamoDBClient({
      endpoint: dynamo.endpoint,
      region: "us-east-1",
      credentials: { accessKeyId: "local", secretAccessKey: "local" },
    });
    await client.send(
      new CreateTableCommand({
        TableName: "metered",
        KeySchema: [{ AttributeName: "pk", KeyType: "HASH" }],
        AttributeDefinitions: [{ AttributeName: "pk", AttributeType: "S" }],
        BillingMode: "PAY_PER_REQUEST",
      }),
    );
  });

  afterAll(async () => {
    client.destroy();
    await dynamo.close();
  });

  it("counts requests and the capacity units DynamoDB would bill", async () => {
    // Prepare: a 1.5 KB item (2 write units, 1 read unit), a small indexed one
    const big = { pk: { S: "big" }, data: { S: "x".repeat(1_500) } };
    const indexed = { pk: { S: "indexed" }, gsi1pk: { S: "PENDING" } };

    // Act
    await client.send(new PutItemCommand({ TableName: "metered", Item: big }));
    await client.send(new PutItemCommand({ TableName: "metered", Item: indexed }));
    await client.send(
      new GetItemCommand({ TableName: "metered", Key: { pk: { S: "big" } }, ConsistentRead: true }),
    );
    await client.send(new GetItemCommand({ TableName: "metered", Key: { pk: { S: "indexed" } } }));
    const refused = client.send(
      new PutItemCommand({
        TableName: "metered",
        Item: indexed,
        ConditionExpression: "attribute_not_exists(pk)",
      }),
    );
    await expect(refused).rejects.toBeInstanceOf(ConditionalCheckFailedException);

    // Assess
    expect(dynamo.meter?.usage()).toEqual({
      requests: { CreateTable: 1, PutItem: 3, GetItem: 2 },
      readUnits: 1.5,
      writeUnits: 3,
      indexWriteUnits: 1,
      failedConditionalWrites: 1,
    });
  });
});

describe("a measured 2-host rollout", () => {
  let workDir: string;
  let measured: RolloutMeasurement;

  beforeAll(async () => {
    workDir = await mkdtemp(join(tmpdir(), "agent-rollout-bench-test-"));
    await createLightFleet(workDir, { hosts: 2, fromVersion: "1.0.0" });
    const [rollout] = await runScenario({
      workDir,
      profileFile: LIGHT_PROFILE_FILE,
      rollouts: [{ label: "two", targetVersion: "2.0.0", batchSize: 1, canary: 1, jobsPerHost: 0 }],
    });
    if (rollout === undefined) throw new Error("no measurement");
    measured = rollout;
  }, 60_000);

  afterAll(async () => {
    await rm(workDir, { recursive: true, force: true });
  });

  it("upgrades both hosts", () => {
    // Assess
    expect(measured.status).toBe("SUCCEEDED");
    expect(measured.hostStatuses).toEqual({ UPGRADED: 2 });
  });

  it("counts every state the parent entered, as AWS bills and records them", () => {
    // Assess: canary wave of 1, then a wave of 1
    expect(measured.waves).toBe(2);
    expect(measured.parent.entries).toEqual({
      PlanRollout: 1,
      IsDryRun: 1,
      StartFirstWave: 1,
      LoadWaveHosts: 2,
      UpgradeWaveHosts: 2,
      VerifyWaveHosts: 2,
      EvaluateWave: 2,
      IsRolloutHalted: 2,
      HasMoreWaves: 2,
      NeedsApproval: 1,
      FinishRollout: 1,
      RolloutSucceeded: 1,
    });
    expect(measured.parent.transitions).toBe(18);
    // Execution 2, each Lambda task 5, each Distributed Map 6, each other state 2
    // (the model of bench/metrics.ts).
    expect(measured.parent.historyEvents).toBe(
      2 + 5 * (1 + 2 + 2 + 1) + 6 * (2 + 2) + 2 * (1 + 1 + 2 + 2 + 1 + 1),
    );
  });

  it("counts each host's child execution: 10 transitions, 34 history events", () => {
    // Assess: IsRollbackRollout, 3 x (Send task, IsDone choice), IsHostAlreadyUpgraded,
    // RecordHostResult, HostDone
    expect(measured.childTransitions).toMatchObject({ count: 2, min: 10, max: 10, total: 20 });
    expect(measured.childHistoryEvents).toMatchObject({
      count: 2,
      min: 2 + 4 * 5 + 6 * 2,
      max: 34,
    });
  });

  it("times every handler call and every host step against its command", () => {
    // Assess: besides the 3 upgrade steps, each host is verified once (bakeSeconds 0)
    const calls = Object.fromEntries(
      Object.entries(measured.handlers).map(([name, usage]) => [name, usage.invocations]),
    );
    expect(calls).toEqual({
      "plan-rollout": 1,
      "load-wave": 2,
      "host-step": 8,
      "record-host": 2,
      "evaluate-wave": 2,
      "finish-rollout": 1,
    });
    expect(measured.commands).toBe(8);
    expect(measured.ssmCalls.SendCommand).toBe(8);
    expect(measured.s3Puts).toBe(16);
    expect(measured.steps).toHaveLength(6);
    for (const step of measured.steps) {
      expect(step.transitions).toBe(2);
      expect(step.commandStart).toBeGreaterThanOrEqual(step.sentAt);
      expect(step.commandEnd).toBeGreaterThanOrEqual(step.commandStart);
      expect(step.doneAt).toBeGreaterThanOrEqual(step.commandEnd);
    }
    const b = measured.breakdown;
    expect(
      b.onHost +
        b.dispatch +
        b.detection +
        b.recordHost +
        b.childOther +
        b.verification +
        b.parentTasks +
        b.rest,
    ).toBe(measured.wallMs);
    // Each part is a time spent, none more than the rollout: a child ends with its own
    // last state, not with the rollout; the two verifications take time.
    for (const part of Object.values(b)) expect(part).toBeGreaterThanOrEqual(0);
    expect(b.verification).toBeGreaterThan(0);
  });
});
