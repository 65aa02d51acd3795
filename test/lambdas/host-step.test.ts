import { devNull } from "node:os";
import { GetObjectCommand, S3Client } from "@aws-sdk/client-s3";
import {
  GetCommandInvocationCommand,
  type GetCommandInvocationCommandOutput,
  SendCommandCommand,
  SSMClient,
} from "@aws-sdk/client-ssm";
import { DynamoDBDocumentClient, GetCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import { mockClient } from "aws-sdk-client-mock";
import { afterAll, beforeEach, describe, expect, it, vi } from "vitest";
import type { RolloutItem } from "../../lambdas/common/ledger/items.js";
import type { StepState } from "../../lambdas/common/schemas.js";
import { runHostStep, waitSecondsFor } from "../../lambdas/host-step/host-step.js";
import {
  awsError,
  BUCKET,
  fakeClock,
  HOST_STEP_CONFIG,
  hostItem,
  hostStepDeps,
  I1,
  jobs,
  ROLLOUT_ID,
  rolloutItem,
  SHA,
  s3Body,
  scriptStdout,
  snapshotItem,
  storedInput,
  T0,
  TABLE,
} from "./helpers.js";
import { MemoryLedgerStore } from "./memory-ledger-store.js";

const ssmMock = mockClient(SSMClient);
const ddbMock = mockClient(DynamoDBDocumentClient);
const s3Mock = mockClient(S3Client);

const HOST = { rolloutId: ROLLOUT_ID, wave: 1, hostId: I1, instanceId: I1 };
const OUTPUT_URL = `https://s3.eu-west-1.amazonaws.com/${BUCKET}/commands/${ROLLOUT_ID}/${I1}/switch/cmd-1/${I1}/awsrunShellScript/switch/stdout`;
const context = (remainingMs = 60_000) => ({ getRemainingTimeInMillis: () => remainingMs });

/** The ledger of the test, fresh for each. */
let store: MemoryLedgerStore;

const deps = (clock = fakeClock()) => hostStepDeps(store, clock);

/** Puts the rollout and the host (wave 1, PENDING unless said otherwise) in the ledger. */
function ledger(rollout: Partial<RolloutItem> = {}, host: Parameters<typeof hostItem>[0] = {}) {
  store.putItem(rolloutItem(rollout));
  store.putItem(hostItem({ wave: 1, ...host }));
}

/** The host as the ledger holds it. */
const ledgerHost = () => store.getHost(HOST);

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
  return `diagnostics go to stderr, but some tools print here\n${scriptStdout(JSON.stringify(value))}`;
}

/** SSM sends the preflight as cmd-1 and answers it with a result line on the target. */
function answerPreflight(fields: Record<string, unknown>): void {
  ssmMock.on(SendCommandCommand).resolves({ Command: { CommandId: "cmd-1" } });
  ssmMock.on(GetCommandInvocationCommand).resolves(
    invocation({
      StandardOutputContent: line({
        step: "preflight",
        currentVersion: "2.0.0",
        targetVersion: "2.0.0",
        ...fields,
      }),
    }),
  );
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
    switchMode: "overlap",
    suspendMs: 1200,
    listenerGapMs: 450,
    unservedMs: 7,
    refused: 3,
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
  store = new MemoryLedgerStore();
});

