/**
 * End to end, in local mode: the synthesized state machine, the real handlers, the
 * SSM documents' scripts on a fleet of real demo-agent processes with real jobs.
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, readlink, rm } from "node:fs/promises";
import { get } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CleanupReport } from "../../local/cleanup.js";
import { fleetProcesses } from "../../local/processes.js";
import type { RolloutReport } from "../../local/runner.js";

const run = promisify(execFile);
const cli = ["--import", "tsx", "local/cli.ts"];

async function localMode(
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run("node", [...cli, ...args], { timeout: 240_000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, stdout: e.stdout ?? "", stderr: e.stderr ?? "" };
  }
}

function health(port: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    get({ host: "127.0.0.1", port, path: "/health", timeout: 2_000 }, (res) => {
      let body = "";
      res.on("data", (chunk) => {
        body += chunk;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    }).on("error", reject);
  });
}

describe("local mode", () => {
  let workDir: string;

  beforeAll(async () => {
    workDir = await mkdtemp(join(tmpdir(), "agent-rollout-e2e-"));
  });

  afterAll(async () => {
    await rm(workDir, { recursive: true, force: true });
  });

  it("rolls 3 hosts with jobs in flight to the new version, then cleans up the old releases", async () => {
    // Prepare
    const dir = join(workDir, "ok");
    const reportFile = join(dir, "report.json");

    // Act
    const result = await localMode([
      "--hosts",
      "3",
      "--jobs-per-host",
      "3",
      "--work-dir",
      dir,
      "--report",
      reportFile,
      "--quiet",
    ]);

    // Assess
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    const report = JSON.parse(await readFile(reportFile, "utf8")) as RolloutReport;
    expect(report.status).toBe("SUCCEEDED");
    expect(
      report.hosts.map((h) => [
        h.computerName,
        h.fromVersion,
        h.toVersion,
        h.runningVersion,
        h.status,
      ]),
    ).toEqual([
      ["host-01", "1.0.0", "2.0.0", "2.0.0", "UPGRADED"],
      ["host-02", "1.0.0", "2.0.0", "2.0.0", "UPGRADED"],
      ["host-03", "1.0.0", "2.0.0", "2.0.0", "UPGRADED"],
    ]);
    for (const host of report.hosts) {
      expect(host.suspendMs).toBeGreaterThanOrEqual(0);
      expect(host.suspendMs).toBeLessThan(5_000);
      expect(host.listenerGapMs).toBeGreaterThanOrEqual(0);
      expect(host.listenerGapMs).toBeLessThan(5_000);
    }
    expect(report.jobs.runningAtSwitch).toBeGreaterThan(0);
    expect(report.jobs.submitted).toBeGreaterThanOrEqual(9);
    expect(report.jobs.completed).toBe(report.jobs.submitted);
    expect(report.jobs.lost).toBe(0);
    expect(report.jobs.failed).toBe(0);
    expect(report.jobs.failedSubmissions).toBe(0);
    // The metrics the functions emitted tell the same story, in the report and on screen.
    const metric = (name: string, dimensions: string) =>
      report.metrics.find((m) => m.name === name && m.dimensions === dimensions);
    expect(metric("HostsFinished", "outcome=upgraded")?.sum).toBe(report.hosts.length);
    expect(metric("RolloutsFinished", "outcome=succeeded")?.sum).toBe(1);
    expect(metric("RolloutHosts", "outcome=succeeded")?.sum).toBe(3);
    const suspend = report.metrics.find((m) => m.name === "SuspendWindow");
    expect(suspend?.samples).toBe(3);
    expect(suspend?.max).toBe(Math.max(...report.hosts.map((h) => h.suspendMs ?? -1)));
    // The demo profile names hook.endpoint: the probe measured every switch.
    const unserved = metric("UnservedTime", "profile=demo");
    expect(unserved?.samples).toBe(3);
    expect(unserved?.max).toBe(Math.max(...report.hosts.map((h) => h.unservedMs ?? -1)));
    expect(metric("RefusedConnections", "profile=demo")?.samples).toBe(3);
    expect(report.metrics.filter((m) => m.dimensions.includes("rolled-back"))).toEqual([]);
    expect(result.stdout).toMatch(/^HostsFinished\s+outcome=upgraded\s+Count\s+3\s+3\s/m);
    // Nothing of the fleet keeps running after the command.
    expect(await fleetProcesses(join(dir, "fleet"))).toEqual([]);

    // Act: the nightly cleanup, now that every snapshotted job has finished.
    const cleanupFile = join(dir, "cleanup.json");
    const cleanup = await localMode(["cleanup", "--work-dir", dir, "--report", cleanupFile]);

    // Assess
    expect(cleanup.code).toBe(0);
    const cleaned = JSON.parse(await readFile(cleanupFile, "utf8")) as CleanupReport;
    expect(cleaned.checked).toBe(3);
    expect(cleaned.deleted.map((e) => e.hostId).sort()).toEqual(
      report.hosts.map((h) => h.hostId).sort(),
    );
    expect(cleaned.kept).toEqual([]);
    expect(cleaned.failed).toEqual([]);
    expect(
      cleaned.metrics.find((m) => m.name === "SnapshotsDeleted" && m.dimensions === "-")?.sum,
    ).toBe(3);
    for (const name of ["host-01", "host-02", "host-03"]) {
      const agentRoot = join(dir, "fleet", name, "opt", "demo-agent");
      expect(existsSync(join(agentRoot, "releases", "1.0.0"))).toBe(false);
      expect(existsSync(join(agentRoot, "releases", "2.0.0", "VERSION"))).toBe(true);
      expect(await readlink(join(agentRoot, "current"))).toBe("releases/2.0.0");
    }

    // Act: a second night finds nothing left to do.
    const again = await localMode(["cleanup", "--work-dir", dir, "--report", cleanupFile]);
    expect(again.code).toBe(0);
    expect((JSON.parse(await readFile(cleanupFile, "utf8")) as CleanupReport).checked).toBe(0);
  }, 240_000);

  it("rolls a bad release back on the canary and halts before any other host", async () => {
    // Prepare
    const { createFleet } = await import("../../local/fleet.js");
    const { startEnvironment } = await import("../../local/environment.js");
    const { runRollout } = await import("../../local/runner.js");
    const { stopFleetProcesses } = await import("../../local/processes.js");
    const dir = join(workDir, "bad");
    // From the fleet's first listener on, whatever happens, every process is stopped.
    let env: Awaited<ReturnType<typeof startEnvironment>> | undefined;
    try {
      await createFleet(dir, {
        hosts: 3,
        fromVersion: "1.0.0",
        versions: ["1.0.0", "2.0.0"],
        faults: [{ kind: "bad-release" }],
      });
      env = await startEnvironment({ workDir: dir });
      // Act
      const report = await runRollout(env, {
        targetVersion: "2.0.0",
        batchSize: 1,
        canary: 1,
        failureThreshold: 0,
        jobsPerHost: 2,
        jobSeconds: [1, 3],
      });

      // Assess
      expect(report.status).toBe("HALTED");
      const [canary, ...others] = report.hosts;
      expect(canary?.status).toBe("ROLLED_BACK");
      expect(canary?.runningVersion).toBe("1.0.0");
      expect(canary?.error).toMatch(/health/i);
      for (const host of others) {
        expect(host.status).toBe("PENDING");
        expect(host.runningVersion).toBe("1.0.0");
      }
      // The canary's old listener serves again; the others were never touched.
      for (const host of env.fleet.hosts) {
        const answer = await health(host.agentPort);
        expect(answer.status).toBe(200);
        expect(JSON.parse(answer.body).version).toBe("1.0.0");
      }
      const sentTo = new Set(env.ssm.invocations().map((i) => i.instanceId));
      expect([...sentTo]).toEqual([env.fleet.hosts[0]?.instanceId]);
      expect(report.jobs.lost).toBe(0);
      expect(report.jobs.failedSubmissions).toBe(0);
      expect(report.jobs.completed).toBe(report.jobs.submitted);
    } finally {
      await env?.close();
      await stopFleetProcesses(join(dir, "fleet"));
    }
  }, 240_000);
});
