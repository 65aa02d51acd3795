import { devNull } from "node:os";
import { GetObjectCommand, S3Client } from "@aws-sdk/client-s3";
import {
  GetCommandInvocationCommand,
  type GetCommandInvocationCommandOutput,
  SendCommandCommand,
  SSMClient,
} from "@aws-sdk/client-ssm";
import {
  BatchWriteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  UpdateCommand,
} from "@aws-sdk/lib-dynamodb";
import { mockClient } from "aws-sdk-client-mock";
import { afterAll, beforeEach, describe, expect, it, vi } from "vitest";
import type { StepState } from "../../lambdas/common/schemas.js";
import type { RolloutItem } from "../../lambdas/common/store.js";
import {
  type HostStepConfig,
  type HostStepDeps,
  runHostStep,
  waitSecondsFor,
} from "../../lambdas/host-step/host-step.js";
import {
  awsError,
  BUCKET,
  fakeClock,
  hostItem,
  I1,
  jobs,
  ROLLOUT_ID,
  rolloutItem,
  SHA,
  s3Body,
  T0,
  TABLE,
  testDeps,
} from "./helpers.js";

const ssmMock = mockClient(SSMClient);
const ddbMock = mockClient(DynamoDBDocumentClient);
const s3Mock = mockClient(S3Client);

const CONFIG: HostStepConfig = {
  documents: { preflight: "AR-Preflight", stage: "AR-Stage", switch: "AR-Switch" },
  outputBucket: BUCKET,
  inlinePollSeconds: 20,
  deliveryTimeoutSeconds: 600,
};
const HOST = { rolloutId: ROLLOUT_ID, wave: 1, hostId: I1, instanceId: I1 };
const HOST_KEY = { pk: `ROLLOUT#${ROLLOUT_ID}`, sk: `HOST#0001#${I1}` };
const ROLLOUT_KEY = { pk: `ROLLOUT#${ROLLOUT_ID}`, sk: "ROLLOUT" };
const OUTPUT_URL = `https://s3.eu-west-1.amazonaws.com/${BUCKET}/commands/${ROLLOUT_ID}/${I1}/switch/cmd-1/${I1}/awsrunShellScript/switch/stdout`;
const context = (remainingMs = 60_000) => ({ getRemainingTimeInMillis: () => remainingMs });

function deps(clock = fakeClock()): HostStepDeps & { clock: ReturnType<typeof fakeClock> } {
  return { ...testDeps(CONFIG, clock), rolloutCache: new Map<string, RolloutItem>() };
}

function ledger(rollout: Partial<RolloutItem> = {}, host: Parameters<typeof hostItem>[0] = {}) {
  ddbMock.on(GetCommand, { Key: ROLLOUT_KEY }).resolves({ Item: rolloutItem(rollout) });
  ddbMock.on(GetCommand, { Key: HOST_KEY }).resolves({ Item: hostItem({ wave: 1, ...host }) });
  ddbMock.on(UpdateCommand).resolves({});
}

function invocation(
  fields: Partial<GetCommandInvocationCommandOutput>,
): GetCommandInvocationCommandOutput {
  return {
    $metadata: {},
    CommandId: "cmd-1",
    InstanceId: I1,
    Status: "Success",
    StatusDetails: "Success",
    ResponseCode: 0,
    StandardOutputContent: "",
    StandardErrorContent: "",
    StandardOutputUrl: "",
    ...fields,
  };
}

function line(value: Record<string, unknown>): string {
  return `diagnostics go to stderr, but some tools print here\n${JSON.stringify(value)}\n`;
}

function switchLine(count: number, overrides: Record<string, unknown> = {}) {
  const { items, sha256 } = jobs(count);
  return {
    step: "switch",
    status: "SWITCHED",
    fromVersion: "1.0.0",
    toVersion: "2.0.0",
    currentVersion: "2.0.0",
    oldRelease: "/opt/agent/releases/1.0.0",
    suspendMs: 1200,
    listenerGapMs: 450,
    healthMs: 300,
    configureReport: "2 settings changed",
    jobs: { count, sha256, items },
    ...overrides,
  };
}

beforeEach(() => {
  ssmMock.reset();
  ddbMock.reset();
  s3Mock.reset();
});

