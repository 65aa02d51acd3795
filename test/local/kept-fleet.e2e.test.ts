/**
 * End to end, a second run on a kept fleet (`npm start -- --work-dir DIR` again): the
 * first run stopped every agent when it ended; the second starts them (the kit's
 * startHost) before the workload and the rollout, so no submission fails and jobs run
 * through the switch as on a new fleet.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { rollout } from "./kits-harness.js";

describe("a kept fleet", () => {
  let workDir = "";
  beforeAll(async () => {
    workDir = await mkdtemp(join(tmpdir(), "agent-rollout-kept-fleet-"));
  });
  afterAll(async () => {
    await rm(workDir, { recursive: true, force: true });
  });

  it("has its stopped agents started again by the next run, which rolls out as on a new fleet", async () => {
    // Prepare: a first run, whose end stops every process of the fleet (checked by `rollout`).
    const dir = join(workDir, "kept");
    const first = await rollout("demo", dir);
    expect([first.code, first.report.status]).toEqual([0, "SUCCEEDED"]);

    // Act
    const { code, report, stdout } = await rollout("demo", dir, ["--to", "3.0.0"]);

    // Assess
    expect(stdout).toMatch(/^Reusing the fleet in /m);
    expect(code).toBe(0);
    expect(report.status).toBe("SUCCEEDED");
    expect(report.hosts.map((h) => [h.fromVersion, h.runningVersion, h.status])).toEqual([
      ["2.0.0", "3.0.0", "UPGRADED"],
      ["2.0.0", "3.0.0", "UPGRADED"],
    ]);
    // Agents left down until their switch would refuse the driver's submissions and
    // have no job running at switch time.
    expect(report.jobs.failedSubmissions).toBe(0);
    expect(report.jobs.runningAtSwitch).toBeGreaterThan(0);
    expect(report.jobs.completed).toBe(report.jobs.submitted);
    expect(report.jobs.lost).toBe(0);
    expect(report.jobs.failed).toBe(0);
  }, 60_000);
});
