import { DynamoDBDocumentClient, GetCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import { mockClient } from "aws-sdk-client-mock";
import { beforeEach, describe, expect, it } from "vitest";
import type { RecordHostEvent, StepState } from "../../lambdas/common/schemas.js";
import { errorFromStates } from "../../lambdas/common/states-error.js";
import { recordHost } from "../../lambdas/record-host/record-host.js";
import { awsError, hostItem, I1, ROLLOUT_ID, T0, TABLE, testDeps } from "./helpers.js";

const ddbMock = mockClient(DynamoDBDocumentClient);
const HOST = { rolloutId: ROLLOUT_ID, wave: 2, hostId: I1, instanceId: I1 };
const HOST_KEY = { pk: `ROLLOUT#${ROLLOUT_ID}`, sk: `HOST#0002#${I1}` };
const NOW = new Date(T0).toISOString();

const step = (
  name: StepState["step"],
  status: string,
  summary?: StepState["summary"],
): StepState => ({
  step: name,
  commandId: `cmd-${name}`,
  done: true,
  waitSeconds: 0,
  status,
  ...(summary === undefined ? {} : { summary }),
});

beforeEach(() => {
  ddbMock.reset();
});

describe("recordHost", () => {
  it.each<
    [string, Omit<Extract<RecordHostEvent, { outcome: "result" }>, "outcome" | "host">, string]
  >([
    [
      "switched",
      {
        preflight: step("preflight", "READY"),
        stage: step("stage", "STAGED"),
        switch: step("switch", "SWITCHED"),
      },
      "UPGRADED",
    ],
    [
      "unchanged",
      {
        preflight: step("preflight", "READY"),
        stage: step("stage", "ALREADY_STAGED"),
        switch: step("switch", "UNCHANGED"),
      },
      "UPGRADED",
    ],
    ["already on target", { preflight: step("preflight", "SKIPPED") }, "SKIPPED"],
    [
      "halted by the gate",
      { preflight: { step: "preflight", done: true, waitSeconds: 0, status: "HALTED" } },
      "NOT_STARTED",
    ],
  ])("records %s as its final status without counting a failure", async (_, steps, status) => {
    // Prepare
    ddbMock.on(UpdateCommand).resolves({});

    // Act
    const result = await recordHost(testDeps({}), { outcome: "result", host: HOST, ...steps });

    // Assess
    expect(result).toEqual({ hostId: I1, status });
    expect(ddbMock).toHaveReceivedCommandTimes(UpdateCommand, 1);
    expect(ddbMock).toHaveReceivedCommandWith(UpdateCommand, {
      TableName: TABLE,
      Key: HOST_KEY,
      UpdateExpression: "SET #status = :final, updatedAt = :now",
      ConditionExpression: "#status IN (:active0, :active1, :active2, :active3)",
      ExpressionAttributeValues: expect.objectContaining({ ":final": status, ":now": NOW }),
    });
  });

  it("records ROLLED_BACK with the switch's reason and adds one to failedCount", async () => {
    // Prepare
    ddbMock.on(UpdateCommand).resolves({});

    // Act
    const result = await recordHost(testDeps({}), {
      outcome: "result",
      host: HOST,
      preflight: step("preflight", "READY"),
      stage: step("stage", "STAGED"),
      switch: step("switch", "ROLLED_BACK", { reason: "health check failed for 30 s" }),
    });

    // Assess
    expect(result).toEqual({ hostId: I1, status: "ROLLED_BACK" });
    expect(ddbMock).toHaveReceivedNthCommandWith(UpdateCommand, 1, {
      Key: HOST_KEY,
      ExpressionAttributeValues: expect.objectContaining({
        ":final": "ROLLED_BACK",
        ":error": { name: "RolledBack", message: "health check failed for 30 s" },
      }),
    });
    expect(ddbMock).toHaveReceivedNthCommandWith(UpdateCommand, 2, {
      TableName: TABLE,
      Key: { pk: `ROLLOUT#${ROLLOUT_ID}`, sk: "ROLLOUT" },
      UpdateExpression: "ADD failedCount :one SET updatedAt = :now",
      ConditionExpression: "attribute_exists(pk)",
      ExpressionAttributeValues: { ":one": 1, ":now": NOW },
    });
  });

  it("records a failure with the error name and the message from the Lambda error in Cause", async () => {
    // Prepare
    ddbMock.on(UpdateCommand).resolves({});
    const cause = JSON.stringify({
      errorType: "HostStepFailedError",
      errorMessage: "stage failed on i-0123456789abcdef0: no space left under /opt/agent",
      trace: ["HostStepFailedError: stage failed", "    at interpretInvocation (file.js:1:1)"],
    });

    // Act
    const result = await recordHost(testDeps({}), {
      outcome: "failure",
      host: HOST,
      error: { Error: "HostStepFailedError", Cause: cause },
    });

    // Assess
    expect(result).toEqual({ hostId: I1, status: "FAILED" });
    expect(ddbMock).toHaveReceivedNthCommandWith(UpdateCommand, 1, {
      Key: HOST_KEY,
      UpdateExpression: "SET #status = :final, updatedAt = :now, #error = :error",
      ExpressionAttributeValues: expect.objectContaining({
        ":final": "FAILED",
        ":error": {
          name: "HostStepFailedError",
          message: "stage failed on i-0123456789abcdef0: no space left under /opt/agent",
        },
      }),
    });
    expect(ddbMock).toHaveReceivedCommandTimes(UpdateCommand, 2);
  });

  it("counts a failure once across two identical calls", async () => {
    // Prepare: the first transition succeeds, the repeat finds the host FAILED
    ddbMock
      .on(UpdateCommand, { Key: HOST_KEY })
      .resolvesOnce({})
      .rejects(awsError("ConditionalCheckFailedException"));
    ddbMock.on(UpdateCommand, { Key: { pk: `ROLLOUT#${ROLLOUT_ID}`, sk: "ROLLOUT" } }).resolves({});
    ddbMock.on(GetCommand).resolves({
      Item: hostItem({ wave: 2, status: "FAILED", error: { name: "X", message: "y" } }),
    });
    const event: RecordHostEvent = {
      outcome: "failure",
      host: HOST,
      error: { Error: "States.Timeout", Cause: "" },
    };
    const deps = testDeps({});

    // Act
    const first = await recordHost(deps, event);
    const second = await recordHost(deps, event);

    // Assess
    expect(first).toEqual({ hostId: I1, status: "FAILED" });
    expect(second).toEqual({ hostId: I1, status: "FAILED" });
    expect(ddbMock).toHaveReceivedCommandWith(UpdateCommand, {
      Key: { pk: `ROLLOUT#${ROLLOUT_ID}`, sk: "ROLLOUT" },
      UpdateExpression: "ADD failedCount :one SET updatedAt = :now",
    });
    const increments = ddbMock
      .commandCalls(UpdateCommand)
      .filter((call) => call.args[0].input.UpdateExpression?.startsWith("ADD failedCount"));
    expect(increments).toHaveLength(1);
  });

  it("refuses a result without a finished switch", async () => {
    // Act
    const result = recordHost(testDeps({}), {
      outcome: "result",
      host: HOST,
      preflight: step("preflight", "READY"),
      stage: step("stage", "STAGED"),
    });

    // Assess
    await expect(result).rejects.toMatchObject({
      name: "InvalidInputError",
      message: expect.stringContaining("switch:"),
    });
    expect(ddbMock.calls()).toHaveLength(0);
  });
});

describe("errorFromStates", () => {
  it.each([
    [
      "a Lambda error",
      {
        Error: "CommandTimedOutError",
        Cause: '{"errorType":"CommandTimedOutError","errorMessage":"switch timed out"}',
      },
      "switch timed out",
    ],
    [
      "a plain-text cause",
      { Error: "States.Timeout", Cause: "Task timed out after 60 seconds" },
      "Task timed out after 60 seconds",
    ],
    ["an empty cause", { Error: "States.TaskFailed", Cause: "" }, "States.TaskFailed"],
    ["a missing cause", { Error: "States.Runtime" }, "States.Runtime"],
  ])("reads the message of %s", (_, error, message) => {
    // Act
    const info = errorFromStates(error);

    // Assess
    expect(info).toEqual({ name: error.Error, message });
  });

  it("cuts a long message to 1000 characters", () => {
    // Act
    const info = errorFromStates({ Error: "E", Cause: "x".repeat(5000) });

    // Assess
    expect(info.message).toHaveLength(1000);
  });
});
