import { Duration, Validations } from "aws-cdk-lib";
import { Rule, Schedule } from "aws-cdk-lib/aws-events";
import { LambdaFunction } from "aws-cdk-lib/aws-events-targets";
import type { IFunction } from "aws-cdk-lib/aws-lambda";
import { SqsDestination } from "aws-cdk-lib/aws-lambda-destinations";
import { Queue, QueueEncryption } from "aws-cdk-lib/aws-sqs";
import { Construct } from "constructs";

/** Properties of {@link NightlyCleanup}. */
export interface NightlyCleanupProps {
  /** The nightly-cleanup function. */
  readonly function: IFunction;
  /** EventBridge schedule expression (UTC). @default "cron(0 2 * * ? *)" */
  readonly schedule?: string;
}

/**
 * Runs the nightly cleanup on a schedule (the New Day procedure: delete old releases
 * whose recorded jobs have all finished).
 *
 * A run that cannot be delivered or that fails after its retries lands in
 * {@link NightlyCleanup.deadLetterQueue}, so a missed night is visible. Nothing is lost
 * either way: pending snapshots stay pending and the next run picks them up.
 */
export class NightlyCleanup extends Construct {
  /** The schedule rule. */
  public readonly rule: Rule;
  /** Failed deliveries and failed invocations of the scheduled cleanup (and of other asynchronous ledger bookkeeping the stack routes here). */
  public readonly deadLetterQueue: Queue;

  constructor(scope: Construct, id: string, props: NightlyCleanupProps) {
    super(scope, id);
    this.deadLetterQueue = new Queue(this, "DeadLetterQueue", {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    Validations.of(this.deadLetterQueue).acknowledge({
      id: "AwsSolutions-SQS3",
      reason:
        "This queue is itself the dead-letter queue of the nightly cleanup; its messages are inspected by the operator, not consumed.",
    });

    this.rule = new Rule(this, "Schedule", {
      description: "Nightly cleanup of old agent releases whose jobs have finished",
      schedule: Schedule.expression(props.schedule ?? "cron(0 2 * * ? *)"),
    });
    this.rule.addTarget(
      new LambdaFunction(props.function, {
        retryAttempts: 2,
        maxEventAge: Duration.hours(2),
        deadLetterQueue: this.deadLetterQueue,
      }),
    );
    // EventBridge invokes asynchronously: its DLQ only sees failed deliveries, so the
    // function's own failures go to the same queue after Lambda's retries.
    props.function.configureAsyncInvoke({
      retryAttempts: 2,
      maxEventAge: Duration.hours(2),
      onFailure: new SqsDestination(this.deadLetterQueue),
    });
  }
}