describe("runHostStep: send", () => {
  it("sends the document of the rollout's profile, which fixes the profile", async () => {
    // Prepare
    ledger({ input: storedInput({ profile: "controlm-like" }), profile: "controlm-like" });
    ssmMock.on(SendCommandCommand).resolves({ Command: { CommandId: "cmd-1" } });
    ssmMock.on(GetCommandInvocationCommand).resolves(
      invocation({
        StandardOutputContent: line({ step: "preflight", status: "READY", targetVersion: "2.0.0" }),
      }),
    );

    // Act
    await runHostStep(deps(), { action: "send", step: "preflight", host: HOST }, context());

    // Assess
    expect(ssmMock).toHaveReceivedCommandWith(SendCommandCommand, {
      DocumentName: "AR-Preflight-controlm-like",
      Parameters: expect.objectContaining({ profile: ["controlm-like"] }),
    });
  });

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
    const calls = [...store.calls];

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
      DocumentName: "AR-Preflight-demo",
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
    // The command is recorded (PENDING → PREFLIGHT) before polling, the result after.
    expect(await ledgerHost()).toEqual({
      rolloutId: ROLLOUT_ID,
      hostId: I1,
      instanceId: I1,
      wave: 1,
      order: 0,
      status: "PREFLIGHT",
      commands: { preflight: "cmd-1" },
      stepMs: { preflight: 300 },
      fromVersion: "1.0.0",
      preflightEndedAt: new Date(T0 + 300).toISOString(),
      updatedAt: new Date(T0 + 300).toISOString(),
    });
    // The gate reads only its live fields, fresh (getRolloutGate), not the whole rollout.
    expect(calls).toEqual([
      "getRollout",
      "getRolloutGate",
      "getHost",
      "recordCommand",
      "recordStepResult",
    ]);
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
      DocumentName: "AR-Stage-demo",
      Parameters: {
        profile: ["demo"],
        targetVersion: ["2.0.0"],
        artifactUrl: ["https://artifacts.example.com/agent/agent-2.0.0.tar.gz"],
        artifactSha256: [SHA],
        rolloutId: [ROLLOUT_ID],
      },
      OutputS3KeyPrefix: `commands/${ROLLOUT_ID}/${I1}/stage`,
    });
    expect(await ledgerHost()).toMatchObject({
      status: "STAGING",
      commands: { preflight: "cmd-0", stage: "cmd-2" },
      stepMs: { stage: 100 },
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
    expect(await ledgerHost()).toMatchObject({ status: "PENDING", commands: {}, stepMs: {} });
  });

  it("lets preflight through while failures are within the threshold", async () => {
    // Prepare
    ledger({ failedCount: 2, failureThreshold: 2 });
    answerPreflight({ status: "SKIPPED" });

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

  it("makes READY a host on the target whose switch never reached the ledger, and its switch adopts it", async () => {
    // Prepare: two earlier switches to the target left records on the host; the ledger
    // holds the snapshot of r-reported only.
    ledger();
    store.putItem(snapshotItem(I1, "r-reported"));
    ssmMock
      .on(SendCommandCommand)
      .resolvesOnce({ Command: { CommandId: "cmd-1" } })
      .resolves({ Command: { CommandId: "cmd-3" } });
    ssmMock.on(GetCommandInvocationCommand, { CommandId: "cmd-1" }).resolves(
      invocation({
        StandardOutputContent: line({
          step: "preflight",
          status: "SKIPPED",
          currentVersion: "2.0.0",
          targetVersion: "2.0.0",
          freeMb: 5120,
          switchRecords: ["r-reported", "r-lost"],
        }),
      }),
    );
    ssmMock
      .on(GetCommandInvocationCommand, { CommandId: "cmd-3" })
      .resolves(invocation({ CommandId: "cmd-3", Status: "InProgress" }));

    // Act
    const state = await runHostStep(
      deps(),
      { action: "send", step: "preflight", host: HOST },
      context(),
    );
    await store.recordCommand({
      key: HOST,
      step: "stage",
      commandId: "cmd-2",
      status: "STAGING",
      from: ["PREFLIGHT"],
      now: T0,
    });
    await runHostStep(deps(), { action: "send", step: "switch", host: HOST }, context(5_200));

    // Assess
    const reason =
      "the switch of rollout r-lost to 2.0.0 finished here but never reached the ledger: READY so that the switch reports it";
    expect(state).toMatchObject({ done: true, status: "READY", summary: { reason } });
    expect(await ledgerHost()).toMatchObject({ adoptRolloutId: "r-lost", fromVersion: "2.0.0" });
    expect(ssmMock).toHaveReceivedNthCommandWith(SendCommandCommand, 2, {
      DocumentName: "AR-Switch-demo",
      Parameters: {
        profile: ["demo"],
        targetVersion: ["2.0.0"],
        rolloutId: [ROLLOUT_ID],
        adoptRolloutId: ["r-lost"],
      },
    });
  });

  it("leaves SKIPPED a host on the target whose switch records the ledger all holds", async () => {
    // Prepare
    ledger();
    store.putItem(snapshotItem(I1, "r-reported"));
    answerPreflight({ status: "SKIPPED", switchRecords: ["r-reported", ROLLOUT_ID] });

    // Act
    const state = await runHostStep(
      deps(),
      { action: "send", step: "preflight", host: HOST },
      context(),
    );

    // Assess: its own record is never adopted; the reported one is not adopted twice.
    expect(state).toMatchObject({ done: true, status: "SKIPPED" });
    expect(await ledgerHost()).not.toHaveProperty("adoptRolloutId");
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
    expect(await ledgerHost()).toMatchObject({
      status: "SWITCHING",
      commands: { preflight: "c0", stage: "c1", switch: "cmd-old" },
      stepMs: {},
    });
    expect(store.calls).not.toContain("recordCommand");
  });

  it("follows the command another attempt recorded first", async () => {
    // Prepare: a concurrent attempt records its command while this one sends
    ledger();
    ssmMock.on(SendCommandCommand).callsFake(async () => {
      await store.recordCommand({
        key: HOST,
        step: "preflight",
        commandId: "cmd-first",
        status: "PREFLIGHT",
        from: ["PENDING"],
        now: T0,
      });
      return { Command: { CommandId: "cmd-dup" } };
    });
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
    expect(await ledgerHost()).toMatchObject({
      status: "PREFLIGHT",
      commands: { preflight: "cmd-first" },
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
    expect(await ledgerHost()).toMatchObject({ status: "PENDING", commands: {} });
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
    const command: StepState & { commandId: string } = {
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
    const command: StepState & { commandId: string } = {
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
    const command: StepState & { commandId: string } = {
      step: "stage",
      commandId: "cmd-1",
      done: false,
      waitSeconds: 2,
      sentAt: new Date(T0).toISOString(),
    };

    // Act
    const state = await runHostStep(
      { ...d, config: { ...HOST_STEP_CONFIG, inlinePollSeconds: 0 } },
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
    const command: StepState & { commandId: string } = {
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
    const command: StepState & { commandId: string } = {
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
    expect(store.calls).toEqual(["getRollout"]);
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
    const after = await ledgerHost();
    expect(after).toMatchObject({
      status: "STAGING",
      commands: { preflight: "c0", stage: "cmd-1" },
      stepMs: {},
    });
    expect(after?.stepMs).toEqual({});
    expect(after).not.toHaveProperty("runningVersion");
  });

  it("records the version a FAILED line says the host serves, then raises the error", async () => {
    // Prepare: the switch's cutover went through, its resume did not.
    ledger(
      {},
      { status: "SWITCHING", commands: { preflight: "c0", stage: "c1", switch: "cmd-1" } },
    );
    const failed = (currentVersion: string) =>
      invocation({
        Status: "Failed",
        StatusDetails: "Failed",
        ResponseCode: 1,
        StandardOutputContent: line({
          step: "switch",
          status: "FAILED",
          error: "resume failed",
          currentVersion,
        }),
      });
    ssmMock.on(GetCommandInvocationCommand).resolvesOnce(failed("2.0.0")).resolves(failed("v2"));

    // Act
    const named = runHostStep(deps(), poll("switch"), context());
    await expect(named).rejects.toMatchObject({
      name: "HostStepFailedError",
      message: "switch failed on i-0123456789abcdef0 (it serves 2.0.0): resume failed",
      currentVersion: "2.0.0",
    });
    const recorded = await ledgerHost();
    // A currentVersion that is not a version is neither quoted nor recorded.
    const notVersion = runHostStep(deps(), poll("switch"), context());
    await expect(notVersion).rejects.toMatchObject({
      message: "switch failed on i-0123456789abcdef0: resume failed",
      currentVersion: undefined,
    });

    // Assess
    expect(recorded).toMatchObject({
      status: "SWITCHING",
      runningVersion: "2.0.0",
      stepMs: { switch: 4000 },
    });
    expect(await ledgerHost()).toEqual(recorded);
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
    expect(await store.getSnapshot(I1, ROLLOUT_ID)).toBeUndefined();
    expect(store.snapshotJobs(I1, ROLLOUT_ID)).toEqual([]);
    expect(await ledgerHost()).toMatchObject({
      status: "SWITCHING",
      stepMs: { switch: 4000 },
      fromVersion: "1.0.0",
      suspendMs: 1200,
      listenerGapMs: 450,
      unservedMs: 7,
      toVersion: "1.0.0",
    });
  });

  it("records the target release a ROLLED_BACK switch abandoned as an empty snapshot for cleanup", async () => {
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
          abandonedRelease: "/opt/agent/releases/2.0.0",
          reason: "health check failed for 30 s",
        }),
      }),
    );

    // Act
    const state = await runHostStep(deps(), poll("switch"), context());

    // Assess
    expect(state).toMatchObject({ done: true, status: "ROLLED_BACK" });
    expect(await store.getSnapshot(I1, ROLLOUT_ID)).toMatchObject({
      oldVersion: "2.0.0",
      oldRelease: "/opt/agent/releases/2.0.0",
      abandoned: true,
      jobCount: 0,
      jobsSha256: jobs(0).sha256,
      cleanup: "PENDING",
    });
  });

  it("reads a truncated stdout from S3 and writes a 2,500-job snapshot in 3 chunks before returning", async () => {
    // Prepare
    ledger(
      {},
      { status: "SWITCHING", commands: { preflight: "c0", stage: "c1", switch: "cmd-1" } },
    );
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
    const calls = [...store.calls];

    // Assess
    expect(s3Mock).toHaveReceivedCommandWith(GetObjectCommand, {
      Bucket: BUCKET,
      Key: `commands/${ROLLOUT_ID}/${I1}/switch/cmd-1/${I1}/awsrunShellScript/switch/stdout`,
    });
    const createdAt = new Date(T0).toISOString();
    expect(await store.getSnapshot(I1, ROLLOUT_ID)).toEqual({
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
      attempts: 0,
      createdAt,
    });
    expect(store.snapshotJobs(I1, ROLLOUT_ID)).toEqual(jobs(2500).items);
    expect((await store.listPendingCleanups()).items.map((snapshot) => snapshot.hostId)).toEqual([
      I1,
    ]);
    // The snapshot, then the host's step result.
    expect(calls.slice(-2)).toEqual(["putSnapshot", "recordStepResult"]);
    expect(await ledgerHost()).toMatchObject({
      stepMs: { switch: 4000 },
      fromVersion: "1.0.0",
      toVersion: "2.0.0",
      suspendMs: 1200,
      listenerGapMs: 450,
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
    expect(await store.getSnapshot(I1, ROLLOUT_ID)).toBeUndefined();
    expect(store.snapshotJobs(I1, ROLLOUT_ID)).toEqual([]);
    expect(await ledgerHost()).toMatchObject({ stepMs: {} });
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
    expect(await store.getSnapshot(I1, ROLLOUT_ID)).toBeUndefined();
    expect(store.snapshotJobs(I1, ROLLOUT_ID)).toEqual([]);
    expect(await ledgerHost()).toMatchObject({ toVersion: "2.0.0", fromVersion: "2.0.0" });
  });

  it("writes the snapshot an UNCHANGED repeat of this rollout's switch reports (the first did not resume)", async () => {
    // Prepare: the repeated switch reports the release its first run left and its jobs.
    ledger(
      {},
      { status: "SWITCHING", commands: { preflight: "c0", stage: "c1", switch: "cmd-1" } },
    );
    const repeated = switchLine(2, {
      status: "UNCHANGED",
      switchMode: null,
      suspendMs: null,
      listenerGapMs: null,
      unservedMs: null,
      refused: null,
      healthMs: null,
      configureReport: null,
    });
    ssmMock
      .on(GetCommandInvocationCommand)
      .resolves(invocation({ StandardOutputContent: line(repeated) }));

    // Act
    const state = await runHostStep(deps(), poll("switch"), context());

    // Assess
    expect(state).toMatchObject({ done: true, status: "UNCHANGED" });
    expect(await store.getSnapshot(I1, ROLLOUT_ID)).toMatchObject({
      oldVersion: "1.0.0",
      oldRelease: "/opt/agent/releases/1.0.0",
      jobCount: 2,
      jobsSha256: repeated.jobs.sha256,
      cleanup: "PENDING",
    });
    expect(store.snapshotJobs(I1, ROLLOUT_ID)).toEqual(repeated.jobs.items);
  });

  it("accepts a snapshot already written by an earlier attempt", async () => {
    // Prepare
    ledger(
      {},
      { status: "SWITCHING", commands: { preflight: "c0", stage: "c1", switch: "cmd-1" } },
    );
    const { items, sha256 } = jobs(5);
    await store.putSnapshot({
      hostId: I1,
      rolloutId: ROLLOUT_ID,
      instanceId: I1,
      profile: "demo",
      oldVersion: "1.0.0",
      oldRelease: "/opt/agent/releases/1.0.0",
      jobs: items,
      jobsSha256: sha256,
      now: T0 - 1000,
    });
    ssmMock
      .on(GetCommandInvocationCommand)
      .resolves(invocation({ StandardOutputContent: line(switchLine(5)) }));

    // Act
    const state = await runHostStep(deps(), poll("switch"), context());

    // Assess
    expect(state).toMatchObject({ done: true, status: "SWITCHED" });
    expect(await store.getSnapshot(I1, ROLLOUT_ID)).toMatchObject({
      jobCount: 5,
      createdAt: new Date(T0 - 1000).toISOString(),
    });
    expect(await ledgerHost()).toMatchObject({ stepMs: { switch: 4000 }, toVersion: "2.0.0" });
    expect(store.calls.filter((call) => call === "recordStepResult")).toHaveLength(1);
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
      DOCUMENT_PREFIX: "Env",
      OUTPUT_BUCKET: "env-bucket",
      AWS_REGION: "us-east-1",
      AWS_ACCESS_KEY_ID: "test",
      AWS_SECRET_ACCESS_KEY: "test",
      LAMBDA_LOG_FILE: devNull,
    })) {
      vi.stubEnv(name, value);
    }
    // The entry builds its own DynamoDB-backed store: answer its reads.
    ddbMock.on(GetCommand).callsFake((input: { Key?: { sk?: string } }) => ({
      Item: input.Key?.sk === "ROLLOUT" ? rolloutItem() : hostItem({ wave: 1 }),
    }));
    ddbMock.on(UpdateCommand).resolves({});
    answerPreflight({ status: "READY", currentVersion: "1.0.0" });
    const { handler } = await import("../../lambdas/host-step/index.js");

    // Act
    const state = await handler(
      { action: "send", step: "preflight", host: HOST },
      { getRemainingTimeInMillis: () => 30_000, awsRequestId: "req-1" },
    );

    // Assess
    expect(state).toMatchObject({ done: true, status: "READY" });
    expect(ssmMock).toHaveReceivedCommandWith(SendCommandCommand, {
      DocumentName: "Env-Preflight-demo",
      TimeoutSeconds: 600,
      OutputS3BucketName: "env-bucket",
    });
  });

  it("refuses a poll without its command, or its command without an id, naming the field", async () => {
    // Prepare
    const { handler } = await import("../../lambdas/host-step/index.js");

    // Act
    const withoutCommand = await handler(
      { action: "poll", step: "stage", host: HOST },
      { getRemainingTimeInMillis: () => 30_000, awsRequestId: "req-2" },
    ).catch((error: unknown) => error);
    const withoutId = await handler(
      {
        action: "poll",
        step: "stage",
        host: HOST,
        command: { step: "stage", done: false, waitSeconds: 2 },
      },
      { getRemainingTimeInMillis: () => 30_000, awsRequestId: "req-3" },
    ).catch((error: unknown) => error);
    const otherStep = await handler(
      {
        action: "poll",
        step: "stage",
        host: HOST,
        command: { step: "switch", commandId: "c-1", done: false, waitSeconds: 2 },
      },
      { getRemainingTimeInMillis: () => 30_000, awsRequestId: "req-4" },
    ).catch((error: unknown) => error);

    // Assess
    expect(withoutCommand).toMatchObject({
      name: "InvalidInputError",
      message: "command: required",
    });
    expect(withoutId).toMatchObject({
      name: "InvalidInputError",
      message: "command.commandId: required",
    });
    expect(otherStep).toMatchObject({
      name: "InvalidInputError",
      message: "command.step: is switch, expected stage",
    });
    expect(ssmMock.calls()).toHaveLength(0);
  });
});
