/**
 * The metrics the functions emit (CloudWatch embedded metric format, through
 * Powertools Metrics), behind one small interface the domain functions receive in
 * `deps.metrics`: tests hand them a recorder instead, and nothing in domain code
 * reaches for a global.
 *
 * Dimensions stay cheap: `service` on everything, `profile` and `outcome` where they
 * say something. Never a host or rollout id (one CloudWatch metric per host would be
 * costly and unreadable); those are in the log lines.
 *
 * | metric | unit | dimensions | emitted by |
 * |---|---|---|---|
 * | `HostsFinished` | Count | outcome (upgraded, skipped, rolled-back, failed, not-started) | record-host, once per host |
 * | `Switches` | Count | profile, outcome (switched, rolled-back) | host-step, per switch result |
 * | `SuspendWindow`, `ListenerGap` | Milliseconds | profile | host-step, per switch result |
 * | `UnservedTime` | Milliseconds | profile | host-step, per switch result the probe measured (client-seen time the port went unserved) |
 * | `RefusedConnections` | Count | profile | host-step, per switch result the probe measured |
 * | `JobsRunningAtSwitch` | Count | profile | host-step, per switch result |
 * | `RolloutsFinished` | Count | outcome (succeeded, halted, failed) | finish-rollout |
 * | `RolloutDuration` | Milliseconds | outcome | finish-rollout |
 * | `RolloutHosts`, `RolloutHostsFailed` | Count | outcome | finish-rollout |
 * | `CleanupRuns` | Count | – | nightly-cleanup |
 * | `SnapshotsDeleted`, `SnapshotsKept`, `SnapshotsFailed`, `SnapshotsDeferred` | Count | – | nightly-cleanup |
 * | `SnapshotsOverdue` | Count | – | nightly-cleanup: pending after the run and older than `CLEANUP_OVERDUE_NIGHTS` nights |
 *
 * @module
 */
import { appendFileSync } from "node:fs";
import { Metrics } from "@aws-lambda-powertools/metrics";
import type { MetricsOptions } from "@aws-lambda-powertools/metrics/types";
import { lambdaLogFile, SERVICE_NAME } from "./logger.js";

/** CloudWatch namespace of every metric. */
export const METRICS_NAMESPACE = "AgentRollout";

/** Names of the metrics, shared with the dashboard and the alarms. */
export const METRIC = {
  hostsFinished: "HostsFinished",
  switches: "Switches",
  suspendWindow: "SuspendWindow",
  listenerGap: "ListenerGap",
  unservedTime: "UnservedTime",
  refusedConnections: "RefusedConnections",
  jobsRunningAtSwitch: "JobsRunningAtSwitch",
  rolloutsFinished: "RolloutsFinished",
  rolloutDuration: "RolloutDuration",
  rolloutHosts: "RolloutHosts",
  rolloutHostsFailed: "RolloutHostsFailed",
  cleanupRuns: "CleanupRuns",
  snapshotsDeleted: "SnapshotsDeleted",
  snapshotsKept: "SnapshotsKept",
  snapshotsFailed: "SnapshotsFailed",
  snapshotsDeferred: "SnapshotsDeferred",
  snapshotsOverdue: "SnapshotsOverdue",
} as const;

/** A metric name. */
export type MetricName = (typeof METRIC)[keyof typeof METRIC];

/** Units used (CloudWatch unit names). */
export type MetricUnitName = "Count" | "Milliseconds";

/** One value of a {@link MetricRecord}. */
export interface MetricValue {
  readonly name: MetricName;
  readonly unit: MetricUnitName;
  readonly value: number;
}

/** Values sharing one set of dimensions (one EMF object; `service` is added on publish). */
export interface MetricRecord {
  readonly dimensions: Readonly<Record<string, string>>;
  readonly values: readonly MetricValue[];
}

/** Where records go: Powertools Metrics in the functions, an array in tests. */
export type MetricSink = (record: MetricRecord) => void;

