/**
 * End to end, the demo kit (kits/demo) chosen with `--agent demo`: its scheduler
 * driver's counts in the report, a bad release rolled back, the cleanup after.
 */
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectCleanRollout, expectRolledBack, nightlyCleanup, rollout } from "./kits-harness.js";

describe("the demo kit", () => {
  let workDir = "";
  beforeAll(async () => {
    workDir = await mkdtemp(join(tmpdir(), "agent-rollout-demo-kit-"));
  });
  afterAll(async () => {
    await rm(workDir, { recursive: true, force: true });
  });

  it("rolls out with jobs in flight, then cleans up the old releases", async () => {
    const dir = join(workDir, "ok");
    const { code, report } = await rollout("demo", dir);
    expect(code).toBe(0);
    expectCleanRollout(report);
    expect(report.jobs.details).toMatchObject({ suspensions: 2, queued: 0 });
    const cleaned = await nightlyCleanup(dir);
    expect(cleaned.deleted).toHaveLength(2);
    expect(
      existsSync(join(dir, "fleet", "host-01", "opt", "demo-agent", "releases", "1.0.0")),
    ).toBe(false);
  }, 60_000);

  it("rolls a bad release back on the canary", async () => {
    const { code, report } = await rollout("demo", join(workDir, "bad"), [
      "--fault",
      "bad-release",
    ]);
    expectRolledBack(code, report);
  }, 60_000);
});
