/**
 * Shared steps of the agent-kit end-to-end tests: local mode's CLI run as a user runs
 * it (`--agent NAME|DIR`), its JSON report, and the checks every kit must pass.
 */
import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { expect } from "vitest";
import type { CleanupReport } from "../../local/cleanup.js";
import { fleetProcesses } from "../../local/processes.js";
import type { RolloutReport } from "../../local/runner.js";

const run = promisify(execFile);

/** Runs `npm start -- ARGS` (without npm) and returns its exit code and output. */
export async function localMode(
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run("node", ["--import", "tsx", "local/cli.ts", ...args], {
      timeout: 120_000,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, stdout: e.stdout ?? "", stderr: e.stderr ?? "" };
  }
}

/** A rollout of `agent` on `hosts` hosts with work in flight; returns its report. */
export async function rollout(
  agent: string,
  dir: string,
  extra: string[] = [],
): Promise<{ code: number; report: RolloutReport; stdout: string }> {
  const reportFile = join(dir, "report.json");
  const result = await localMode([
    "--agent",
    agent,
    "--hosts",
    "2",
    "--jobs-per-host",
    "3",
    "--work-dir",
    dir,
    "--report",
    reportFile,
    "--quiet",
    ...extra,
  ]);
  expect(result.stderr).toBe("");
  const report = JSON.parse(await readFile(reportFile, "utf8")) as RolloutReport;
  // Nothing of the fleet (agents, jobs, the workload driver) outlives the command.
  expect(await fleetProcesses(join(dir, "fleet"))).toEqual([]);
  return { code: result.code, report, stdout: result.stdout };
}

/** Every host on the target, the kit's driver saw no work lost, refused or unreported. */
export function expectCleanRollout(report: RolloutReport): void {
  expect(report.status).toBe("SUCCEEDED");
  expect(report.hosts.map((h) => [h.fromVersion, h.runningVersion, h.status])).toEqual([
    ["1.0.0", "2.0.0", "UPGRADED"],
    ["1.0.0", "2.0.0", "UPGRADED"],
  ]);
  expect(report.jobs.runningAtSwitch).toBeGreaterThan(0);
  expect(report.jobs.submitted).toBeGreaterThanOrEqual(6);
  expect(report.jobs.completed).toBe(report.jobs.submitted);
  expect(report.jobs.lost).toBe(0);
  expect(report.jobs.failed).toBe(0);
  expect(report.jobs.failedSubmissions).toBe(0);
  expect(report.jobs.statusUpdatesLost).toBe(0);
}

/** A bad release: the canary rolls back by itself, nothing is lost, the rest is untouched. */
export function expectRolledBack(code: number, report: RolloutReport): void {
  expect(code).toBe(1);
  expect(report.status).toBe("HALTED");
  expect(report.hosts.map((h) => [h.runningVersion, h.status])).toEqual([
    ["1.0.0", "ROLLED_BACK"],
    ["1.0.0", "PENDING"],
  ]);
  expect(report.jobs.lost).toBe(0);
  expect(report.jobs.statusUpdatesLost).toBe(0);
  expect(report.jobs.completed).toBe(report.jobs.submitted);
}

/** The nightly cleanup on a kept fleet; returns its report. */
export async function nightlyCleanup(dir: string): Promise<CleanupReport> {
  const file = join(dir, "cleanup.json");
  const result = await localMode(["cleanup", "--work-dir", dir, "--report", file]);
  expect(result.code).toBe(0);
  return JSON.parse(await readFile(file, "utf8")) as CleanupReport;
}
