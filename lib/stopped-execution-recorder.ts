import { Duration } from "aws-cdk-lib";
import { EventField, Rule, RuleTargetInput } from "aws-cdk-lib/aws-events";
import { LambdaFunction } from "aws-cdk-lib/aws-events-targets";
import type { IFunction } from "aws-cdk-lib/aws-lambda";
import { SqsDestination } from "aws-cdk-lib/aws-lambda-destinations";
import type { IQueue } from "aws-cdk-lib/aws-sqs";
import type { IStateMachine } from "aws-cdk-lib/aws-stepfunctions";
import { Construct } from "constructs";

/** Properties of {@link StoppedExecutionRecorder}. */
export interface StoppedExecutionRecorderProps {
  /** The rollout state machine whose stopped executions are recorded. */
  readonly stateMachine: IStateMachine;
  /** The finish-rollout function (records the outcome, releases the fleet lock). */
  readonly finishRollout: IFunction;
  /** Where events that could not be delivered go. */
  readonly deadLetterQueue: IQueue;
}

/**
 * Records rollouts whose execution was stopped (StopExecution) or timed out.
 *
 * Step Functions runs no Catch for those, so without this the rollout would stay
 * RUNNING in the ledger and its fleet lock would block the fleet until it expires.
 * The rule hands finish-rollout what `RecordRolloutFailure` would have: outcome
 * FAILED and the reason; a rollout id that was never planned writes nothing.
 */
export class StoppedExecutionRecorder extends Construct {
  /** The Step Functions status-change rule. */
  public readonly rule: Rule;

  constructor(scope: Construct, id: string, props: StoppedExecutionRecorderProps) {
    super(scope, id);
    this.rule = new Rule(this, "Rule", {
      description: "Records stopped or timed-out rollout executions and releases their lock",
      eventPattern: {
        source: ["aws.states"],
        detailType: ["Step Functions Execution Status Change"],
        detail: {
          stateMachineArn: [props.stateMachine.stateMachineArn],
          status: ["ABORTED", "TIMED_OUT"],
        },
      },
    });
    this.rule.addTarget(
      new LambdaFunction(props.finishRollout, {
        event: RuleTargetInput.fromObject({
          rolloutId: EventField.fromPath("$.detail.name"),
          outcome: "FAILED",
          error: {
            Error: "ExecutionStopped",
            Cause: EventField.fromPath("$.detail.status"),
          },
        }),
        retryAttempts: 8,
        maxEventAge: Duration.hours(6),
        deadLetterQueue: props.deadLetterQueue,
      }),
    );
    // EventBridge invokes asynchronously: failures after Lambda's own retries would
    // otherwise vanish, leaving the lock held with nobody told.
    props.finishRollout.configureAsyncInvoke({
      retryAttempts: 2,
      maxEventAge: Duration.hours(6),
      onFailure: new SqsDestination(props.deadLetterQueue),
    });
  }
}
