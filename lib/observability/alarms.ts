import { Duration } from "aws-cdk-lib";
import {
  Alarm,
  ComparisonOperator,
  type IMetric,
  MathExpression,
  TreatMissingData,
} from "aws-cdk-lib/aws-cloudwatch";
import { SnsAction } from "aws-cdk-lib/aws-cloudwatch-actions";
import type { IFunction } from "aws-cdk-lib/aws-lambda";
import { type ITopic, Topic } from "aws-cdk-lib/aws-sns";
import type { IQueue } from "aws-cdk-lib/aws-sqs";
import { Construct } from "constructs";
import { METRIC } from "../../lambdas/common/metrics.js";
import { rolloutMetric } from "./metrics.js";

/** Properties of {@link RolloutAlarms}. */
export interface RolloutAlarmsProps {
  /** The nightly-cleanup function (its errors). */
  readonly nightlyCleanup: IFunction;
  /** The host-step function (its throttles). */
  readonly hostStep: IFunction;
  /** Dead-letter queue whose messages raise an alarm. */
  readonly deadLetterQueue: IQueue;
  /**
   * Nights after which a pending snapshot is overdue: the figure the nightly-cleanup
   * function counts with (`CLEANUP_OVERDUE_NIGHTS`), repeated here for the description.
   */
  readonly overdueNights: number;
  /** SNS topic the alarms notify when they go to ALARM. @default - none: no actions */
  readonly alarmTopicArn?: string;
}

/**
 * Alarms that need a person: a rollout halted or failed, the nightly cleanup failing
 * or leaving snapshots pending for more than N nights, a message in the dead-letter
 * queue, host-step throttled. With `alarmTopicArn`, each notifies that SNS topic.
 * Missing data is "not breaching": no rollout in a period is no alarm.
 */
export class RolloutAlarms extends Construct {
  /** A rollout ended HALTED or FAILED (`RolloutsFinished`, outcome halted + failed). */
  public readonly rolloutHaltedOrFailed: Alarm;
  /** The nightly-cleanup function failed (Lambda `Errors`) within a day. */
  public readonly cleanupFailed: Alarm;
  /** Snapshots pending for more than `overdueNights` nights (`SnapshotsOverdue`). */
  public readonly cleanupOverdue: Alarm;
  /** Messages in the dead-letter queue. */
  public readonly deadLetters: Alarm;
  /** host-step invocations throttled. */
  public readonly hostStepThrottled: Alarm;
  /** The topic notified, when configured. */
  public readonly topic?: ITopic;

  constructor(scope: Construct, id: string, props: RolloutAlarmsProps) {
    super(scope, id);
    const atLeastOnce = (alarmId: string, metric: IMetric, description: string) =>
      new Alarm(this, alarmId, {
        metric,
        alarmDescription: description,
        threshold: 1,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 1,
        datapointsToAlarm: 1,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      });
    const rollouts = (outcome: string) =>
      rolloutMetric(METRIC.rolloutsFinished, {
        dimensions: { outcome },
        statistic: "Sum",
        period: Duration.minutes(5),
      });

    this.rolloutHaltedOrFailed = atLeastOnce(
      "RolloutHaltedOrFailed",
      new MathExpression({
        expression: "halted + failed",
        usingMetrics: { halted: rollouts("halted"), failed: rollouts("failed") },
        period: Duration.minutes(5),
        label: "rollouts halted or failed",
      }),
      "A rollout ended HALTED or FAILED: see the execution and the ledger for the hosts that failed.",
    );
    this.cleanupFailed = atLeastOnce(
      "NightlyCleanupFailed",
      props.nightlyCleanup.metricErrors({ statistic: "Sum", period: Duration.days(1) }),
      "The nightly cleanup failed: its pending snapshots wait for the next night; the failed run is in the dead-letter queue.",
    );
    this.cleanupOverdue = atLeastOnce(
      "NightlyCleanupOverdue",
      rolloutMetric(METRIC.snapshotsOverdue, { statistic: "Maximum", period: Duration.days(1) }),
      `Snapshots are still pending cleanup after more than ${props.overdueNights} nights: their old releases stay on disk (a job that never ends, a host offline, a cleanup that keeps failing).`,
    );
    this.deadLetters = atLeastOnce(
      "DeadLetterQueueNotEmpty",
      props.deadLetterQueue.metricApproximateNumberOfMessagesVisible({
        statistic: "Maximum",
        period: Duration.minutes(5),
      }),
      "A nightly cleanup run or a stopped-execution record could not be delivered or failed after its retries: read the message in the dead-letter queue.",
    );
    this.hostStepThrottled = atLeastOnce(
      "HostStepThrottled",
      props.hostStep.metricThrottles({ statistic: "Sum", period: Duration.minutes(5) }),
      "host-step invocations were throttled: the account's Lambda concurrency is too low for the rollout's batch size.",
    );

    if (props.alarmTopicArn !== undefined) {
      const topic = Topic.fromTopicArn(this, "Topic", props.alarmTopicArn);
      this.topic = topic;
      const action = new SnsAction(topic);
      for (const alarm of this.all()) alarm.addAlarmAction(action);
    }
  }

  /** Every alarm of the construct. */
  public all(): Alarm[] {
    return [
      this.rolloutHaltedOrFailed,
      this.cleanupFailed,
      this.cleanupOverdue,
      this.deadLetters,
      this.hostStepThrottled,
    ];
  }
}
