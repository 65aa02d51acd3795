/**
 * What each function measures: the domain functions with a recording `deps.metrics`,
 * the EMF objects Powertools Metrics writes, and one handler end to end (its log lines
 * and its metrics in the log file).
 */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GetCommandInvocationCommand, SendCommandCommand, SSMClient } from "@aws-sdk/client-ssm";
import { DynamoDBDocumentClient, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import { mockClient } from "aws-sdk-client-mock";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import type { RolloutItem, SnapshotItem } from "../../lambdas/common/ledger/items.js";
import {
  createRolloutMetrics,
  METRICS_NAMESPACE,
  type MetricRecord,
  powertoolsSink,
  RolloutMetricsPublisher,
} from "../../lambdas/common/metrics.js";
import { finishRollout } from "../../lambdas/finish-rollout/finish-rollout.js";
import { type HostStepDeps, runHostStep } from "../../lambdas/host-step/host-step.js";
import { nightlyCleanup } from "../../lambdas/nightly-cleanup/nightly-cleanup.js";
import { handler as recordHostHandler } from "../../lambdas/record-host/index.js";
import { recordHost } from "../../lambdas/record-host/record-host.js";
import {
  awsError,
  BUCKET,
  fakeClock,
  hostItem,
  I1,
  I2,
  jobs,
  lockItem,
  ROLLOUT_ID,
  rolloutItem,
  snapshotItem,
  T0,
  TABLE,
  testDeps,
} from "./helpers.js";
import { MemoryLedgerStore } from "./memory-ledger-store.js";

const ddbMock = mockClient(DynamoDBDocumentClient);
const ssmMock = mockClient(SSMClient);
const HOST = { rolloutId: ROLLOUT_ID, wave: 1, hostId: I1, instanceId: I1 };
const DAY = 24 * 60 * 60 * 1000;

/** A `deps.metrics` writing its records to an array. */
function recorder(overdueNights?: number) {
  const records: MetricRecord[] = [];
  const metrics = createRolloutMetrics((record) => records.push(record), { overdueNights });
  return { metrics, records };
}

beforeEach(() => {
  ddbMock.reset();
  ssmMock.reset();
});

describe("domain metrics", () => {
  it("record-host counts each host once, by outcome", async () => {
    // Prepare
    const deps = testDeps({});
    deps.store.putItem(rolloutItem());
    deps.store.putItem(hostItem({ wave: 1, status: "SWITCHING" }));
    const { metrics, records } = recorder();

    // Act
    await recordHost(
      { ...deps, metrics },
      { outcome: "failure", host: HOST, error: { Error: "HostStepFailedError", Cause: "boom" } },
    );

    // Assess
    expect(records).toEqual([
      {
        dimensions: { outcome: "failed" },
        values: [{ name: "HostsFinished", unit: "Count", value: 1 }],
      },
    ]);
  });

  it("record-host counts nothing when the host was already final", async () => {
    // Prepare
    const deps = testDeps({});
    deps.store.putItem(hostItem({ wave: 1, status: "UPGRADED" }));
    const { metrics, records } = recorder();

    // Act
    const result = await recordHost(
      { ...deps, metrics },
      { outcome: "failure", host: HOST, error: { Error: "States.Timeout" } },
    );

    // Assess
    expect(result.status).toBe("UPGRADED");
    expect(records).toEqual([]);
  });

  it("host-step measures a rolled-back switch: suspend window, listener gap, unserved time, refused connections, jobs, by profile", async () => {
    // Prepare
    const rollout = rolloutItem();
    const store = new MemoryLedgerStore();
    store.putItem(rollout);
    store.putItem(
      hostItem({
        wave: 1,
        status: "SWITCHING",
        commands: { preflight: "c0", stage: "c1", switch: "cmd-1" },
      }),
    );
    const { items, sha256 } = jobs(3);
    ssmMock.on(GetCommandInvocationCommand).resolves({
      $metadata: {},
      CommandId: "cmd-1",
      InstanceId: I1,
      Status: "Failed",
      StatusDetails: "Failed",
      ResponseCode: 3,
      StandardOutputContent: `${JSON.stringify({
        step: "switch",
        status: "ROLLED_BACK",
        fromVersion: "1.0.0",
        toVersion: "2.0.0",
        currentVersion: "1.0.0",
        oldRelease: "/opt/agent/releases/1.0.0",
        suspendMs: 1200,
        listenerGapMs: 450,
        unservedMs: 35,
        refused: 12,
        jobs: { count: 3, sha256, items },
        reason: "health check failed",
      })}\n`,
    });
    const { metrics, records } = recorder();
    const deps: HostStepDeps = {
      ...testDeps(
        {
          documentPrefix: "AR",
          outputBucket: BUCKET,
          inlinePollSeconds: 20,
          deliveryTimeoutSeconds: 600,
        },
        fakeClock(),
        store,
      ),
      rolloutCache: new Map<string, RolloutItem>(),
      metrics,
    };

    // Act
    await runHostStep(
      deps,
      {
        action: "poll",
        step: "switch",
        host: HOST,
        command: {
          step: "switch",
          commandId: "cmd-1",
          done: false,
          waitSeconds: 2,
          sentAt: new Date(T0 - 4000).toISOString(),
        },
      },
      { getRemainingTimeInMillis: () => 60_000 },
    );

    // Assess
    expect(records).toEqual([
      {
        dimensions: { profile: rollout.profile, outcome: "rolled-back" },
        values: [{ name: "Switches", unit: "Count", value: 1 }],
      },
      {
        dimensions: { profile: rollout.profile },
        values: [
          { name: "SuspendWindow", unit: "Milliseconds", value: 1200 },
          { name: "ListenerGap", unit: "Milliseconds", value: 450 },
          { name: "UnservedTime", unit: "Milliseconds", value: 35 },
          { name: "RefusedConnections", unit: "Count", value: 12 },
          { name: "JobsRunningAtSwitch", unit: "Count", value: 3 },
        ],
      },
    ]);
  });

  it("finish-rollout measures a halted rollout once: duration, hosts, failed hosts", async () => {
    // Prepare
    const createdAt = new Date(T0 - 90_000).toISOString();
    const rollout = rolloutItem({ createdAt });
    const deps = testDeps({});
    deps.store.putItem(rollout);
    deps.store.putItem(
      hostItem({
        hostId: I1,
        status: "ROLLED_BACK",
        error: { name: "RolledBack", message: "x" },
      }),
    );
    deps.store.putItem(hostItem({ hostId: I2, order: 1, status: "NOT_STARTED" }));
    deps.store.putItem(lockItem(rollout.fleet, ROLLOUT_ID, createdAt));
    const { metrics, records } = recorder();

    // Act
    await finishRollout({ ...deps, metrics }, { rolloutId: ROLLOUT_ID, outcome: "HALTED" });

    // Assess
    expect(records).toEqual([
      {
        dimensions: { outcome: "halted" },
        values: [
          { name: "RolloutsFinished", unit: "Count", value: 1 },
          { name: "RolloutHosts", unit: "Count", value: 2 },
          { name: "RolloutHostsFailed", unit: "Count", value: 1 },
          { name: "RolloutDuration", unit: "Milliseconds", value: 90_000 },
        ],
      },
    ]);
  });

  it("finish-rollout counts a rollout that failed before its ledger was written", async () => {
    // Prepare: an empty ledger.
    const { metrics, records } = recorder();

    // Act
    await finishRollout(
      { ...testDeps({}), metrics },
      { rolloutId: ROLLOUT_ID, outcome: "FAILED", error: { Error: "NoHostsError" } },
    );

    // Assess
    expect(records).toEqual([
      {
        dimensions: { outcome: "failed" },
        values: [
          { name: "RolloutsFinished", unit: "Count", value: 1 },
          { name: "RolloutHosts", unit: "Count", value: 0 },
          { name: "RolloutHostsFailed", unit: "Count", value: 0 },
        ],
      },
    ]);
  });

  it("nightly-cleanup measures the run and counts snapshots pending for more than N nights", async () => {
    // Prepare: one snapshot four nights old, one a night old; both hosts offline.
    const snapshot = (hostId: string, ageMs: number): SnapshotItem =>
      snapshotItem(hostId, "r-1", {
        attempts: 3,
        createdAt: new Date(T0 - ageMs).toISOString(),
      });
    const deps = testDeps({
      documentPrefix: "AR",
      outputBucket: BUCKET,
      deliveryTimeoutSeconds: 60,
      concurrency: 2,
    });
    deps.store.putItem(snapshot(I1, 4 * DAY));
    deps.store.putItem(snapshot(I2, DAY));
    ssmMock.on(SendCommandCommand).rejects(awsError("InvalidInstanceId", "not in a valid state"));
    const { metrics, records } = recorder(3);

    // Act
    await nightlyCleanup({ ...deps, metrics }, {}, { getRemainingTimeInMillis: () => 900_000 });

    // Assess
    expect(records).toEqual([
      {
        dimensions: {},
        values: [
          { name: "CleanupRuns", unit: "Count", value: 1 },
          { name: "SnapshotsDeleted", unit: "Count", value: 0 },
          { name: "SnapshotsKept", unit: "Count", value: 0 },
          { name: "SnapshotsFailed", unit: "Count", value: 2 },
          { name: "SnapshotsDeferred", unit: "Count", value: 0 },
          { name: "SnapshotsOverdue", unit: "Count", value: 1 },
        ],
      },
    ]);
  });
});

describe("createRolloutMetrics", () => {
  it("measures only switches that switched or rolled back, and only the timings given", () => {
    // Prepare
    const { metrics, records } = recorder();

    // Act
    metrics.switchFinished({ profile: "demo", status: "UNCHANGED", suspendMs: 5 });
    metrics.switchFinished({ profile: "demo", status: "SWITCHED", jobsRunning: "3" });

    // Assess
    expect(records).toEqual([
      {
        dimensions: { profile: "demo", outcome: "switched" },
        values: [{ name: "Switches", unit: "Count", value: 1 }],
      },
    ]);
  });

  it("measures unserved time and refused connections only when the probe measured them", () => {
    // Prepare
    const { metrics, records } = recorder();

    // Act
    metrics.switchFinished({
      profile: "demo",
      status: "SWITCHED",
      suspendMs: 40,
      unservedMs: null,
      refused: null,
    });
    metrics.switchFinished({ profile: "demo", status: "SWITCHED", unservedMs: 0, refused: 0 });

    // Assess
    expect(records).toEqual([
      {
        dimensions: { profile: "demo", outcome: "switched" },
        values: [{ name: "Switches", unit: "Count", value: 1 }],
      },
      {
        dimensions: { profile: "demo" },
        values: [{ name: "SuspendWindow", unit: "Milliseconds", value: 40 }],
      },
      {
        dimensions: { profile: "demo", outcome: "switched" },
        values: [{ name: "Switches", unit: "Count", value: 1 }],
      },
      {
        dimensions: { profile: "demo" },
        values: [
          { name: "UnservedTime", unit: "Milliseconds", value: 0 },
          { name: "RefusedConnections", unit: "Count", value: 0 },
        ],
      },
    ]);
  });
});

describe("Powertools publisher", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "metrics-test-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it("writes one EMF object per record to LAMBDA_LOG_FILE, with namespace and service", async () => {
    // Prepare
    const file = join(dir, "emf.log");
    vi.stubEnv("LAMBDA_LOG_FILE", file);
    const publisher = new RolloutMetricsPublisher({
      namespace: METRICS_NAMESPACE,
      serviceName: "agent-rollout",
    });
    const metrics = createRolloutMetrics(powertoolsSink(publisher));

    // Act
    metrics.hostFinished("ROLLED_BACK");
    metrics.switchFinished({ profile: "demo", status: "SWITCHED", suspendMs: 40 });

    // Assess
    const lines = (await readFile(file, "utf8"))
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatchObject({
      _aws: {
        CloudWatchMetrics: [
          {
            Namespace: "AgentRollout",
            Dimensions: [["service", "outcome"]],
            Metrics: [{ Name: "HostsFinished", Unit: "Count" }],
          },
        ],
      },
      service: "agent-rollout",
      outcome: "rolled-back",
      HostsFinished: 1,
    });
    expect(lines[2]).toMatchObject({ profile: "demo", SuspendWindow: 40 });
    expect(lines[2]).not.toHaveProperty("outcome");
  });
});

