/**
 * Faults through the local-mode CLI itself: a disk too full for the profile (a profile
 * deployed with `--profile FILE` that needs more free space than any host has), and the
 * fault options it refuses.
 */
import { execFile } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseFault } from "../../local/fleet.js";
import { fleetProcesses } from "../../local/processes.js";
import type { RolloutReport } from "../../local/runner.js";

const run = promisify(execFile);
const repoRoot = fileURLToPath(new URL("../../", import.meta.url));

async function localMode(
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run("node", ["--import", "tsx", "local/cli.ts", ...args], {
      cwd: repoRoot,
      timeout: 120_000,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, stdout: e.stdout ?? "", stderr: e.stderr ?? "" };
  }
}

let workDir: string;

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), "agent-rollout-faults-cli-"));
});

afterAll(async () => {
  await rm(workDir, { recursive: true, force: true });
});

describe("a disk too full for the profile", () => {
  it("is refused at preflight on every host: nothing staged, nothing switched", async () => {
    // Prepare: the demo profile, needing 999,999 MB free.
    const profile = join(workDir, "demo-full.profile");
    const demo = readFileSync(join(repoRoot, "profiles", "demo.profile"), "utf8");
    writeFileSync(profile, demo.replace(/^min_free_mb=.*$/m, "min_free_mb=999999"));
    const dir = join(workDir, "full");
    const reportFile = join(dir, "report.json");

    // Act
    const result = await localMode([
      ...["--hosts", "2", "--batch-size", "2", "--canary", "0", "--failure-threshold", "2"],
      ...["--jobs-per-host", "1", "--profile", profile],
      ...["--work-dir", dir, "--report", reportFile, "--quiet"],
    ]);

    // Assess
    expect(result.stderr).toBe("");
    expect(result.code).toBe(1);
    const report = JSON.parse(await readFile(reportFile, "utf8")) as RolloutReport;
    expect(report.status).toBe("FAILED");
    expect(report.error).toBe("HostsFailed: 2 of 2 hosts did not upgrade");
    for (const [i, h] of report.hosts.entries()) {
      const agentRoot = join(dir, "fleet", `host-0${i + 1}`, "opt", "demo-agent");
      expect([h.status, h.runningVersion]).toEqual(["FAILED", "1.0.0"]);
      expect(h.error).toMatch(
        new RegExp(
          `^HostStepFailedError: preflight failed on ${h.hostId}: only \\d+ MB free under ${agentRoot}, profile demo-full needs 999999 MB$`,
        ),
      );
      expect(existsSync(join(agentRoot, "releases", "2.0.0"))).toBe(false);
    }
    const ssmLog = await readFile(join(dir, "logs", "ssm.log"), "utf8");
    expect(ssmLog).toContain("AgentRollout-Preflight");
    expect(ssmLog).not.toContain("AgentRollout-Stage");
    expect(ssmLog).not.toContain("AgentRollout-Switch");
    expect(report.jobs.lost).toBe(0);
    expect(await fleetProcesses(join(dir, "fleet"))).toEqual([]);
  }, 120_000);
});

describe("fault options", () => {
  it.each([
    ["hang:3", '--fault hang:3: "3" is not a host number between 1 and 2'],
    ["hang", "--fault hang needs the hosts it applies to, e.g. hang:2"],
    [
      "slow:1",
      '--fault slow:1: unknown kind "slow" (bad-release, host-offline, undeliverable, hang, alarm, listener-dies, listener-dies-in-bake)',
    ],
  ])("parses --fault %s as a usage error", (raw, message) => {
    expect(() => parseFault(raw, 2)).toThrow(
      expect.objectContaining({ name: "UsageError", message }),
    );
  });

  it("accepts hang on listed hosts", () => {
    expect(parseFault("hang:1,2", 2)).toEqual({ kind: "hang", hosts: [1, 2] });
  });

  it("makes the CLI exit 2 with the message, before creating anything", async () => {
    const dir = join(workDir, "refused");
    const result = await localMode(["--hosts", "2", "--fault", "hang:3", "--work-dir", dir]);

    expect(result.code).toBe(2);
    expect(result.stderr).toBe(
      `agent-rollout: --fault hang:3: "3" is not a host number between 1 and 2\nTry: npm start -- --help\n`,
    );
    expect(existsSync(dir)).toBe(false);
  }, 60_000);
});
