/**
 * End to end, the FTA-like kit (kits/fta-like) through the real state machine: nodes
 * upgraded in sequence, transfers in flight keep running across the daemons' restart,
 * new transfers picked up by the new daemons, the configuration tool's report captured,
 * the missed time per agent measured; cleanup deletes the old package release after.
 */
import { existsSync } from "node:fs";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectCleanRollout, expectRolledBack, nightlyCleanup, rollout } from "./kits-harness.js";

describe("the FTA-like kit", () => {
  let workDir = "";
  beforeAll(async () => {
    workDir = await mkdtemp(join(tmpdir(), "agent-rollout-fta-"));
  });
  afterAll(async () => {
    await rm(workDir, { recursive: true, force: true });
  });

  it("restarts every node's agent daemons in sequence without losing a transfer", async () => {
    // Act
    const dir = join(workDir, "ok");
    const { code, report } = await rollout("fta-like", dir);

    // Assess
    expect(code).toBe(0);
    expectCleanRollout(report);
    const details = report.jobs.details as {
      transfersByVersion: Record<string, number>;
      missedMsPerAgent: Record<string, Record<string, number | null>>;
    };
    // Transfers ran on the old daemons and on the new ones.
    expect(details.transfersByVersion["1.0.0"]).toBeGreaterThan(0);
    expect(details.transfersByVersion["2.0.0"]).toBeGreaterThan(0);
    // Two daemons per node, each restarted once; the page's bound is "1 or 2 seconds".
    for (const agents of Object.values(details.missedMsPerAgent)) {
      expect(Object.keys(agents)).toHaveLength(2);
      for (const missed of Object.values(agents)) {
        expect(missed).toBeGreaterThan(0);
        expect(missed).toBeLessThan(2_000);
      }
    }
    // The configuration tool's change report is the switch result's configureReport.
    const outputs = await readdir(join(dir, "ssm-output"), { recursive: true });
    const texts = await Promise.all(
      outputs
        .filter((f) => f.endsWith("stdout"))
        .map((f) => readFile(join(dir, "ssm-output", f), "utf8")),
    );
    const reports = texts.flatMap((t) => [...t.matchAll(/"configureReport":"([^"]*)"/g)]);
    expect(reports.map((m) => m[1])).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^configure_node FTA: .*vo-atlas\.conf: AgentVersion = 2\.0\.0/),
        expect.stringMatching(
          /^configure_node FTA: .*channel-CERN-RAL\.conf: AgentVersion = 2\.0\.0/,
        ),
      ]),
    );

    // Act: the cleanup, once every transfer recorded at the switch has ended.
    const cleaned = await nightlyCleanup(dir);

    // Assess
    expect(cleaned.deleted).toHaveLength(2);
    for (const host of ["host-01", "host-02"]) {
      const root = join(dir, "fleet", host, "opt", "fta");
      expect(existsSync(join(root, "releases", "1.0.0"))).toBe(false);
      expect(existsSync(join(root, "releases", "2.0.0"))).toBe(true);
      // The package tarball's fta-agents-2.0.0/ is the release (artifact_subdir).
      expect(existsSync(join(root, "releases", "2.0.0", "bin", "fta-pkg"))).toBe(true);
      expect(existsSync(join(root, "releases", "2.0.0", "fta-agents-2.0.0"))).toBe(false);
    }
  }, 60_000);

  it("rolls a bad package back: the old package reinstalled, its daemons serving", async () => {
    const dir = join(workDir, "bad");
    const { code, report } = await rollout("fta-like", dir, ["--fault", "bad-release"]);
    expectRolledBack(code, report);
    const installed = join(dir, "fleet", "host-01", "opt", "fta", "var", "lib", "pkg");
    expect((await readFile(join(installed, "fta-agents.version"), "utf8")).trim()).toBe("1.0.0");
  }, 60_000);
});
