/**
 * host-step's rollback step (a whole-rollout rollback): the Rollback document with the
 * versions planned on the host item, the gate before it, the job snapshot of the
 * release it left, and the rolled-back rollout's snapshot retired.
 */
import { GetCommandInvocationCommand, SendCommandCommand, SSMClient } from "@aws-sdk/client-ssm";
import { mockClient } from "aws-sdk-client-mock";
import { beforeEach, describe, expect, it } from "vitest";
import { runHostStep } from "../../lambdas/host-step/host-step.js";
import { finalStatus } from "../../lambdas/record-host/record-host.js";
import {
  hostItem,
  hostStepDeps,
  I1,
  jobs,
  ROLLOUT_ID,
  rolloutItem,
  scriptStdout,
  snapshotItem,
  storedInput,
  T0,
} from "./helpers.js";
import { MemoryLedgerStore } from "./memory-ledger-store.js";

const ssmMock = mockClient(SSMClient);
const HOST = { rolloutId: ROLLOUT_ID, wave: 0, hostId: I1, instanceId: I1 };
const context = { getRemainingTimeInMillis: () => 60_000 };
let store: MemoryLedgerStore;

const deps = () => hostStepDeps(store);

beforeEach(() => {
  ssmMock.reset();
  store = new MemoryLedgerStore();
  // The rollback of rollout "r-up" (1.0.0 -> 2.0.0), whose snapshot kept 1.0.0 on I1.
  store.putItem(
    rolloutItem({
      rollbackOf: "r-up",
      targetVersion: "1.0.0",
      input: storedInput({ targetVersion: "1.0.0", maxSuspendMs: 900 }),
    }),
  );
  store.putItem(hostItem({ wave: 0, fromVersion: "2.0.0", toVersion: "1.0.0" }));
  store.putItem(snapshotItem(I1, "r-up", { oldVersion: "1.0.0" }));
  ssmMock.on(SendCommandCommand).resolves({ Command: { CommandId: "cmd-1" } });
});

/** The host answers the Rollback document with `result`. */
function answers(result: Record<string, unknown>): void {
  ssmMock.on(GetCommandInvocationCommand).resolves({
    CommandId: "cmd-1",
    InstanceId: I1,
    Status: "Success",
    StatusDetails: "Success",
    ResponseCode: 0,
    StandardOutputContent: scriptStdout(JSON.stringify(result)),
    StandardOutputUrl: "",
  });
}

function rolledBack(overrides: Record<string, unknown> = {}) {
  const { items, sha256 } = jobs(2);
  return {
    step: "rollback",
    status: "ROLLED_BACK",
    fromVersion: "2.0.0",
    toVersion: "1.0.0",
    currentVersion: "1.0.0",
    oldRelease: "/opt/agent/releases/2.0.0",
    switchMode: "overlap",
    suspendMs: 800,
    listenerGapMs: 0,
    unservedMs: 0,
    refused: 0,
    jobs: { count: 2, sha256, items },
    ...overrides,
  };
}

describe("runHostStep: rollback", () => {
  it("sends the Rollback document with the host's planned versions; records the release it left and retires the rolled-back snapshot", async () => {
    // Prepare
    answers(rolledBack());

    // Act
    const state = await runHostStep(
      deps(),
      { action: "send", step: "rollback", host: HOST },
      context,
    );

    // Assess
    expect(ssmMock).toHaveReceivedCommandWith(SendCommandCommand, {
      DocumentName: "AR-Rollback-demo",
      InstanceIds: [I1],
      Parameters: {
        profile: ["demo"],
        rolloutId: [ROLLOUT_ID],
        fromVersion: ["2.0.0"],
        toVersion: ["1.0.0"],
      },
      OutputS3KeyPrefix: `commands/${ROLLOUT_ID}/${I1}/rollback`,
    });
    expect(state).toMatchObject({
      step: "rollback",
      done: true,
      status: "ROLLED_BACK",
      summary: { currentVersion: "1.0.0", jobCount: 2, suspendMs: 800, suspendLimitMs: 900 },
    });
    expect(await store.getSnapshot(I1, ROLLOUT_ID)).toMatchObject({
      oldVersion: "2.0.0",
      oldRelease: "/opt/agent/releases/2.0.0",
      jobCount: 2,
      cleanup: "PENDING",
    });
    expect(await store.getSnapshot(I1, "r-up")).toMatchObject({
      cleanup: "DONE",
      lastResult: {
        status: "RETIRED",
        reason: `rolled back by ${ROLLOUT_ID}: the release it kept is current again`,
      },
    });
    expect(await store.getHost(HOST)).toMatchObject({
      status: "SWITCHING",
      commands: { rollback: "cmd-1" },
      fromVersion: "2.0.0",
      toVersion: "1.0.0",
      suspendMs: 800,
      rollbackEndedAt: new Date(T0 + 100).toISOString(),
    });
    expect(
      finalStatus({ outcome: "result", mode: "rollback", host: HOST, rollback: state }),
    ).toEqual({
      status: "UPGRADED",
    });
  });

  it("leaves both snapshots alone for a host the step left alone, recorded SKIPPED with its reason", async () => {
    // Prepare
    const reason = "no previous release to go back to (already cleaned): left alone";
    answers({
      ...rolledBack({
        status: "SKIPPED",
        toVersion: "2.0.0",
        currentVersion: "2.0.0",
        oldRelease: null,
      }),
      suspendMs: null,
      jobs: { count: 0, sha256: null, items: [] },
      reason,
    });

    // Act
    const state = await runHostStep(
      deps(),
      { action: "send", step: "rollback", host: HOST },
      context,
    );

    // Assess
    expect(state).toMatchObject({ status: "SKIPPED", summary: { reason } });
    expect(await store.getSnapshot(I1, ROLLOUT_ID)).toBeUndefined();
    expect(await store.getSnapshot(I1, "r-up")).toMatchObject({ cleanup: "PENDING" });
    expect(
      finalStatus({ outcome: "result", mode: "rollback", host: HOST, rollback: state }),
    ).toEqual({
      status: "SKIPPED",
      error: { name: "LeftAlone", message: reason },
    });
  });

  it("goes through the gate first: a halted rollback sends nothing", async () => {
    // Prepare
    store.putItem(
      rolloutItem({
        rollbackOf: "r-up",
        status: "HALTED",
        input: storedInput({ targetVersion: "1.0.0" }),
      }),
    );

    // Act
    const state = await runHostStep(
      deps(),
      { action: "send", step: "rollback", host: HOST },
      context,
    );

    // Assess
    expect(state).toMatchObject({ step: "rollback", done: true, status: "HALTED" });
    expect(ssmMock).toHaveReceivedCommandTimes(SendCommandCommand, 0);
    expect(
      finalStatus({ outcome: "result", mode: "rollback", host: HOST, rollback: state }),
    ).toEqual({
      status: "NOT_STARTED",
    });
  });

  it("refuses to send a rollback for a host without planned versions", async () => {
    // Prepare
    store.putItem(hostItem({ wave: 0 }));

    // Act
    const sent = runHostStep(deps(), { action: "send", step: "rollback", host: HOST }, context);

    // Assess
    await expect(sent).rejects.toMatchObject({
      name: "LedgerConflictError",
      message: expect.stringContaining("has no planned fromVersion/toVersion"),
    });
    expect(ssmMock).toHaveReceivedCommandTimes(SendCommandCommand, 0);
  });
});
