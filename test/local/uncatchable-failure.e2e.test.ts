/**
 * An execution that fails where no Catch runs (here the history quota, lowered so the
 * parent fails as it enters the hosts' Map, after planning took the fleet lock) is
 * recorded as Step Functions' FAILED status-change rule would: the rollout FAILED with
 * the execution's error, and the lock released.
 */
import { beforeAll, describe, expect, it } from "vitest";
import type { RolloutReport } from "../../local/runner.js";
import { fleetSuite, ledgerItem } from "./faults-harness.js";

const fleet = fleetSuite("uncatchable-failure", { hosts: 1, faults: [] });

describe("an execution that fails uncaught", () => {
  let report: RolloutReport;

  beforeAll(async () => {
    const { runRollout } = await import("../../local/runner.js");
    report = await runRollout(fleet.env, {
      rolloutId: "uncaught",
      targetVersion: "2.0.0",
      batchSize: 1,
      canary: 0,
      failureThreshold: 0,
      jobsPerHost: 1,
      jobSeconds: [1, 1],
      // ExecutionStarted, PlanRollout (5), IsDryRun (2), StartFirstWave (2) and
      // LoadWaveHosts (5) fit; entering UpgradeWaveHosts does not.
      limits: { maxHistoryEvents: 17 },
    });
  }, 120_000);

  it("reports the execution FAILED with AWS's error", () => {
    expect(report.status).toBe("FAILED");
    expect(report.error).toBe(
      "States.Runtime: The execution reached the maximum number of history events (17).",
    );
    expect(report.hosts.map((h) => h.status)).toEqual(["PENDING"]);
  });

  it("records the rollout FAILED with that error and releases the fleet lock", async () => {
    const rollout = await ledgerItem(fleet.env, "ROLLOUT#uncaught", "ROLLOUT");
    expect(rollout).toMatchObject({
      status: "FAILED",
      error: {
        name: "States.Runtime",
        message: "The execution reached the maximum number of history events (17).",
      },
    });
    expect(await ledgerItem(fleet.env, "LOCK#local", "LOCK")).toBeUndefined();
  });
});