describe("runHostStep: send", () => {
  it("sends preflight with the contract's parameters, records it, and polls inline until Success", async () => {
    // Prepare
    ledger();
    ssmMock.on(SendCommandCommand).resolves({ Command: { CommandId: "cmd-1" } });
    ssmMock
      .on(GetCommandInvocationCommand)
      .rejectsOnce(awsError("InvocationDoesNotExist"))
      .resolvesOnce(invocation({ Status: "InProgress", StatusDetails: "InProgress" }))
      .resolves(
        invocation({
          StandardOutputContent: line({
            step: "preflight",
            status: "READY",
            currentVersion: "1.0.0",
            targetVersion: "2.0.0",
            freeMb: 5120,
          }),
        }),
      );
    const d = deps();

    // Act
    const state = await runHostStep(
      d,
      { action: "send", step: "preflight", host: HOST },
      context(),
    );

    // Assess
    expect(state).toEqual({
      step: "preflight",
      commandId: "cmd-1",
      done: true,
      waitSeconds: 0,
      sentAt: new Date(T0).toISOString(),
      status: "READY",
      summary: { currentVersion: "1.0.0", targetVersion: "2.0.0", freeMb: 5120 },
    });
    expect(ssmMock).toHaveReceivedCommandTimes(SendCommandCommand, 1);
    expect(ssmMock).toHaveReceivedCommandWith(SendCommandCommand, {
      DocumentName: "AR-Preflight",
      InstanceIds: [I1],
      Parameters: { profile: ["demo"], targetVersion: ["2.0.0"], rolloutId: [ROLLOUT_ID] },
      TimeoutSeconds: 600,
      OutputS3BucketName: BUCKET,
      OutputS3KeyPrefix: `commands/${ROLLOUT_ID}/${I1}/preflight`,
      Comment: `agent-rollout preflight ${ROLLOUT_ID}`,
    });
    expect(ssmMock).toHaveReceivedCommandTimes(GetCommandInvocationCommand, 3);
    expect(ssmMock).toHaveReceivedCommandWith(GetCommandInvocationCommand, {
      CommandId: "cmd-1",
      InstanceId: I1,
    });
    // The first check waits the 100 ms no command could finish in.
    expect(d.clock.sleeps).toEqual([100, 100, 100]);
    expect(ddbMock).toHaveReceivedNthCommandWith(UpdateCommand, 1, {
      Key: HOST_KEY,
      UpdateExpression: "SET #commands.#step = :commandId, #status = :status, updatedAt = :now",
      ConditionExpression: "attribute_not_exists(#commands.#step) AND #status IN (:from0)",
      ExpressionAttributeNames: {
        "#commands": "commands",
        "#step": "preflight",
        "#status": "status",
      },
      ExpressionAttributeValues: {
        ":commandId": "cmd-1",
        ":status": "PREFLIGHT",
        ":now": new Date(T0).toISOString(),
        ":from0": "PENDING",
      },
    });
    expect(ddbMock).toHaveReceivedNthCommandWith(UpdateCommand, 2, {
      Key: HOST_KEY,
      ConditionExpression: "#commands.#step = :commandId",
      ExpressionAttributeValues: expect.objectContaining({
        ":stepMs": 300,
        ":fromVersion": "1.0.0",
        ":commandId": "cmd-1",
      }),
    });
    // The gate reads only its live fields, fresh, not the whole rollout item.
    expect(ddbMock).toHaveReceivedCommandWith(GetCommand, {
      Key: ROLLOUT_KEY,
      ProjectionExpression: "#status, failedCount, failureThreshold",
      ExpressionAttributeNames: { "#status": "status" },
      ConsistentRead: true,
    });
  });

  it("sends stage with the artifact URL and sha256, moving the host from PREFLIGHT to STAGING", async () => {
    // Prepare
    ledger({}, { status: "PREFLIGHT", commands: { preflight: "cmd-0" } });
    ssmMock.on(SendCommandCommand).resolves({ Command: { CommandId: "cmd-2" } });
    ssmMock.on(GetCommandInvocationCommand).resolves(
      invocation({
        CommandId: "cmd-2",
        StandardOutputContent: line({
          step: "stage",
          status: "STAGED",
          release: "/opt/agent/releases/2.0.0",
          sha256: SHA,
          durationMs: 900,
        }),
      }),
    );

    // Act
    const state = await runHostStep(
      deps(),
      { action: "send", step: "stage", host: HOST },
      context(),
    );

    // Assess
    expect(state).toMatchObject({
      done: true,
      status: "STAGED",
      summary: { sha256: SHA, durationMs: 900 },
    });
    expect(ssmMock).toHaveReceivedCommandWith(SendCommandCommand, {
      DocumentName: "AR-Stage",
      Parameters: {
        profile: ["demo"],
        targetVersion: ["2.0.0"],
        artifactUrl: ["https://artifacts.example.com/agent/agent-2.0.0.tar.gz"],
        artifactSha256: [SHA],
        rolloutId: [ROLLOUT_ID],
      },
      OutputS3KeyPrefix: `commands/${ROLLOUT_ID}/${I1}/stage`,
    });
    expect(ddbMock).toHaveReceivedNthCommandWith(UpdateCommand, 1, {
      ExpressionAttributeValues: expect.objectContaining({
        ":status": "STAGING",
        ":from0": "PREFLIGHT",
      }),
    });
  });

  it.each([
    ["too many failures", { failedCount: 1, failureThreshold: 0 }],
    ["a HALTED rollout", { status: "HALTED" as const }],
    ["a FAILED rollout", { status: "FAILED" as const }],
  ])("halts preflight without sending for %s", async (_, rollout) => {
    // Prepare
    ledger(rollout);

    // Act
    const state = await runHostStep(
      deps(),
      { action: "send", step: "preflight", host: HOST },
      context(),
    );

    // Assess
    expect(state).toMatchObject({ step: "preflight", done: true, status: "HALTED" });
    expect(state.commandId).toBeUndefined();
    expect(ssmMock.calls()).toHaveLength(0);
    expect(ddbMock).toHaveReceivedCommandTimes(UpdateCommand, 0);
  });

  it("lets preflight through while failures are within the threshold", async () => {
    // Prepare
    ledger({ failedCount: 2, failureThreshold: 2 });
    ssmMock.on(SendCommandCommand).resolves({ Command: { CommandId: "cmd-1" } });
    ssmMock.on(GetCommandInvocationCommand).resolves(
      invocation({
        StandardOutputContent: line({
          step: "preflight",
          status: "SKIPPED",
          currentVersion: "2.0.0",
          targetVersion: "2.0.0",
        }),
      }),
    );

    // Act
    const state = await runHostStep(
      deps(),
      { action: "send", step: "preflight", host: HOST },
      context(),
    );

    // Assess
    expect(state).toMatchObject({ done: true, status: "SKIPPED" });
    expect(ssmMock).toHaveReceivedCommandTimes(SendCommandCommand, 1);
  });

  it("on a Lambda retry polls the command already recorded instead of sending again", async () => {
    // Prepare
    ledger(
      {},
      { status: "SWITCHING", commands: { preflight: "c0", stage: "c1", switch: "cmd-old" } },
    );
    ssmMock
      .on(GetCommandInvocationCommand)
      .resolves(invocation({ Status: "InProgress", StatusDetails: "InProgress" }));
    const d = deps();

    // Act
    const state = await runHostStep(d, { action: "send", step: "switch", host: HOST }, context());

    // Assess
    expect(ssmMock).toHaveReceivedCommandTimes(SendCommandCommand, 0);
    expect(ssmMock).toHaveReceivedCommandWith(GetCommandInvocationCommand, {
      CommandId: "cmd-old",
      InstanceId: I1,
    });
    expect(state).toMatchObject({
      step: "switch",
      commandId: "cmd-old",
      done: false,
      waitSeconds: 2,
    });
    expect(ddbMock).toHaveReceivedCommandTimes(UpdateCommand, 0);
  });

  it("follows the command another attempt recorded first", async () => {
    // Prepare
    ddbMock.on(GetCommand, { Key: ROLLOUT_KEY }).resolves({ Item: rolloutItem() });
    ddbMock
      .on(GetCommand, { Key: HOST_KEY })
      .resolvesOnce({ Item: hostItem({ wave: 1 }) })
      .resolves({
        Item: hostItem({ wave: 1, status: "PREFLIGHT", commands: { preflight: "cmd-first" } }),
      });
    ddbMock.on(UpdateCommand).rejects(awsError("ConditionalCheckFailedException"));
    ssmMock.on(SendCommandCommand).resolves({ Command: { CommandId: "cmd-dup" } });
    ssmMock
      .on(GetCommandInvocationCommand)
      .resolves(invocation({ Status: "Pending", StatusDetails: "Pending" }));

    // Act
    const state = await runHostStep(
      deps(),
      { action: "send", step: "preflight", host: HOST },
      context(),
    );

    // Assess
    expect(state).toMatchObject({ commandId: "cmd-first", done: false });
    expect(ssmMock).toHaveReceivedCommandWith(GetCommandInvocationCommand, {
      CommandId: "cmd-first",
    });
    expect(ssmMock).not.toHaveReceivedCommandWith(GetCommandInvocationCommand, {
      CommandId: "cmd-dup",
    });
  });

  it("raises HostUnreachableError when SSM refuses the instance", async () => {
    // Prepare
    ledger();
    ssmMock
      .on(SendCommandCommand)
      .rejects(awsError("InvalidInstanceId", "Instances not in a valid state"));

    // Act
    const result = runHostStep(
      deps(),
      { action: "send", step: "preflight", host: HOST },
      context(),
    );

    // Assess
    await expect(result).rejects.toMatchObject({
      name: "HostUnreachableError",
      message: expect.stringContaining(I1),
    });
    expect(ddbMock).toHaveReceivedCommandTimes(UpdateCommand, 0);
  });
});