describe("record-host handler", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "handler-log-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it("logs every line with the host's correlation keys and writes its metric to the log file", async () => {
    // Prepare
    const file = join(dir, "lambdas.log");
    vi.stubEnv("LAMBDA_LOG_FILE", file);
    vi.stubEnv("TABLE_NAME", TABLE);
    vi.stubEnv("AWS_REGION", "us-east-1");
    ddbMock.on(UpdateCommand).resolves({});

    // Act
    await recordHostHandler(
      { outcome: "failure", host: HOST, error: { Error: "HostStepFailedError", Cause: "boom" } },
      { getRemainingTimeInMillis: () => 30_000, awsRequestId: "req-1" },
    );

    // Assess
    const lines = (await readFile(file, "utf8"))
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const logLines = lines.filter((l) => !("_aws" in l));
    expect(logLines.map((l) => l.message)).toEqual([
      "invocation start",
      "host recorded",
      "invocation end",
    ]);
    for (const l of logLines) {
      expect(l).toMatchObject({
        service: "agent-rollout",
        function: "record-host",
        rolloutId: ROLLOUT_ID,
        hostId: I1,
        wave: 1,
      });
    }
    expect(lines.filter((l) => "_aws" in l)).toEqual([
      expect.objectContaining({ HostsFinished: 1, outcome: "failed", service: "agent-rollout" }),
    ]);
  });
});
