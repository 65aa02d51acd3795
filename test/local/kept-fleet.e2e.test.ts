/**
 * End to end, a second run on a kept fleet (`npm start -- --work-dir DIR` again): the
 * first run stopped every agent when it ended; the second starts them (the kit's
 * startHost) before the workload and the rollout, so no submission fails and jobs run
 * through the switch as on a new fleet. A rollback input (`{"rollback": ID}`) then
 * rolls that run back on the same kept fleet.
 */
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { localMode, rollout } from "./kits-harness.js";

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

    // And a whole-rollout rollback of that second run, as a console input on the kept fleet.
    const input = join(workDir, "rollback.json");
    await writeFile(input, JSON.stringify({ rollback: report.rolloutId }));
    const back = await rollout("demo", dir, ["--input", input]);
    expect(back.code).toBe(0);
    expect(back.stdout).toMatch(new RegExp(`^Rolling back rollout ${report.rolloutId} `, "m"));
    expect(back.report).toMatchObject({ status: "SUCCEEDED", rollbackOf: report.rolloutId });
    expect(back.report.hosts.map((h) => [h.fromVersion, h.runningVersion, h.status])).toEqual([
      ["3.0.0", "2.0.0", "UPGRADED"],
      ["3.0.0", "2.0.0", "UPGRADED"],
    ]);
    expect(back.report.jobs.lost).toBe(0);
    expect(back.report.jobs.completed).toBe(back.report.jobs.submitted);
  }, 90_000);

  it("refuses a rollback input without the kept fleet of its rollout, creating nothing", async () => {
    // Prepare
    const input = join(workDir, "rollback-nowhere.json");
    await writeFile(input, JSON.stringify({ rollback: "r-1" }));

    // Act
    const { code, stderr } = await localMode([
      "--input",
      input,
      "--work-dir",
      join(workDir, "none"),
    ]);

    // Assess
    expect(code).toBe(2);
    expect(stderr).toMatch(/^agent-rollout: a rollback input rolls back a rollout of a kept fleet/);
    expect(existsSync(join(workDir, "none"))).toBe(false);
  });
});