describe("runHostStep: inline polling", () => {
  it("polls 100 ms apart, then a fifth of the command's age, and stops 5 s before the invocation ends", async () => {
    // Prepare
    ledger();
    ssmMock.on(SendCommandCommand).resolves({ Command: { CommandId: "cmd-1" } });
    ssmMock
      .on(GetCommandInvocationCommand)
      .resolves(invocation({ Status: "InProgress", StatusDetails: "InProgress" }));
    const d = deps();

    // Act: 8 s left → 3 s of polling
    const state = await runHostStep(
      d,
      { action: "send", step: "preflight", host: HOST },
      context(8000),
    );

    // Assess
    expect(d.clock.sleeps).toEqual([
      100, 100, 100, 100, 100, 100, 120, 144, 173, 207, 249, 299, 358, 430,
    ]);
    // One check after each wait: none at the instant of sending.
    expect(ssmMock).toHaveReceivedCommandTimes(GetCommandInvocationCommand, 14);
    expect(state).toEqual({
      step: "preflight",
      commandId: "cmd-1",
      done: false,
      waitSeconds: 2,
      sentAt: new Date(T0).toISOString(),
    });
  });

  it("polls for INLINE_POLL_SECONDS at most", async () => {
    // Prepare
    ledger();
    ssmMock
      .on(GetCommandInvocationCommand)
      .resolves(invocation({ Status: "InProgress", StatusDetails: "InProgress" }));
    const d = deps();
    const command: StepState = {
      step: "stage",
      commandId: "cmd-1",
      done: false,
      waitSeconds: 2,
      sentAt: new Date(T0).toISOString(),
    };

    // Act
    await runHostStep(d, { action: "poll", step: "stage", host: HOST, command }, context(900_000));

    // Assess
    const slept = d.clock.sleeps.reduce((sum, ms) => sum + ms, 0);
    expect(slept).toBeLessThanOrEqual(20_000);
    expect(slept).toBeGreaterThan(19_000);
    expect(Math.max(...d.clock.sleeps)).toBe(1000);
  });

  it("checks at least once even when almost no time is left", async () => {
    // Prepare
    ledger();
    ssmMock.on(GetCommandInvocationCommand).resolves(invocation({ Status: "InProgress" }));
    const d = deps();
    const command: StepState = {
      step: "stage",
      commandId: "cmd-1",
      done: false,
      waitSeconds: 2,
      sentAt: new Date(T0).toISOString(),
    };

    // Act
    const state = await runHostStep(
      d,
      { action: "poll", step: "stage", host: HOST, command },
      context(1000),
    );

    // Assess
    expect(ssmMock).toHaveReceivedCommandTimes(GetCommandInvocationCommand, 1);
    expect(d.clock.sleeps).toEqual([]);
    expect(state.done).toBe(false);
  });

  it.each([
    [30_000, 2],
    [120_000, 5],
    [600_000, 15],
  ])("waits longer between polls as the command ages (%d ms → %d s)", async (ageMs, seconds) => {
    // Prepare
    ledger();
    ssmMock.on(GetCommandInvocationCommand).resolves(invocation({ Status: "InProgress" }));
    const d = deps({ ...fakeClock(T0 + ageMs) } as ReturnType<typeof fakeClock>);
    const command: StepState = {
      step: "stage",
      commandId: "cmd-1",
      done: false,
      waitSeconds: 2,
      sentAt: new Date(T0).toISOString(),
    };

    // Act
    const state = await runHostStep(
      { ...d, config: { ...CONFIG, inlinePollSeconds: 0 } },
      { action: "poll", step: "stage", host: HOST, command },
      context(),
    );

    // Assess
    expect(state.waitSeconds).toBe(seconds);
    expect(waitSecondsFor(ageMs)).toBe(seconds);
  });

  it("treats InvocationDoesNotExist as pending, but as unreachable two minutes after sending", async () => {
    // Prepare
    ledger();
    ssmMock.on(GetCommandInvocationCommand).rejects(awsError("InvocationDoesNotExist"));
    const command: StepState = {
      step: "stage",
      commandId: "cmd-1",
      done: false,
      waitSeconds: 2,
      sentAt: new Date(T0).toISOString(),
    };
    const young = deps(fakeClock(T0 + 10_000));
    const old = deps(fakeClock(T0 + 130_000));

    // Act
    const pending = await runHostStep(
      young,
      { action: "poll", step: "stage", host: HOST, command },
      context(6000),
    );
    const lost = runHostStep(
      old,
      { action: "poll", step: "stage", host: HOST, command },
      context(6000),
    );

    // Assess
    expect(pending).toMatchObject({ done: false, waitSeconds: 2 });
    await expect(lost).rejects.toMatchObject({ name: "HostUnreachableError" });
  });

  it("reads the rollout once per container for polls", async () => {
    // Prepare
    ledger();
    ssmMock.on(GetCommandInvocationCommand).resolves(invocation({ Status: "InProgress" }));
    const d = deps();
    const command: StepState = {
      step: "stage",
      commandId: "cmd-1",
      done: false,
      waitSeconds: 2,
      sentAt: new Date(T0).toISOString(),
    };
    const event = { action: "poll" as const, step: "stage" as const, host: HOST, command };

    // Act
    await runHostStep(d, event, context(5000));
    await runHostStep(d, event, context(5000));

    // Assess
    expect(ddbMock).toHaveReceivedCommandTimes(GetCommand, 1);
  });
});

