/**
 * The end-of-run metrics table, offline: EMF objects written by the functions' own
 * publisher to a log file, read back from an offset and rendered as a table.
 */
import { appendFile, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import {
  createRolloutMetrics,
  METRICS_NAMESPACE,
  powertoolsSink,
  RolloutMetricsPublisher,
} from "../../lambdas/common/metrics.js";
import { formatMetrics } from "../../local/format.js";
import { logOffset, readRunMetrics } from "../../local/run-metrics.js";

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "run-metrics-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});
afterEach(() => {
  vi.unstubAllEnvs();
});

describe("run metrics", () => {
  it("sums the EMF objects written after the offset, per metric and dimensions, and renders them", async () => {
    // Prepare: an earlier run's lines, then this run's, mixed with log lines.
    const file = join(dir, "lambdas.log");
    vi.stubEnv("LAMBDA_LOG_FILE", file);
    const metrics = createRolloutMetrics(
      powertoolsSink(
        new RolloutMetricsPublisher({ namespace: METRICS_NAMESPACE, serviceName: "agent-rollout" }),
      ),
    );
    metrics.hostFinished("FAILED");
    const from = await logOffset(file);
    await appendFile(file, `${JSON.stringify({ level: "INFO", message: "invocation start" })}\n`);
    // The probe measured two of the three switches (the third: no hook.endpoint).
    for (const [suspendMs, unservedMs, refused] of [
      [120, 4, 2],
      [80, 0, 0],
      [200, null, null],
    ] as const) {
      metrics.hostFinished("UPGRADED");
      metrics.switchFinished({
        profile: "demo",
        status: "SWITCHED",
        suspendMs,
        unservedMs,
        refused,
        jobsRunning: 2,
      });
    }

    // Act
    const found = await readRunMetrics(file, from);
    const text = formatMetrics(found);

    // Assess
    expect(found).toEqual([
      {
        name: "HostsFinished",
        dimensions: "outcome=upgraded",
        unit: "Count",
        samples: 3,
        sum: 3,
        min: 1,
        max: 1,
      },
      {
        name: "JobsRunningAtSwitch",
        dimensions: "profile=demo",
        unit: "Count",
        samples: 3,
        sum: 6,
        min: 2,
        max: 2,
      },
      {
        name: "RefusedConnections",
        dimensions: "profile=demo",
        unit: "Count",
        samples: 2,
        sum: 2,
        min: 0,
        max: 2,
      },
      {
        name: "SuspendWindow",
        dimensions: "profile=demo",
        unit: "Milliseconds",
        samples: 3,
        sum: 400,
        min: 80,
        max: 200,
      },
      {
        name: "Switches",
        dimensions: "profile=demo,outcome=switched",
        unit: "Count",
        samples: 3,
        sum: 3,
        min: 1,
        max: 1,
      },
      {
        name: "UnservedTime",
        dimensions: "profile=demo",
        unit: "Milliseconds",
        samples: 2,
        sum: 4,
        min: 0,
        max: 4,
      },
    ]);
    expect(text.split("\n")).toEqual([
      "Metrics (namespace AgentRollout, as emitted):",
      "metric               dimensions                     unit          samples  sum  min  max",
      "-------------------  -----------------------------  ------------  -------  ---  ---  ---",
      "HostsFinished        outcome=upgraded               Count         3        3    -    -",
      "JobsRunningAtSwitch  profile=demo                   Count         3        6    -    -",
      "RefusedConnections   profile=demo                   Count         2        2    -    -",
      "SuspendWindow        profile=demo                   Milliseconds  3        400  80   200",
      "Switches             profile=demo,outcome=switched  Count         3        3    -    -",
      "UnservedTime         profile=demo                   Milliseconds  2        4    0    4",
    ]);
  });

  it("has nothing to show for a log file that does not exist", async () => {
    expect(await readRunMetrics(join(dir, "absent.log"))).toEqual([]);
    expect(formatMetrics([])).toBe("Metrics: none emitted");
  });
});