/** `outcome` values of {@link METRIC.hostsFinished} and friends: ledger statuses in kebab case. */
export function outcomeOf(status: string): string {
  return status.toLowerCase().replace(/_/g, "-");
}

/** A switch result, as host-step records it. */
export interface SwitchOutcome {
  readonly profile: string;
  /** The switch script's status; only SWITCHED and ROLLED_BACK are measured. */
  readonly status: string | undefined;
  readonly suspendMs?: number;
  readonly listenerGapMs?: number;
  /** Client-seen time the port went unserved (the switch's probe); null when not measured. */
  readonly unservedMs?: number | null;
  /** Connections the probe saw refused during the switch; null when not measured. */
  readonly refused?: number | null;
  /** Jobs the snapshot found running at the switch; anything but a number is ignored. */
  readonly jobsRunning?: unknown;
}

/** A finished rollout, as finish-rollout records it. */
export interface RolloutOutcome {
  /** Final rollout status (SUCCEEDED, HALTED, FAILED). */
  readonly status: string;
  readonly hosts: number;
  readonly failedHosts: number;
  /** From the rollout's creation to its end; absent when the rollout was never written. */
  readonly durationMs?: number;
}

/** One nightly cleanup run, as nightly-cleanup records it. */
export interface CleanupOutcome {
  readonly deleted: number;
  readonly kept: number;
  readonly failed: number;
  readonly deferred: number;
  /** Snapshots still pending after the run, with their creation time (ISO). */
  readonly stillPending: ReadonlyArray<{ readonly createdAt: string }>;
  /** Epoch ms of the run. */
  readonly now: number;
}

/** What the domain functions emit, at the point where each outcome is decided. */
export interface RolloutMetrics {
  /** record-host: a host reached its final status (called once per host). */
  hostFinished(status: string): void;
  /** host-step: the switch step returned a result. */
  switchFinished(outcome: SwitchOutcome): void;
  /** finish-rollout: the rollout got its final status (called once per rollout). */
  rolloutFinished(outcome: RolloutOutcome): void;
  /** nightly-cleanup: end of a run. */
  cleanupRun(outcome: CleanupOutcome): void;
}

/** Options of {@link createRolloutMetrics}. */
export interface RolloutMetricsOptions {
  /** A snapshot pending for longer than this many nights counts as overdue. @default 3 */
  readonly overdueNights?: number;
}

/** Default of {@link RolloutMetricsOptions.overdueNights} (and of `CLEANUP_OVERDUE_NIGHTS`). */
export const DEFAULT_OVERDUE_NIGHTS = 3;

const DAY_MS = 24 * 60 * 60 * 1000;
const MEASURED_SWITCHES: Readonly<Record<string, string>> = {
  SWITCHED: "switched",
  ROLLED_BACK: "rolled-back",
};