describe("runHostStep: finished commands", () => {
  const poll = (step: "preflight" | "stage" | "switch"): Parameters<typeof runHostStep>[1] => ({
    action: "poll",
    step,
    host: HOST,
    command: {
      step,
      commandId: "cmd-1",
      done: false,
      waitSeconds: 2,
      sentAt: new Date(T0 - 4000).toISOString(),
    },
  });

  it.each([
    [
      "a FAILED line",
      invocation({
        Status: "Failed",
        StatusDetails: "Failed",
        ResponseCode: 1,
        StandardOutputContent: line({
          step: "stage",
          status: "FAILED",
          error: "sha256 mismatch for /tmp/a.tar.gz",
        }),
      }),
      "HostStepFailedError",
      "stage failed on i-0123456789abcdef0: sha256 mismatch for /tmp/a.tar.gz",
    ],
    [
      "exit 2 without a line",
      invocation({
        Status: "Failed",
        StatusDetails: "Failed",
        ResponseCode: 2,
        StandardErrorContent: "bad targetVersion",
      }),
      "HostStepFailedError",
      "refused its parameters",
    ],
    [
      "an execution timeout",
      invocation({ Status: "TimedOut", StatusDetails: "ExecutionTimedOut", ResponseCode: -1 }),
      "CommandTimedOutError",
      "ExecutionTimedOut",
    ],
    [
      "an undeliverable command",
      invocation({ Status: "Failed", StatusDetails: "Undeliverable" }),
      "HostUnreachableError",
      "Undeliverable",
    ],
    [
      "a delivery timeout",
      invocation({ Status: "TimedOut", StatusDetails: "DeliveryTimedOut" }),
      "HostUnreachableError",
      "DeliveryTimedOut",
    ],
    [
      "a cancelled command",
      invocation({ Status: "Cancelled", StatusDetails: "Cancelled" }),
      "HostStepFailedError",
      "cancelled",
    ],
    [
      "success without a result line",
      invocation({ StandardOutputContent: "done\n" }),
      "CommandOutputError",
      "printed no result line",
    ],
    [
      "a result line of the wrong shape",
      invocation({ StandardOutputContent: line({ step: "stage", status: "DONE" }) }),
      "CommandOutputError",
      "stage result line: status:",
    ],
    [
      "a staged artifact with another sha256",
      invocation({
        StandardOutputContent: line({ step: "stage", status: "STAGED", sha256: "c".repeat(64) }),
      }),
      "CommandOutputError",
      "not the artifact's",
    ],
  ])("turns %s into a named error", async (_, finished, name, text) => {
    // Prepare
    ledger({}, { status: "STAGING", commands: { preflight: "c0", stage: "cmd-1" } });
    ssmMock.on(GetCommandInvocationCommand).resolves(finished);

    // Act
    const result = runHostStep(deps(), poll("stage"), context());

    // Assess
    await expect(result).rejects.toMatchObject({ name, message: expect.stringContaining(text) });
    expect(ddbMock).toHaveReceivedCommandTimes(UpdateCommand, 0);
  });

  it("raises HostUnreachableError when SSM no longer knows the instance while polling", async () => {
    // Prepare
    ledger();
    ssmMock.on(GetCommandInvocationCommand).rejects(awsError("InvalidInstanceId"));

    // Act
    const result = runHostStep(deps(), poll("preflight"), context());

    // Assess
    await expect(result).rejects.toMatchObject({ name: "HostUnreachableError" });
  });

  it("returns ROLLED_BACK (exit 3) as a result, recording timings but no snapshot", async () => {
    // Prepare
    ledger(
      {},
      { status: "SWITCHING", commands: { preflight: "c0", stage: "c1", switch: "cmd-1" } },
    );
    ssmMock.on(GetCommandInvocationCommand).resolves(
      invocation({
        Status: "Failed",
        StatusDetails: "Failed",
        ResponseCode: 3,
        StandardOutputContent: line({
          ...switchLine(3),
          status: "ROLLED_BACK",
          currentVersion: "1.0.0",
          reason: "health check failed for 30 s",
        }),
      }),
    );

    // Act
    const state = await runHostStep(deps(), poll("switch"), context());

    // Assess
    expect(state).toMatchObject({
      done: true,
      status: "ROLLED_BACK",
      summary: { reason: "health check failed for 30 s", currentVersion: "1.0.0", jobCount: 3 },
    });
    expect(ddbMock).toHaveReceivedCommandTimes(PutCommand, 0);
    expect(ddbMock).toHaveReceivedCommandTimes(BatchWriteCommand, 0);
    expect(ddbMock).toHaveReceivedCommandWith(UpdateCommand, {
      ExpressionAttributeValues: expect.objectContaining({
        ":suspendMs": 1200,
        ":listenerGapMs": 450,
        ":toVersion": "1.0.0",
      }),
    });
  });

  it("reads a truncated stdout from S3 and writes a 2,500-job snapshot in 3 chunks before returning", async () => {
    // Prepare
    ledger(
      {},
      { status: "SWITCHING", commands: { preflight: "c0", stage: "c1", switch: "cmd-1" } },
    );
    ddbMock.on(BatchWriteCommand).resolves({});
    ddbMock.on(PutCommand).resolves({});
    const full = line(switchLine(2500));
    expect(full.length).toBeGreaterThan(24_000);
    ssmMock
      .on(GetCommandInvocationCommand)
      .resolves(
        invocation({ StandardOutputContent: full.slice(0, 24_000), StandardOutputUrl: OUTPUT_URL }),
      );
    s3Mock.on(GetObjectCommand).resolves({ Body: s3Body(full) });
    const d = deps();
    const { sha256 } = jobs(2500);

    // Act
    const state = await runHostStep(d, poll("switch"), context());

    // Assess
    expect(s3Mock).toHaveReceivedCommandWith(GetObjectCommand, {
      Bucket: BUCKET,
      Key: `commands/${ROLLOUT_ID}/${I1}/switch/cmd-1/${I1}/awsrunShellScript/switch/stdout`,
    });
    expect(ddbMock).toHaveReceivedCommandTimes(BatchWriteCommand, 1);
    const chunks =
      ddbMock.commandCalls(BatchWriteCommand)[0]?.args[0].input.RequestItems?.[TABLE] ?? [];
    expect(chunks.map((r) => [r.PutRequest?.Item?.sk, r.PutRequest?.Item?.jobs.length])).toEqual([
      [`SNAPSHOT#${ROLLOUT_ID}#JOBS#0000`, 1000],
      [`SNAPSHOT#${ROLLOUT_ID}#JOBS#0001`, 1000],
      [`SNAPSHOT#${ROLLOUT_ID}#JOBS#0002`, 500],
    ]);
    expect(chunks[2]?.PutRequest?.Item).toMatchObject({
      pk: `HOST#${I1}`,
      kind: "snapshot-chunk",
      schemaVersion: 1,
      index: 2,
      jobs: expect.arrayContaining([["job-2499", 3499, 502_499]]),
    });
    const createdAt = new Date(T0).toISOString();
    expect(ddbMock).toHaveReceivedCommandWith(PutCommand, {
      TableName: TABLE,
      Item: {
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
        jobCount: 2500,
        jobsSha256: sha256,
        chunkCount: 3,
        cleanup: "PENDING",
        gsi1pk: "CLEANUP#PENDING",
        gsi1sk: `${createdAt}#${I1}`,
        attempts: 0,
        createdAt,
      },
      ConditionExpression: "attribute_not_exists(pk)",
    });
    // Chunks, then the snapshot item, then the host.
    const order = ddbMock.calls().map((call) => call.args[0].constructor.name);
    expect(order.slice(-3)).toEqual(["BatchWriteCommand", "PutCommand", "UpdateCommand"]);
    expect(ddbMock).toHaveReceivedCommandWith(UpdateCommand, {
      Key: HOST_KEY,
      ExpressionAttributeValues: expect.objectContaining({
        ":stepMs": 4000,
        ":fromVersion": "1.0.0",
        ":toVersion": "2.0.0",
        ":suspendMs": 1200,
        ":listenerGapMs": 450,
      }),
    });
    expect(state).toMatchObject({
      done: true,
      status: "SWITCHED",
      summary: { jobCount: 2500, oldRelease: "/opt/agent/releases/1.0.0" },
    });
    expect(JSON.stringify(state).length).toBeLessThan(1000);
  });

  it.each([
    [
      "a sha256 that does not match the jobs",
      { jobs: { ...jobs(10), count: 10, sha256: "d".repeat(64) } },
      "sha256 mismatch",
    ],
    [
      "a count that does not match the jobs",
      { jobs: { ...jobs(10), count: 11 } },
      "reported 11 jobs but listed 10",
    ],
    ["a SWITCHED host on another version", { currentVersion: "1.9.0" }, "runs 1.9.0"],
    [
      "SWITCHED without a snapshot",
      { jobs: { count: 0, sha256: null, items: [] } },
      "without a job snapshot",
    ],
  ])("refuses a switch result with %s, writing no snapshot", async (_, overrides, text) => {
    // Prepare
    ledger(
      {},
      { status: "SWITCHING", commands: { preflight: "c0", stage: "c1", switch: "cmd-1" } },
    );
    ssmMock
      .on(GetCommandInvocationCommand)
      .resolves(invocation({ StandardOutputContent: line(switchLine(10, overrides)) }));

    // Act
    const result = runHostStep(deps(), poll("switch"), context());

    // Assess
    await expect(result).rejects.toMatchObject({
      name: "CommandOutputError",
      message: expect.stringContaining(text),
    });
    expect(ddbMock).toHaveReceivedCommandTimes(BatchWriteCommand, 0);
    expect(ddbMock).toHaveReceivedCommandTimes(PutCommand, 0);
  });

  it("accepts UNCHANGED with no snapshot (a host this rollout did not switch), writing none", async () => {
    // Prepare: the contract's UNCHANGED line on a host another rollout switched, after
    // the switch restarted a listener that was not serving.
    ledger(
      {},
      { status: "SWITCHING", commands: { preflight: "c0", stage: "c1", switch: "cmd-1" } },
    );
    const unchanged = {
      step: "switch",
      status: "UNCHANGED",
      fromVersion: "2.0.0",
      toVersion: "2.0.0",
      currentVersion: "2.0.0",
      oldRelease: null,
      suspendMs: null,
      listenerGapMs: null,
      healthMs: null,
      configureReport: null,
      jobs: { count: 0, sha256: null, items: [] },
      reason: "on 2.0.0 but not serving (hook.health exited 1): restarted its listener",
    };
    ssmMock
      .on(GetCommandInvocationCommand)
      .resolves(invocation({ StandardOutputContent: line(unchanged) }));

    // Act
    const state = await runHostStep(deps(), poll("switch"), context());

    // Assess
    expect(state).toMatchObject({
      done: true,
      status: "UNCHANGED",
      summary: { jobCount: 0, reason: unchanged.reason, currentVersion: "2.0.0" },
    });
    expect(ddbMock).toHaveReceivedCommandTimes(BatchWriteCommand, 0);
    expect(ddbMock).toHaveReceivedCommandTimes(PutCommand, 0);
    expect(ddbMock).toHaveReceivedCommandWith(UpdateCommand, {
      ExpressionAttributeValues: expect.objectContaining({ ":toVersion": "2.0.0" }),
    });
  });

  it("accepts a snapshot already written by an earlier attempt", async () => {
    // Prepare
    ledger(
      {},
      { status: "SWITCHING", commands: { preflight: "c0", stage: "c1", switch: "cmd-1" } },
    );
    ddbMock.on(BatchWriteCommand).resolves({});
    ddbMock.on(PutCommand).rejects(awsError("ConditionalCheckFailedException"));
    const { sha256 } = jobs(5);
    ddbMock.on(GetCommand, { Key: { pk: `HOST#${I1}`, sk: `SNAPSHOT#${ROLLOUT_ID}` } }).resolves({
      Item: {
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
        jobCount: 5,
        jobsSha256: sha256,
        chunkCount: 1,
        cleanup: "PENDING",
        gsi1pk: "CLEANUP#PENDING",
        gsi1sk: `x#${I1}`,
        attempts: 0,
        createdAt: new Date(T0 - 1000).toISOString(),
      },
    });
    ssmMock
      .on(GetCommandInvocationCommand)
      .resolves(invocation({ StandardOutputContent: line(switchLine(5)) }));

    // Act
    const state = await runHostStep(deps(), poll("switch"), context());

    // Assess
    expect(state).toMatchObject({ done: true, status: "SWITCHED" });
    expect(ddbMock).toHaveReceivedCommandTimes(UpdateCommand, 1);
  });
});

