/**
 * The operator's dashboard and alarms: which metrics they read (the ones the functions
 * emit), thresholds and comparisons, and the SNS action of the `alarmTopicArn` knob.
 */
import type { Template } from "aws-cdk-lib/assertions";
import { beforeAll, describe, expect, it } from "vitest";
import type { AgentRolloutStack } from "../../lib/agent-rollout-stack.js";
import { projectPath } from "../../lib/config.js";
import { listProfiles } from "../../lib/host-documents/index.js";
import { buildTemplate, flat, logicalIdOf } from "./helpers.js";

const TOPIC = "arn:aws:sns:eu-west-1:123456789012:oncall";

let stack: AgentRolloutStack;
let template: Template;

beforeAll(() => {
  ({ stack, template } = buildTemplate());
});

type Props = Record<string, unknown>;

/** Alarms of a template by the construct id of their alarm (`RolloutHaltedOrFailed`, …). */
function alarms(of: Template): Record<string, Props> {
  const found: Record<string, Props> = {};
  for (const [logicalId, resource] of Object.entries(of.findResources("AWS::CloudWatch::Alarm"))) {
    const id = /^Alarms([A-Za-z]+?)[0-9A-F]{8}$/.exec(logicalId)?.[1];
    if (id !== undefined) found[id] = resource.Properties as Props;
  }
  return found;
}

/** The dashboard body as plain JSON (tokens flattened to `<LogicalId>`). */
function dashboardBody(of: Template): {
  widgets: { properties: { title?: string; metrics?: unknown[][] } }[];
} {
  const [dashboard] = Object.values(of.findResources("AWS::CloudWatch::Dashboard"));
  return JSON.parse(flat(dashboard?.Properties.DashboardBody));
}

/** The metric rows of the widget titled `title`, as `[namespace, name, dim, value, …]` without options. */
function widgetMetrics(title: string): unknown[][] {
  const widget = dashboardBody(template).widgets.find((w) => w.properties.title === title);
  if (widget === undefined) throw new Error(`no widget titled ${title}`);
  return (widget.properties.metrics ?? []).map((row) =>
    row.filter((cell) => typeof cell !== "object" || cell === null),
  );
}

/** Stat of each metric row of the widget titled `title`. */
function widgetStats(title: string): unknown[] {
  const widget = dashboardBody(template).widgets.find((w) => w.properties.title === title);
  return (widget?.properties.metrics ?? []).map(
    (row) => (row.find((cell) => typeof cell === "object") as { stat?: string } | undefined)?.stat,
  );
}

const fnId = (name: string) =>
  logicalIdOf(stack, stack.functions[name as keyof typeof stack.functions].function);

describe("dashboard", () => {
  it("counts hosts and rollouts by outcome from the functions' metrics", () => {
    // Act
    const hosts = widgetMetrics("Hosts by outcome (per hour)");
    const rollouts = widgetMetrics("Rollouts by outcome (halts, failures)");

    // Assess
    expect(hosts).toEqual(
      ["upgraded", "skipped", "rolled-back", "failed", "not-started"].map((outcome) => [
        "AgentRollout",
        "HostsFinished",
        "outcome",
        outcome,
        "service",
        "agent-rollout",
      ]),
    );
    expect(rollouts).toEqual(
      ["succeeded", "halted", "failed"].map((outcome) => [
        "AgentRollout",
        "RolloutsFinished",
        "outcome",
        outcome,
        "service",
        "agent-rollout",
      ]),
    );
  });

  it("shows suspend-window percentiles p50/p90/p99 for each deployed profile", () => {
    // Prepare
    const profiles = listProfiles(projectPath("profiles"));

    // Act
    const rows = widgetMetrics("Suspend window per profile (ms)");
    const stats = widgetStats("Suspend window per profile (ms)");

    // Assess
    expect(profiles.length).toBeGreaterThan(0);
    expect(rows).toEqual(
      profiles.flatMap((profile) =>
        [0, 1, 2].map(() => [
          "AgentRollout",
          "SuspendWindow",
          "profile",
          profile,
          "service",
          "agent-rollout",
        ]),
      ),
    );
    expect(stats).toEqual(profiles.flatMap(() => ["p50", "p90", "p99"]));
  });

  it("shows unserved-time percentiles p50/p90/p99 beside refused connections for each deployed profile", () => {
    // Prepare
    const profiles = listProfiles(projectPath("profiles"));
    const row = (name: string, profile: string) => [
      "AgentRollout",
      name,
      "profile",
      profile,
      "service",
      "agent-rollout",
    ];

    // Act
    const title = "Unserved time per profile (ms) and refused connections";
    const rows = widgetMetrics(title);
    const stats = widgetStats(title);

    // Assess
    expect(rows).toEqual([
      ...profiles.flatMap((profile) => [0, 1, 2].map(() => row("UnservedTime", profile))),
      ...profiles.map((profile) => row("RefusedConnections", profile)),
    ]);
    expect(stats).toEqual([
      ...profiles.flatMap(() => ["p50", "p90", "p99"]),
      ...profiles.map(() => "Sum"),
    ]);
  });

  it("shows cleanup results, dead-letter queue depth, and errors and throttles of every function", () => {
    // Act
    const cleanup = widgetMetrics("Nightly cleanup: snapshots per night");
    const queue = widgetMetrics("Dead-letter queue depth");
    const errors = widgetMetrics("Function errors");
    const throttles = widgetMetrics("Function throttles");

    // Assess
    expect(cleanup.map((row) => row[1])).toEqual([
      "SnapshotsDeleted",
      "SnapshotsKept",
      "SnapshotsFailed",
      "SnapshotsDeferred",
      "SnapshotsOverdue",
    ]);
    const dlq = logicalIdOf(stack, stack.nightlyCleanup.deadLetterQueue);
    expect(queue).toEqual([
      ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", `<${dlq}.QueueName>`],
    ]);
    const names = Object.keys(stack.functions);
    expect(errors).toEqual(
      names.map((name) => ["AWS/Lambda", "Errors", "FunctionName", `<${fnId(name)}>`]),
    );
    expect(throttles).toEqual(
      names.map((name) => ["AWS/Lambda", "Throttles", "FunctionName", `<${fnId(name)}>`]),
    );
  });
});

