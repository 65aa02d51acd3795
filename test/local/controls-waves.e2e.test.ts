/**
 * Growing waves end to end, in local mode: a console execution input with `waves`,
 * run as `--input FILE` does, on a fleet of three demo-agent hosts.
 */
import { execFile } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { runRollout } from "../../local/runner.js";
import { fleetSuite, inputFor, runExecution, scanLedger } from "./faults-harness.js";

const fleet = fleetSuite("controls-waves", { hosts: 3, faults: [] });
const repoRoot = fileURLToPath(new URL("../../", import.meta.url));

describe("growing waves", () => {
  it("runs a canary of one, then the rest of the fleet, each host in its planned wave", async () => {
    // Prepare: the console input, the fleet's own artifact filled in
    const { canary: _, ...base } = await inputFor(fleet.env, fleet.hosts);
    const input = { ...base, artifact: "fleet", waves: [1, "100%"], batchSize: 2 };

    // Act
    const report = await runRollout(fleet.env, {
      rolloutId: "waves-1",
      targetVersion: "2.0.0",
      batchSize: 1,
      canary: 0,
      failureThreshold: 0,
      jobsPerHost: 1,
      input,
    });

    // Assess
    expect(report.status).toBe("SUCCEEDED");
    expect(report.hosts.map((h) => [h.status, h.runningVersion])).toEqual([
      ["UPGRADED", "2.0.0"],
      ["UPGRADED", "2.0.0"],
      ["UPGRADED", "2.0.0"],
    ]);
    const items = await scanLedger(fleet.env);
    const rollout = items.find((i) => i.kind === "rollout" && i.rolloutId === "waves-1");
    expect(rollout).toMatchObject({ waveCount: 2, input: { waves: [1, "100%"] } });
    const waves = items
      .filter((i) => i.kind === "host" && i.rolloutId === "waves-1")
      .sort((a, b) => Number(a.order) - Number(b.order))
      .map((i) => [i.hostId, i.wave]);
    expect(waves).toEqual([
      [fleet.host(1).instanceId, 0],
      [fleet.host(2).instanceId, 1],
      [fleet.host(3).instanceId, 1],
    ]);
  }, 120_000);

  it("refuses waves with waveSize through the real state machine, naming the field", async () => {
    const { canary: _, ...base } = await inputFor(fleet.env, fleet.hosts);

    const outcome = await runExecution(
      fleet.env,
      { ...base, waves: [1], waveSize: 2 },
      { rolloutId: "waves-both" },
    );

    expect(outcome.status).toBe("FAILED");
    expect(outcome.error).toBe("InvalidInputError");
    expect(outcome.cause).toContain("waveSize: give canary/waveSize or waves, not both");
  }, 60_000);

  it("refuses --input together with an option it replaces, before building a fleet", async () => {
    const file = join(fleet.workDir, "input.json");
    await writeFile(file, JSON.stringify({ targetVersion: "2.0.0" }));

    const result = await promisify(execFile)(
      "node",
      ["--import", "tsx", "local/cli.ts", "--input", file, "--canary", "1"],
      { cwd: repoRoot, timeout: 60_000 },
    ).catch((error: { code: number; stderr: string }) => error);

    expect(result).toMatchObject({ code: 2 });
    expect((result as { stderr: string }).stderr).toContain(
      "--input FILE is the whole execution input: drop --canary",
    );
  }, 60_000);
});