describe("host-step handler", () => {
  afterAll(() => {
    vi.unstubAllEnvs();
  });

  it("reads its documents, bucket and default delivery timeout from the environment", async () => {
    // Prepare
    for (const [name, value] of Object.entries({
      TABLE_NAME: TABLE,
      DOCUMENT_PREFLIGHT: "Env-Preflight",
      DOCUMENT_STAGE: "Env-Stage",
      DOCUMENT_SWITCH: "Env-Switch",
      OUTPUT_BUCKET: "env-bucket",
      AWS_REGION: "us-east-1",
      AWS_ACCESS_KEY_ID: "test",
      AWS_SECRET_ACCESS_KEY: "test",
      LAMBDA_LOG_FILE: devNull,
    })) {
      vi.stubEnv(name, value);
    }
    ledger();
    ssmMock.on(SendCommandCommand).resolves({ Command: { CommandId: "cmd-1" } });
    ssmMock.on(GetCommandInvocationCommand).resolves(
      invocation({
        StandardOutputContent: line({
          step: "preflight",
          status: "READY",
          targetVersion: "2.0.0",
        }),
      }),
    );
    const { handler } = await import("../../lambdas/host-step/index.js");

    // Act
    const state = await handler(
      { action: "send", step: "preflight", host: HOST },
      { getRemainingTimeInMillis: () => 30_000, awsRequestId: "req-1" },
    );

    // Assess
    expect(state).toMatchObject({ done: true, status: "READY" });
    expect(ssmMock).toHaveReceivedCommandWith(SendCommandCommand, {
      DocumentName: "Env-Preflight",
      TimeoutSeconds: 600,
      OutputS3BucketName: "env-bucket",
    });
  });

  it("refuses a poll without its command, naming the field", async () => {
    // Prepare
    const { handler } = await import("../../lambdas/host-step/index.js");

    // Act
    const result = handler(
      { action: "poll", step: "stage", host: HOST },
      { getRemainingTimeInMillis: () => 30_000, awsRequestId: "req-2" },
    );

    // Assess
    await expect(result).rejects.toMatchObject({
      name: "InvalidInputError",
      message: "command: poll needs the command sent",
    });
    expect(ssmMock.calls()).toHaveLength(0);
  });
});
