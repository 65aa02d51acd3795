/**
 * The `listener-dies:HOSTS` fault end to end, in local mode: an upgraded host whose
 * listener dies right after its switch (or, `listener-dies-in-bake`, in its wave's
 * bake) is found not serving by its wave's verification (or the one after the bake), counted as a failure, rolled back to its previous release (serving
 * it again), and the rollout halts over the threshold, naming it; through the CLI the
 * run exits non-zero.
 */
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { parseFault } from "../../local/fleet.js";
import { readLedger } from "../../local/ledger-view.js";
import { type RolloutReport, runRollout } from "../../local/runner.js";
import { fleetSuite, health, inputFor, linkOf } from "./faults-harness.js";

const fleet = fleetSuite("controls-verification", { hosts: 3, faults: [] });

const run = promisify(execFile);
const repoRoot = fileURLToPath(new URL("../../", import.meta.url));

describe("--fault listener-dies:HOSTS", () => {
  it("parses the hosts whose listener dies", () => {
    expect(parseFault("listener-dies:1,3", 3)).toEqual({ kind: "listener-dies", hosts: [1, 3] });
    expect(() => parseFault("listener-dies", 3)).toThrow(/needs the hosts/);
  });

  it("fails and rolls back the host that stopped serving after its switch, and halts before the next wave", async () => {
    // Prepare: a canary of one, then a wave of two; the canary's listener dies
    const killed: string[] = [];

    // Act
    const report = await runRollout(fleet.env, {
      targetVersion: "2.0.0",
      batchSize: 1,
      canary: 1,
      failureThreshold: 0,
      rolloutId: "listener-dies-1",
      jobsPerHost: 1,
      listenerDiesOn: [fleet.host(1).instanceId],
      onListenerFault: (host, pids) => {
        if (pids.length > 0) killed.push(host.instanceId);
      },
    });

    // Assess: the canary was verified, found not serving, rolled back; nothing else ran
    expect(killed).toEqual([fleet.host(1).instanceId]);
    expect(report.status).toBe("HALTED");
    const [canary, second, third] = report.hosts;
    expect(canary).toMatchObject({ status: "ROLLED_BACK", runningVersion: "1.0.0" });
    expect(canary?.error).toMatch(
      /^StoppedServing: stopped serving after the switch: on 2\.0\.0 but not serving .*; rolled back to 1\.0\.0$/,
    );
    expect(await health(fleet.host(1))).toEqual({ status: 200, version: "1.0.0" });
    expect(await linkOf(fleet.host(1))).toBe("releases/1.0.0");
    for (const host of [second, third]) {
      expect(host).toMatchObject({ status: "PENDING", runningVersion: "1.0.0" });
    }
    const reason = `1 failed host(s) exceed the failure threshold 0; ${fleet.host(1).instanceId} stopped serving after the switch`;
    expect(report.error).toBe(`RolloutHalted: ${reason}`);
    const ledger = await readLedger(fleet.env.ledger, "listener-dies-1");
    expect(ledger.rollout).toMatchObject({ status: "HALTED", haltReason: reason, failedCount: 1 });
    expect(report.jobs.lost).toBe(0);
  }, 180_000);
});

describe("--fault listener-dies-in-bake:HOSTS", () => {
  it("catches a host that passed its wave's verification and died in the bake: the rollout does not succeed", async () => {
    // Prepare: hosts 2 and 3, still on 1.0.0 (host 1 was rolled back above); one wave, a
    // bake after it, one failure tolerated, so the rollout runs to its end
    const { canary: _, ...base } = await inputFor(fleet.env, [fleet.host(2), fleet.host(3)]);
    const input = { ...base, waves: [2], bakeSeconds: 1, failureThreshold: 1 };
    const killed: string[] = [];

    // Act
    const report = await runRollout(fleet.env, {
      targetVersion: "2.0.0",
      batchSize: 1,
      canary: 0,
      failureThreshold: 1,
      rolloutId: "listener-dies-bake-1",
      jobsPerHost: 1,
      input,
      listenerDiesOn: [fleet.host(2).instanceId],
      listenerDiesWhen: "bake",
      onListenerFault: (host, pids) => {
        if (pids.length > 0) killed.push(host.instanceId);
      },
    });

    // Assess: host 2 upgraded and verified, killed in the bake, found after it, rolled back
    expect(killed).toEqual([fleet.host(2).instanceId]);
    expect(report.status).toBe("FAILED");
    expect(report.error).toBe("HostsFailed: 1 of 2 hosts did not upgrade");
    // The report lists the whole fleet: host 1 is not in this rollout.
    const [first, second, third] = report.hosts;
    expect(first?.status).toBe("NOT_PLANNED");
    expect(second).toMatchObject({ status: "ROLLED_BACK", runningVersion: "1.0.0" });
    expect(second?.error).toMatch(
      /^StoppedServing: stopped serving after the switch: .*; rolled back to 1\.0\.0$/,
    );
    expect(third).toMatchObject({ status: "UPGRADED", runningVersion: "2.0.0" });
    expect(await health(fleet.host(2))).toEqual({ status: 200, version: "1.0.0" });
    expect(await health(fleet.host(3))).toEqual({ status: 200, version: "2.0.0" });
    expect(report.jobs.lost).toBe(0);
  }, 180_000);
});

describe("the local CLI with a listener that dies", () => {
  it("exits non-zero with the host rolled back and the rollout halted", async () => {
    // Prepare
    const workDir = await mkdtemp(join(tmpdir(), "agent-rollout-listener-dies-cli-"));
    const reportFile = join(workDir, "report.json");
    try {
      // Act
      const exit = await run(
        "node",
        [
          ...["--import", "tsx", "local/cli.ts"],
          ...["--hosts", "2", "--batch-size", "1", "--canary", "1", "--failure-threshold", "0"],
          ...["--jobs-per-host", "1", "--fault", "listener-dies:1"],
          ...["--work-dir", join(workDir, "run"), "--report", reportFile, "--quiet"],
        ],
        { cwd: repoRoot, timeout: 150_000 },
      ).then(
        () => 0,
        (error: { code?: number }) => error.code ?? -1,
      );

      // Assess
      expect(exit).not.toBe(0);
      const report = JSON.parse(await readFile(reportFile, "utf8")) as RolloutReport;
      expect(report.status).toBe("HALTED");
      expect(report.hosts.map((h) => [h.status, h.runningVersion])).toEqual([
        ["ROLLED_BACK", "1.0.0"],
        ["PENDING", "1.0.0"],
      ]);
    } finally {
      await rm(workDir, { recursive: true, force: true });
    }
  }, 180_000);
});
