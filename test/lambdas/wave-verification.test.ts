/**
 * The verification of a wave's upgraded hosts, on the in-memory ledger: host-step's
 * verify (the Preflight document, read-only) and revert (the Rollback document) steps, record-host's
 * stopped-serving record, and EvaluateWave counting and naming such a host.
 */
import {
  GetCommandInvocationCommand,
  type GetCommandInvocationCommandOutput,
  SendCommandCommand,
  SSMClient,
} from "@aws-sdk/client-ssm";
import { mockClient } from "aws-sdk-client-mock";
import { beforeEach, describe, expect, it } from "vitest";
import type { StepState } from "../../lambdas/common/schemas.js";
import { evaluateWave } from "../../lambdas/evaluate-wave/evaluate-wave.js";
import { type HostStepDeps, runHostStep } from "../../lambdas/host-step/host-step.js";
import { recordHost } from "../../lambdas/record-host/record-host.js";
import {
  hostItem,
  hostStepDeps,
  I1,
  I2,
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

const deps = (): HostStepDeps => hostStepDeps(store);

/** The ledger: the rollout (threshold 0, its lock held), I1 UPGRADED to 2.0.0, I2 as given. */
async function ledger(other: "UPGRADED" | "SKIPPED" = "UPGRADED") {
  await store.acquireLock({ fleet: "default", owner: ROLLOUT_ID, now: T0, ttlSeconds: 3600 });
  store.putItem(rolloutItem({ waveCount: 2, failureThreshold: 0, input: storedInput() }));
  store.putItem(
    hostItem({ wave: 0, status: "UPGRADED", fromVersion: "1.0.0", toVersion: "2.0.0" }),
  );
  store.putItem(hostItem({ wave: 0, hostId: I2, instanceId: I2, order: 1, status: other }));
}

function answers(resultLine: Record<string, unknown>): GetCommandInvocationCommandOutput {
  return {
    $metadata: {},
    CommandId: "cmd-1",
    InstanceId: I1,
    Status: "Success",
    StatusDetails: "Success",
    ResponseCode: 0,
    StandardOutputContent: scriptStdout(JSON.stringify(resultLine)),
    StandardErrorContent: "",
    StandardOutputUrl: "",
  };
}

beforeEach(() => {
  ssmMock.reset();
  store = new MemoryLedgerStore();
  ssmMock.on(SendCommandCommand).resolves({ Command: { CommandId: "cmd-1" } });
});

describe("verify step", () => {
  it("sends the Preflight document read-only and reports SERVING when it answers SKIPPED", async () => {
    // Prepare
    await ledger();
    ssmMock.on(GetCommandInvocationCommand).resolves(
      answers({
        step: "preflight",
        status: "SKIPPED",
        currentVersion: "2.0.0",
        targetVersion: "2.0.0",
      }),
    );

    // Act
    const state = await runHostStep(
      deps(),
      { action: "send", step: "verify", host: HOST },
      context,
    );

    // Assess
    expect(state).toMatchObject({ step: "verify", done: true, status: "SERVING" });
    expect(ssmMock).toHaveReceivedCommandWith(SendCommandCommand, {
      DocumentName: "AR-Preflight-demo",
      Parameters: { profile: ["demo"], targetVersion: ["2.0.0"], rolloutId: [ROLLOUT_ID] },
    });
    // Read-only and not recorded: the host item is untouched.
    expect(await store.getHost(HOST)).toMatchObject({ status: "UPGRADED", commands: {} });
  });

  it("reports STOPPED_SERVING with the reason when the host is on the target but not serving", async () => {
    // Prepare
    await ledger();
    ssmMock.on(GetCommandInvocationCommand).resolves(
      answers({
        step: "preflight",
        status: "READY",
        currentVersion: "2.0.0",
        targetVersion: "2.0.0",
        reason: "on 2.0.0 but not serving (hook.health exited 1)",
      }),
    );

    // Act
    const state = await runHostStep(
      deps(),
      { action: "send", step: "verify", host: HOST },
      context,
    );

    // Assess
    expect(state).toMatchObject({
      status: "STOPPED_SERVING",
      summary: { reason: "on 2.0.0 but not serving (hook.health exited 1)" },
    });
  });

  it("sends nothing to a host the ledger does not have UPGRADED", async () => {
    // Prepare
    await ledger("SKIPPED");

    // Act
    const state = await runHostStep(
      deps(),
      { action: "send", step: "verify", host: { ...HOST, hostId: I2, instanceId: I2 } },
      context,
    );

    // Assess
    expect(state).toEqual({ step: "verify", done: true, waitSeconds: 0, status: "NOT_UPGRADED" });
    expect(ssmMock).toHaveReceivedCommandTimes(SendCommandCommand, 0);
  });

  it("sends nothing to a host upgraded to another version than the rollout's (a rollback's mixed hosts)", async () => {
    // Prepare: the rollout's target is 2.0.0; this host went to 1.5.0.
    await ledger();
    store.putItem(
      hostItem({ wave: 0, status: "UPGRADED", fromVersion: "2.1.0", toVersion: "1.5.0" }),
    );

    // Act
    const state = await runHostStep(
      deps(),
      { action: "send", step: "verify", host: HOST },
      context,
    );

    // Assess
    expect(state).toEqual({
      step: "verify",
      done: true,
      waitSeconds: 0,
      status: "NOT_VERIFIED",
      summary: { reason: "back on 1.5.0, not 2.0.0: not verified" },
    });
    expect(ssmMock).toHaveReceivedCommandTimes(SendCommandCommand, 0);
  });
});

describe("a host that stopped serving after its switch", () => {
  const stopped: StepState = {
    step: "verify",
    commandId: "cmd-v",
    done: true,
    waitSeconds: 0,
    status: "STOPPED_SERVING",
    summary: { reason: "on 2.0.0 but not serving (hook.health exited 1)" },
  };

  it("is rolled back with the Rollback document, recorded under the host, still UPGRADED", async () => {
    // Prepare
    await ledger();
    ssmMock.on(GetCommandInvocationCommand).resolves(
      answers({
        step: "rollback",
        status: "ROLLED_BACK",
        fromVersion: "2.0.0",
        toVersion: "1.0.0",
        currentVersion: "1.0.0",
      }),
    );

    // Act
    const state = await runHostStep(
      deps(),
      { action: "send", step: "revert", host: HOST },
      context,
    );

    // Assess
    expect(state).toMatchObject({
      step: "revert",
      done: true,
      status: "ROLLED_BACK",
      summary: { currentVersion: "1.0.0" },
    });
    expect(ssmMock).toHaveReceivedCommandWith(SendCommandCommand, {
      DocumentName: "AR-Rollback-demo",
      Parameters: { profile: ["demo"], rolloutId: [ROLLOUT_ID] },
    });
    expect(await store.getHost(HOST)).toMatchObject({
      status: "UPGRADED",
      commands: { rollback: "cmd-1" },
    });
  });

  it("counts as a failure, rolled back to its previous release, and halts the rollout naming it", async () => {
    // Prepare
    await ledger();
    const revert: StepState = {
      step: "revert",
      commandId: "cmd-r",
      done: true,
      waitSeconds: 0,
      status: "ROLLED_BACK",
      summary: { fromVersion: "2.0.0", toVersion: "1.0.0", currentVersion: "1.0.0" },
    };
    store.putItem(snapshotItem(I1, ROLLOUT_ID));
    const event = { outcome: "stoppedServing" as const, host: HOST, verify: stopped, revert };

    // Act
    const recorded = await recordHost(deps(), event);
    const again = await recordHost(deps(), event);
    const evaluation = await evaluateWave(deps(), { rolloutId: ROLLOUT_ID, wave: 0 });

    // Assess
    expect(recorded).toEqual({ hostId: I1, status: "ROLLED_BACK" });
    expect(again).toEqual({ hostId: I1, status: "ROLLED_BACK" });
    expect(await store.getHost(HOST)).toMatchObject({
      status: "ROLLED_BACK",
      toVersion: "2.0.0",
      runningVersion: "1.0.0",
      error: {
        name: "StoppedServing",
        message:
          "stopped serving after the switch: on 2.0.0 but not serving (hook.health exited 1); rolled back to 1.0.0",
      },
    });
    expect((await store.getRollout(ROLLOUT_ID))?.failedCount).toBe(1);
    // Its old release runs again: the nightly cleanup must not keep it pending forever.
    expect(await store.getSnapshot(I1, ROLLOUT_ID)).toMatchObject({
      cleanup: "DONE",
      lastResult: { status: "NOT_NEEDED" },
    });
    expect((await store.listPendingCleanups()).items).toEqual([]);
    expect(evaluation).toMatchObject({
      decision: "HALT",
      reason: `1 failed host(s) exceed the failure threshold 0; ${I1} stopped serving after the switch`,
    });
  });

  it("is FAILED when there is no previous release to go back to, or the rollback fails", async () => {
    // Prepare
    await ledger();
    const unchanged: StepState = {
      step: "revert",
      commandId: "cmd-r",
      done: true,
      waitSeconds: 0,
      status: "UNCHANGED",
      summary: { reason: "no previous release to go back to" },
    };

    // Act
    const nothing = await recordHost(deps(), {
      outcome: "stoppedServing",
      host: HOST,
      verify: stopped,
      revert: unchanged,
    });
    const failedRollback = await recordHost(deps(), {
      outcome: "stoppedServing",
      host: { ...HOST, hostId: I2, instanceId: I2 },
      verify: stopped,
      revertError: { Error: "HostStepFailedError", Cause: "rollback to 1.0.0 failed" },
    });

    // Assess
    expect(nothing.status).toBe("FAILED");
    expect((await store.getHost(HOST))?.error?.message).toBe(
      "stopped serving after the switch: on 2.0.0 but not serving (hook.health exited 1); not rolled back: no previous release to go back to",
    );
    expect(failedRollback.status).toBe("FAILED");
    expect((await store.getHost({ ...HOST, hostId: I2 }))?.error?.message).toBe(
      "stopped serving after the switch: on 2.0.0 but not serving (hook.health exited 1); rollback failed: HostStepFailedError: rollback to 1.0.0 failed",
    );
    expect((await store.getRollout(ROLLOUT_ID))?.failedCount).toBe(2);
  });

  it("is FAILED when it could not be verified at all", async () => {
    // Prepare
    await ledger();

    // Act
    const result = await recordHost(deps(), {
      outcome: "unverified",
      host: HOST,
      error: { Error: "HostUnreachableError", Cause: "verify: command not run (DeliveryTimedOut)" },
    });
    const evaluation = await evaluateWave(deps(), { rolloutId: ROLLOUT_ID, wave: 0 });

    // Assess
    expect(result.status).toBe("FAILED");
    expect(evaluation.reason).toBe(
      `1 failed host(s) exceed the failure threshold 0; ${I1} could not be verified after the switch`,
    );
  });
});
