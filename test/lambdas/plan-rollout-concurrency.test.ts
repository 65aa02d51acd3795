/**
 * PlanRollout against the stack's host concurrency bound: a Map batch runs one
 * host-step invocation per host at a time, so a `batchSize` above the bound
 * (`HOST_STEP_CONCURRENCY`, context `hostStepConcurrency`) is refused before
 * anything is read or written.
 */
import { DescribeInstanceInformationCommand, SSMClient } from "@aws-sdk/client-ssm";
import { DynamoDBDocumentClient, GetCommand, PutCommand } from "@aws-sdk/lib-dynamodb";
import { mockClient } from "aws-sdk-client-mock";
import { beforeEach, describe, expect, it } from "vitest";
import { type PlanRolloutConfig, planRollout } from "../../lambdas/plan-rollout/plan-rollout.js";
import { I1, I2, testDeps, validInput } from "./helpers.js";

const ssmMock = mockClient(SSMClient);
const ddbMock = mockClient(DynamoDBDocumentClient);

const CONFIG: PlanRolloutConfig = {
  profileNames: ["demo"],
  targetTagKey: "agent-rollout",
  targetTagValue: "enabled",
};

beforeEach(() => {
  ssmMock.reset();
  ddbMock.reset();
  ssmMock.on(DescribeInstanceInformationCommand).resolves({
    InstanceInformationList: [{ InstanceId: I1 }, { InstanceId: I2 }],
  });
  ddbMock.on(GetCommand).resolves({});
  ddbMock.on(PutCommand).resolves({});
});

describe("planRollout and the host concurrency bound", () => {
  it("refuses a batchSize above the default bound of 100, naming the field, with nothing written", async () => {
    // Act
    const plan = planRollout(testDeps(CONFIG), {
      rolloutId: "r-wide",
      input: validInput({ batchSize: 500 }),
    });

    // Assess
    await expect(plan).rejects.toMatchObject({
      name: "InvalidInputError",
      message:
        "batchSize: 500 is above this stack's host concurrency bound 100 (context hostStepConcurrency)",
    });
    expect(ssmMock.calls()).toHaveLength(0);
    expect(ddbMock.calls()).toHaveLength(0);
  });

  it("refuses a batchSize above a configured bound", async () => {
    // Act
    const plan = planRollout(testDeps({ ...CONFIG, hostStepConcurrency: 20 }), {
      rolloutId: "r-wide",
      input: validInput({ batchSize: 21, dryRun: true }),
    });

    // Assess
    await expect(plan).rejects.toMatchObject({
      name: "InvalidInputError",
      message: expect.stringContaining(
        "batchSize: 21 is above this stack's host concurrency bound 20",
      ),
    });
  });

  it.each([
    [100, undefined],
    [500, 500],
  ])("accepts a batchSize of %i with a bound of %s (100 by default)", async (batchSize, bound) => {
    // Act
    const plan = await planRollout(testDeps({ ...CONFIG, hostStepConcurrency: bound }), {
      rolloutId: "r-ok",
      input: validInput({ batchSize, dryRun: true }),
    });

    // Assess
    expect(plan.batchSize).toBe(batchSize);
  });
});
