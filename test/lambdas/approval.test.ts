/**
 * The approval gate at the Lambda boundary: the input field, EvaluateWave asking for
 * an approval, RecordApprovalToken recording the token, and decideApproval answering.
 */
import { SendTaskFailureCommand, SendTaskSuccessCommand, SFNClient } from "@aws-sdk/client-sfn";
import { mockClient } from "aws-sdk-client-mock";
import { beforeEach, describe, expect, it } from "vitest";
import { LedgerConflictError } from "../../lambdas/common/errors.js";
import { parseOrThrow, RolloutInputSchema } from "../../lambdas/common/schemas.js";
import {
  APPROVAL_REJECTED_ERROR,
  decideApproval,
  recordApprovalToken,
} from "../../lambdas/evaluate-wave/approval.js";
import { evaluateWave } from "../../lambdas/evaluate-wave/evaluate-wave.js";
import {
  hostItem,
  I1,
  ROLLOUT_ID,
  rolloutItem,
  storedInput,
  testDeps,
  validInput,
} from "./helpers.js";

const sfnMock = mockClient(SFNClient);
beforeEach(() => sfnMock.reset());

const approval = { afterWaves: [0], timeoutSeconds: 600 };

function running(status: "RUNNING" | "HALTED" = "RUNNING") {
  const deps = testDeps({});
  deps.store.putItem(rolloutItem({ status, waveCount: 2, input: storedInput({ approval }) }));
  return deps;
}

describe("approval input", () => {
  it("defaults the timeout to a day and refuses an empty wave list", () => {
    const input = parseOrThrow(RolloutInputSchema, validInput({ approval: { afterWaves: [0] } }));
    expect(input.approval).toEqual({ afterWaves: [0], timeoutSeconds: 86_400 });
    expect(() =>
      parseOrThrow(RolloutInputSchema, validInput({ approval: { afterWaves: [] } })),
    ).toThrow("approval.afterWaves: must list at least one wave");
  });
});

describe("EvaluateWave and the approval gate", () => {
  it("asks for an approval after a wave the input names, with its timeout", async () => {
    // Prepare
    const deps = running();
    deps.store.putItem(hostItem({ hostId: I1, instanceId: I1, wave: 0, status: "UPGRADED" }));
    await deps.store.acquireLock({
      fleet: "default",
      owner: ROLLOUT_ID,
      now: deps.clock.now(),
      ttlSeconds: 600,
    });

    // Act
    const result = await evaluateWave(deps, { rolloutId: ROLLOUT_ID, wave: 0 });

    // Assess
    expect(result).toMatchObject({ decision: "CONTINUE", approvalTimeoutSeconds: 600 });
  });
});

describe("recordApprovalToken", () => {
  it("records the token on the rollout item", async () => {
    // Prepare
    const deps = running();

    // Act
    const result = await recordApprovalToken(deps, {
      action: "recordApprovalToken",
      rolloutId: ROLLOUT_ID,
      wave: 0,
      taskToken: "token-1",
    });

    // Assess
    expect(result).toEqual({ rolloutId: ROLLOUT_ID, wave: 0, recorded: true });
    expect((await deps.store.getRollout(ROLLOUT_ID))?.approval).toMatchObject({
      wave: 0,
      taskToken: "token-1",
    });
  });

  it("refuses a rollout no longer running, so the execution does not wait for nothing", async () => {
    const deps = running("HALTED");
    await expect(
      recordApprovalToken(deps, {
        action: "recordApprovalToken",
        rolloutId: ROLLOUT_ID,
        wave: 0,
        taskToken: "token-1",
      }),
    ).rejects.toBeInstanceOf(LedgerConflictError);
  });
});

describe("decideApproval", () => {
  async function waiting() {
    const deps = running();
    await deps.store.recordApprovalRequest(ROLLOUT_ID, { wave: 0, taskToken: "token-1" }, 0);
    return { store: deps.store, sfn: new SFNClient({ region: "us-east-1" }) };
  }

  it("approves with SendTaskSuccess on the recorded token", async () => {
    // Prepare
    const deps = await waiting();
    sfnMock.on(SendTaskSuccessCommand).resolves({});

    // Act
    const result = await decideApproval(deps, ROLLOUT_ID, "approve");

    // Assess
    expect(result).toEqual({ wave: 0 });
    expect(sfnMock.commandCalls(SendTaskSuccessCommand)[0]?.args[0].input).toMatchObject({
      taskToken: "token-1",
    });
    expect(sfnMock.commandCalls(SendTaskFailureCommand)).toHaveLength(0);
  });

  it("rejects with SendTaskFailure, the reason as the cause", async () => {
    // Prepare
    const deps = await waiting();
    sfnMock.on(SendTaskFailureCommand).resolves({});

    // Act
    await decideApproval(deps, ROLLOUT_ID, "reject", "error rate up on the canary");

    // Assess
    expect(sfnMock.commandCalls(SendTaskFailureCommand)[0]?.args[0].input).toEqual({
      taskToken: "token-1",
      error: APPROVAL_REJECTED_ERROR,
      cause: "error rate up on the canary",
    });
  });

  it("refuses a rollout that waits for no approval", async () => {
    const deps = running();
    await expect(
      decideApproval({ store: deps.store, sfn: new SFNClient({}) }, ROLLOUT_ID, "approve"),
    ).rejects.toThrow(/is not waiting for an approval/);
    expect(sfnMock.calls()).toHaveLength(0);
  });
});
