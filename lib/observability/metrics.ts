/**
 * The functions' custom metrics as CDK `Metric`s: the namespace, names and `service`
 * dimension come from `lambdas/common/metrics.ts`, which emits them, so the dashboard
 * and the alarms cannot drift from what the functions write.
 *
 * @module
 */
import type { Duration } from "aws-cdk-lib";
import { Metric } from "aws-cdk-lib/aws-cloudwatch";
import { SERVICE_NAME } from "../../lambdas/common/logger.js";
import { METRICS_NAMESPACE, type MetricName } from "../../lambdas/common/metrics.js";

/** Host outcomes of `HostsFinished` (`outcome` dimension). */
export const HOST_OUTCOMES = [
  "upgraded",
  "skipped",
  "rolled-back",
  "failed",
  "not-started",
] as const;

/** Rollout outcomes of `RolloutsFinished` (`outcome` dimension). */
export const ROLLOUT_OUTCOMES = ["succeeded", "halted", "failed"] as const;

/** Options of {@link rolloutMetric}. */
export interface RolloutMetricOptions {
  /** Dimensions besides `service`. @default none */
  readonly dimensions?: Readonly<Record<string, string>>;
  /** Statistic (`Sum`, `Maximum`, `p90`, …). */
  readonly statistic: string;
  readonly period: Duration;
  /** Legend label. @default - CloudWatch's */
  readonly label?: string;
}

/** A metric the functions emit in namespace `AgentRollout`, with `service=agent-rollout`. */
export function rolloutMetric(name: MetricName, options: RolloutMetricOptions): Metric {
  return new Metric({
    namespace: METRICS_NAMESPACE,
    metricName: name,
    dimensionsMap: { service: SERVICE_NAME, ...options.dimensions },
    statistic: options.statistic,
    period: options.period,
    ...(options.label === undefined ? {} : { label: options.label }),
  });
}
