/**
 * Rules AWS documents that the template must follow (docs/aws-fidelity.md).
 */
import { Match, type Template } from "aws-cdk-lib/assertions";
import { beforeAll, describe, expect, it } from "vitest";
import type { AgentRolloutStack } from "../../lib/agent-rollout-stack.js";
import { buildTemplate, flat, logicalIdOf } from "./helpers.js";

let stack: AgentRolloutStack;
let template: Template;

beforeAll(() => {
  ({ stack, template } = buildTemplate());
});

describe("failed executions", () => {
  it("are recorded by a rule on FAILED status changes that hands finish-rollout the error", () => {
    template.hasResourceProperties("AWS::Events::Rule", {
      EventPattern: {
        source: ["aws.states"],
        "detail-type": ["Step Functions Execution Status Change"],
        detail: {
          stateMachineArn: [{ Ref: Match.stringLikeRegexp("^RolloutStateMachine") }],
          status: ["FAILED"],
        },
      },
      Targets: [
        Match.objectLike({
          Arn: { "Fn::GetAtt": [Match.stringLikeRegexp("^FinishRolloutFunction"), "Arn"] },
          InputTransformer: {
            InputPathsMap: {
              "detail-name": "$.detail.name",
              "detail-error": "$.detail.error",
              "detail-cause": "$.detail.cause",
            },
            InputTemplate:
              '{"rolloutId":<detail-name>,"outcome":"FAILED","error":{"Error":<detail-error>,"Cause":<detail-cause>}}',
          },
          RetryPolicy: { MaximumRetryAttempts: 8, MaximumEventAgeInSeconds: 21_600 },
          DeadLetterConfig: { Arn: { "Fn::GetAtt": [Match.anyValue(), "Arn"] } },
        }),
      ],
    });
  });

  it("leave no execution status unrecorded but SUCCEEDED and RUNNING", () => {
    // Act
    const statuses = Object.values(template.findResources("AWS::Events::Rule"))
      .map((rule) => rule.Properties.EventPattern?.detail?.status as string[] | undefined)
      .flatMap((status) => status ?? []);

    // Assess
    expect(statuses.sort()).toEqual(["ABORTED", "FAILED", "TIMED_OUT"]);
  });
});

describe("state machine log group", () => {
  it("is named under /aws/vendedlogs/states/ and is the one the state machine logs to", () => {
    // Act
    const logGroupId = logicalIdOf(stack, stack.rollout.logGroup);
    const logGroup = template.findResources("AWS::Logs::LogGroup")[logGroupId];
    const [machine] = Object.values(template.findResources("AWS::StepFunctions::StateMachine"));

    // Assess
    expect(flat(logGroup?.Properties.LogGroupName)).toMatch(/^\/aws\/vendedlogs\/states\/\S+$/);
    expect(
      machine?.Properties.LoggingConfiguration.Destinations[0].CloudWatchLogsLogGroup.LogGroupArn,
    ).toEqual({ "Fn::GetAtt": [logGroupId, "Arn"] });
  });
});