describe("alarms", () => {
  it("alarms on a rollout that halted or failed, from RolloutsFinished", () => {
    // Act
    const alarm = alarms(template).RolloutHaltedOrFailed;

    // Assess
    expect(alarm).toMatchObject({
      Threshold: 1,
      ComparisonOperator: "GreaterThanOrEqualToThreshold",
      EvaluationPeriods: 1,
      TreatMissingData: "notBreaching",
    });
    const queries = alarm?.Metrics as {
      Id: string;
      Expression?: string;
      MetricStat?: { Metric: { MetricName: string; Dimensions: unknown[] }; Stat: string };
    }[];
    expect(queries.find((q) => q.Expression !== undefined)?.Expression).toBe("halted + failed");
    for (const outcome of ["halted", "failed"]) {
      expect(queries.find((q) => q.Id === outcome)?.MetricStat).toMatchObject({
        Metric: {
          Namespace: "AgentRollout",
          MetricName: "RolloutsFinished",
          Dimensions: expect.arrayContaining([{ Name: "outcome", Value: outcome }]),
        },
        Stat: "Sum",
      });
    }
  });

  it.each([
    ["NightlyCleanupFailed", "AWS/Lambda", "Errors", "Sum", 86_400],
    ["NightlyCleanupOverdue", "AgentRollout", "SnapshotsOverdue", "Maximum", 86_400],
    ["DeadLetterQueueNotEmpty", "AWS/SQS", "ApproximateNumberOfMessagesVisible", "Maximum", 300],
    ["HostStepThrottled", "AWS/Lambda", "Throttles", "Sum", 300],
  ])("%s: %s %s, %s over %i s, at least 1", (id, namespace, metricName, statistic, period) => {
    // Act
    const alarm = alarms(template)[id];

    // Assess
    expect(alarm).toMatchObject({
      Namespace: namespace,
      MetricName: metricName,
      Statistic: statistic,
      Period: period,
      Threshold: 1,
      ComparisonOperator: "GreaterThanOrEqualToThreshold",
      TreatMissingData: "notBreaching",
    });
  });

  it("watches the nightly-cleanup errors, host-step throttles and the dead-letter queue", () => {
    // Act
    const found = alarms(template);
    const dimension = (id: string) =>
      flat((found[id]?.Dimensions as { Value: unknown }[] | undefined)?.[0]?.Value);

    // Assess
    expect(dimension("NightlyCleanupFailed")).toBe(`<${fnId("nightly-cleanup")}>`);
    expect(dimension("HostStepThrottled")).toBe(`<${fnId("host-step")}>`);
    expect(dimension("DeadLetterQueueNotEmpty")).toBe(
      `<${logicalIdOf(stack, stack.nightlyCleanup.deadLetterQueue)}.QueueName>`,
    );
    expect(found.NightlyCleanupOverdue?.AlarmDescription).toMatch(/more than 3 nights/);
  });

  it("has no actions without alarmTopicArn", () => {
    // Act
    const found = alarms(template);

    // Assess
    expect(Object.keys(found).sort()).toEqual([
      "DeadLetterQueueNotEmpty",
      "HostStepThrottled",
      "NightlyCleanupFailed",
      "NightlyCleanupOverdue",
      "RolloutHaltedOrFailed",
    ]);
    for (const alarm of Object.values(found)) expect(alarm.AlarmActions).toBeUndefined();
  });

  it("notifies the alarmTopicArn topic from every alarm, and counts overdue nights from the knob", () => {
    // Act
    const { template: withTopic } = buildTemplate({
      alarmTopicArn: TOPIC,
      cleanupOverdueNights: "5",
    });
    const found = alarms(withTopic);

    // Assess
    expect(Object.keys(found)).toHaveLength(5);
    for (const alarm of Object.values(found)) expect(alarm.AlarmActions).toEqual([TOPIC]);
    expect(found.NightlyCleanupOverdue?.AlarmDescription).toMatch(/more than 5 nights/);
    const cleanup = Object.values(withTopic.findResources("AWS::Lambda::Function")).find(
      (fn) => fn.Metadata?.["agent-rollout:handler"] === "nightly-cleanup",
    );
    expect(cleanup?.Properties.Environment.Variables.CLEANUP_OVERDUE_NIGHTS).toBe("5");
  });

  it("refuses an alarmTopicArn that is not an SNS topic ARN", () => {
    expect(() => buildTemplate({ alarmTopicArn: "oncall" })).toThrow(/alarmTopicArn/);
  });
});
