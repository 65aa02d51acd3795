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
  /** The rollout state machine whose stopped or failed executions are recorded. */
  readonly stateMachine: IStateMachine;
  /** The finish-rollout function (records the outcome, releases the fleet lock). */
  readonly finishRollout: IFunction;
  /** Where events that could not be delivered go. */
  readonly deadLetterQueue: IQueue;
}

/**
 * Records rollouts whose execution ended without reaching its own failure path: it was
 * stopped (StopExecution), timed out, or failed with an error no Catch handles
 * (`States.DataLimitExceeded`, `States.Runtime`, the 25,000-event history limit).
 *
 * Step Functions runs no Catch for those, so without this the rollout would stay
 * RUNNING in the ledger and its fleet lock would block the fleet until it expires.
 * The rules hand finish-rollout what `RecordRolloutFailure` would have: outcome
 * FAILED and the reason. Every FAILED execution matches, those that ended in
 * `RolloutFailed` or `RolloutHalted` too: finish-rollout keeps a final status already
 * written and only releases the lock if the rollout still holds it; a rollout id that
 * was never planned (`RolloutRejected`) writes nothing.
 */
export class StoppedExecutionRecorder extends Construct {
  /** The rule on ABORTED and TIMED_OUT executions. */
  public readonly rule: Rule;
  /** The rule on FAILED executions. */
  public readonly failedRule: Rule;

  constructor(scope: Construct, id: string, props: StoppedExecutionRecorderProps) {
    super(scope, id);
    const target = (error: Record<string, string>) =>
      new LambdaFunction(props.finishRollout, {
        event: RuleTargetInput.fromObject({
          rolloutId: EventField.fromPath("$.detail.name"),
          outcome: "FAILED",
          error,
        }),
        retryAttempts: 8,
        maxEventAge: Duration.hours(6),
        deadLetterQueue: props.deadLetterQueue,
      });
    const pattern = (status: string[]) => ({
      source: ["aws.states"],
      detailType: ["Step Functions Execution Status Change"],
      detail: { stateMachineArn: [props.stateMachine.stateMachineArn], status },
    });

    this.rule = new Rule(this, "Rule", {
      description: "Records stopped or timed-out rollout executions and releases their lock",
      eventPattern: pattern(["ABORTED", "TIMED_OUT"]),
    });
    // A stopped execution carries no error of its own: its status says what happened.
    this.rule.addTarget(
      target({ Error: "ExecutionStopped", Cause: EventField.fromPath("$.detail.status") }),
    );

    this.failedRule = new Rule(this, "FailedRule", {
      description: "Records rollout executions that failed uncaught and releases their lock",
      eventPattern: pattern(["FAILED"]),
    });
    // A failed execution's event carries its error and cause (every Fail state of the
    // rollout sets both, and so do States.* errors).
    this.failedRule.addTarget(
      target({
        Error: EventField.fromPath("$.detail.error"),
        Cause: EventField.fromPath("$.detail.cause"),
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