/** The domain-facing metrics, writing records to `sink`. */
export function createRolloutMetrics(
  sink: MetricSink,
  options: RolloutMetricsOptions = {},
): RolloutMetrics {
  const overdueMs = (options.overdueNights ?? DEFAULT_OVERDUE_NIGHTS) * DAY_MS;
  const count = (name: MetricName, value: number): MetricValue => ({ name, unit: "Count", value });
  const ms = (name: MetricName, value: number): MetricValue => ({
    name,
    unit: "Milliseconds",
    value,
  });
  return {
    hostFinished(status) {
      sink({
        dimensions: { outcome: outcomeOf(status) },
        values: [count(METRIC.hostsFinished, 1)],
      });
    },
    switchFinished({
      profile,
      status,
      suspendMs,
      listenerGapMs,
      unservedMs,
      refused,
      jobsRunning,
    }) {
      const outcome = MEASURED_SWITCHES[status ?? ""];
      if (outcome === undefined) return;
      sink({ dimensions: { profile, outcome }, values: [count(METRIC.switches, 1)] });
      const values = [
        ...(suspendMs === undefined ? [] : [ms(METRIC.suspendWindow, suspendMs)]),
        ...(listenerGapMs === undefined ? [] : [ms(METRIC.listenerGap, listenerGapMs)]),
        ...(unservedMs == null ? [] : [ms(METRIC.unservedTime, unservedMs)]),
        ...(refused == null ? [] : [count(METRIC.refusedConnections, refused)]),
        ...(typeof jobsRunning === "number"
          ? [count(METRIC.jobsRunningAtSwitch, jobsRunning)]
          : []),
      ];
      if (values.length > 0) sink({ dimensions: { profile }, values });
    },
    rolloutFinished({ status, hosts, failedHosts, durationMs }) {
      sink({
        dimensions: { outcome: outcomeOf(status) },
        values: [
          count(METRIC.rolloutsFinished, 1),
          count(METRIC.rolloutHosts, hosts),
          count(METRIC.rolloutHostsFailed, failedHosts),
          ...(durationMs === undefined ? [] : [ms(METRIC.rolloutDuration, durationMs)]),
        ],
      });
    },
    cleanupRun({ deleted, kept, failed, deferred, stillPending, now }) {
      const overdue = stillPending.filter((s) => now - Date.parse(s.createdAt) > overdueMs).length;
      sink({
        dimensions: {},
        values: [
          count(METRIC.cleanupRuns, 1),
          count(METRIC.snapshotsDeleted, deleted),
          count(METRIC.snapshotsKept, kept),
          count(METRIC.snapshotsFailed, failed),
          count(METRIC.snapshotsDeferred, deferred),
          count(METRIC.snapshotsOverdue, overdue),
        ],
      });
    },
  };
}

/**
 * Powertools Metrics that, when `LAMBDA_LOG_FILE` is set (local mode), appends its EMF
 * objects to that file like the log lines, instead of writing them to stdout.
 */
export class RolloutMetricsPublisher extends Metrics {
  override publishStoredMetrics(): this {
    const file = lambdaLogFile();
    if (file === undefined) return super.publishStoredMetrics();
    try {
      if (this.hasStoredMetrics() && !this.isDisabled()) {
        appendFileSync(file, `${JSON.stringify(this.serializeMetrics())}\n`);
      }
    } finally {
      this.clearMetrics();
      this.clearDimensions();
      this.clearMetadata();
    }
    return this;
  }
}

/**
 * A sink publishing each record at once as its own EMF object, so records with
 * different dimensions never mix.
 */
export function powertoolsSink(metrics: Metrics): MetricSink {
  return (record) => {
    metrics.addDimensions({ ...record.dimensions });
    for (const value of record.values) metrics.addMetric(value.name, value.unit, value.value);
    metrics.publishStoredMetrics();
  };
}

/**
 * Warnings of the Metrics utility go to `logger`; "no application metrics" (every
 * invocation that measured nothing, flushed by `logMetrics`) is debug, not a warning.
 */
function metricsLogger(logger: GenericLogger): GenericLogger {
  return {
    debug: (...args) => logger.debug(...args),
    info: (...args) => logger.info(...args),
    error: (...args) => logger.error(...args),
    warn: (message: unknown, ...rest: unknown[]) =>
      typeof message === "string" && message.startsWith("No application metrics")
        ? logger.debug(message, ...rest)
        : logger.warn(message, ...rest),
  };
}

/** The logger the Metrics utility reports its own problems to. */
type GenericLogger = NonNullable<MetricsOptions["logger"]>;

let publisher: RolloutMetricsPublisher | undefined;

/**
 * The container's Metrics (namespace {@link METRICS_NAMESPACE}, service
 * `agent-rollout`), created on first use; `logMetrics` in the handler chain flushes it.
 */
export function containerMetricsPublisher(logger: GenericLogger): RolloutMetricsPublisher {
  publisher ??= new RolloutMetricsPublisher({
    namespace: METRICS_NAMESPACE,
    serviceName: SERVICE_NAME,
    logger: metricsLogger(logger),
  });
  return publisher;
}
