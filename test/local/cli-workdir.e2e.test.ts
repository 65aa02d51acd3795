/**
 * The CLI on a work dir whose path holds a space and a '+', end to end: a second CLI
 * on it is refused while the first runs; the first killed with -9 mid-rollout leaves
 * its fleet lock, the next run is refused saying how to break it, and `--break-lock`
 * takes it over and finishes the rollout. An unusable work dir is refused, naming it.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fleetProcesses, stopFleetProcesses } from "../../local/processes.js";
import type { RolloutReport } from "../../local/runner.js";

const run = promisify(execFile);
const repoRoot = fileURLToPath(new URL("../../", import.meta.url));
const CLI = ["--import", "tsx", "local/cli.ts"];

async function localMode(
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run("node", [...CLI, ...args], {
      cwd: repoRoot,
      timeout: 90_000,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, stdout: e.stdout ?? "", stderr: e.stderr ?? "" };
  }
}

/** Starts the CLI and resolves once a line of its output matches `until`. */
function startUntil(args: string[], until: RegExp): Promise<ChildProcess> {
  const child = spawn("node", [...CLI, ...args], {
    cwd: repoRoot,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  return new Promise((resolve, reject) => {
    child.stdout?.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      if (until.test(out)) resolve(child);
    });
    child.on("exit", (code) => reject(new Error(`CLI exited ${code} before ${until}: ${out}`)));
  });
}

let base: string;

beforeAll(async () => {
  base = await mkdtemp(join(tmpdir(), "agent-rollout cli+workdir "));
});

afterAll(async () => {
  await stopFleetProcesses(join(base, "my fleet+1", "fleet"));
  await rm(base, { recursive: true, force: true });
});

describe("a work dir with a space and a '+' in its path", () => {
  it("after kill -9 mid-switch refuses the next run until --break-lock, which finishes it", async () => {
    const dir = join(base, "my fleet+1");
    // One host: the killed CLI's agent does not outlive the runs after it (a rerun stops
    // every process of the fleet at its end), so the host is caught mid-switch, alone.
    const common = ["--hosts", "1", "--canary", "1", "--work-dir", dir];

    // Act 1: the first CLI is killed with -9 mid-switch; the next run is refused.
    const first = await startUntil([...common, "--jobs-per-host", "1"], /host-01 .*switching/);
    first.kill("SIGKILL");
    await new Promise((r) => first.once("exit", r));
    const refused = await localMode([...common, "--jobs-per-host", "0", "--quiet"]);
    // Act 2: --break-lock takes the dead run's lock over.
    const reportFile = join(dir, "report.json");
    const broken = await localMode([
      ...common,
      ...["--jobs-per-host", "0", "--break-lock", "--quiet", "--report", reportFile],
    ]);

    // Assess
    expect(refused.code).toBe(1);
    expect(refused.stdout).toMatch(/FleetLockedError: fleet "local" is locked by rollout local-/);
    expect(refused.stdout).toContain("run again with --break-lock");
    expect(broken.stderr).toBe("");
    expect(broken.code, broken.stdout).toBe(0);
    const report = JSON.parse(await readFile(reportFile, "utf8")) as RolloutReport;
    expect(report.status).toBe("SUCCEEDED");
    expect(report.hosts.map((h) => [h.status, h.runningVersion])).toEqual([["UPGRADED", "2.0.0"]]);
    expect(await fleetProcesses(join(dir, "fleet"))).toEqual([]);
    expect(existsSync(join(dir, "cli.pid"))).toBe(false);
  }, 90_000);

  it("refuses a second CLI on a work dir another live CLI uses, touching nothing", async () => {
    // Prepare: a CLI whose switch hangs holds the work dir.
    const dir = join(base, "held+dir");
    const common = ["--hosts", "1", "--jobs-per-host", "0", "--work-dir", dir];
    const first = await startUntil([...common, "--fault", "hang:1"], /host-01 .*switching/);
    try {
      // Act
      const second = await localMode(common);

      // Assess
      expect(second.code).toBe(1);
      expect(second.stderr).toBe(
        `agent-rollout: work dir ${dir} is in use by another agent-rollout CLI (pid ${first.pid}); wait for it to end, or use another --work-dir\n`,
      );
      expect(second.stdout).toBe("");
      expect(first.exitCode).toBeNull();
    } finally {
      first.kill("SIGKILL");
      await new Promise((r) => first.once("exit", r));
      await stopFleetProcesses(join(dir, "fleet"));
    }
  }, 60_000);

  it("refuses a work dir that cannot be created, naming it, and creates nothing", async () => {
    const file = join(base, "plain file");
    writeFileSync(file, "");
    const dir = join(file, "work");

    const result = await localMode(["--hosts", "1", "--work-dir", dir]);

    expect(result.code).toBe(1);
    expect(result.stderr).toBe(`agent-rollout: work dir ${dir}: ${file} is not a directory\n`);
    expect(result.stdout).toBe("");
  }, 30_000);
});
