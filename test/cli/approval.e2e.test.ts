/**
 * The approval gate through the CLI against local mode's kept work dir: one CLI runs
 * `start` (the rollout waits after wave 0), another answers with `reject` or
 * `approve`, reaching the running rollout's ledger and its task token through the work
 * dir, as an operator's second terminal would.
 */
import { execFile, spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createFleet } from "../../local/fleet.js";
import { stopFleetProcesses } from "../../local/processes.js";

const run = promisify(execFile);
const repoRoot = fileURLToPath(new URL("../../", import.meta.url));
const HOSTS = ["mi-00000000000000001", "mi-00000000000000002"];

let root: string;
let workDir: string;
let inputFile: string;

type Result = { code: number; stdout: string; stderr: string };

/** `npx agent-rollout --local DIR ...`, to its end. */
async function cli(...args: string[]): Promise<Result> {
  try {
    const { stdout, stderr } = await run(
      "node",
      ["bin/agent-rollout-cli.mjs", "--local", workDir, ...args],
      { cwd: repoRoot, timeout: 60_000 },
    );
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, stdout: e.stdout ?? "", stderr: e.stderr ?? "" };
  }
}

/** Starts `start` in the background; `waiting` resolves once it says the rollout waits. */
function startInBackground(rolloutId: string) {
  const child = spawn(
    "node",
    [
      "bin/agent-rollout-cli.mjs",
      ...["--local", workDir, "start", "--input", inputFile],
      ...["--rollout-id", rolloutId, "--jobs-per-host", "1"],
    ],
    { cwd: repoRoot },
  );
  let stdout = "";
  let stderr = "";
  child.stderr.on("data", (chunk) => {
    stderr += chunk;
  });
  const waiting = new Promise<string>((resolve, reject) => {
    child.stdout.on("data", (chunk) => {
      stdout += chunk;
      const line = stdout.split("\n").find((l) => l.includes("waits for approval"));
      if (line !== undefined) resolve(line);
    });
    child.on("exit", () => reject(new Error(`start ended without waiting:\n${stdout}${stderr}`)));
  });
  const ended = new Promise<Result>((resolve) => {
    child.on("exit", (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
  return { waiting, ended };
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "agent-rollout-cli-approval-"));
  workDir = join(root, "wd");
  const fleet = await createFleet(workDir, {
    hosts: 2,
    fromVersion: "1.0.0",
    versions: ["1.0.0", "2.0.0"],
    faults: [],
  });
  await stopFleetProcesses(join(workDir, "fleet"));
  inputFile = join(root, "input.json");
  await writeFile(
    inputFile,
    JSON.stringify({
      targetVersion: "2.0.0",
      artifact: await fleet.artifact("2.0.0"),
      profile: "demo",
      hosts: { instanceIds: HOSTS },
      batchSize: 1,
      waves: [1, 1],
      approval: { afterWaves: [0], timeoutSeconds: 120 },
      fleet: "local",
    }),
  );
}, 90_000);

afterAll(async () => {
  await stopFleetProcesses(join(workDir, "fleet"));
  await rm(root, { recursive: true, force: true });
});

describe("approve and reject --local DIR", () => {
  it("reject halts the waiting rollout with the reason; a second answer is refused", async () => {
    // Prepare
    const start = startInBackground("r-reject");
    const line = await start.waiting;
    expect(line).toContain("waits for approval after wave 0");

    // Act
    const rejected = await cli("reject", "r-reject", "--reason", "latency up on the canary");
    const again = await cli("approve", "r-reject");
    const ended = await start.ended;

    // Assess
    expect([rejected.code, rejected.stderr]).toEqual([0, ""]);
    expect(rejected.stdout).toContain("rejected after wave 0 (latency up on the canary)");
    expect(again.code).toBe(1);
    expect(again.stdout).toMatch(/^refused: rollout r-reject /);
    expect(ended.code).toBe(1);
    expect(ended.stdout).toMatch(/^Rollout r-reject: HALTED/m);
    expect(ended.stdout).toContain("approval after wave 0 was rejected: latency up on the canary");
    const status = await cli("status", "r-reject");
    expect(status.stdout).toMatch(/^Rollout r-reject: HALTED/);
  }, 150_000);

  it("approve lets the next wave run to the end; once ended, approve is refused", async () => {
    // Prepare
    const start = startInBackground("r-approve");
    await start.waiting;

    // Act
    const approved = await cli("approve", "r-approve");
    const ended = await start.ended;
    const late = await cli("approve", "r-approve");

    // Assess
    expect([approved.code, approved.stderr]).toEqual([0, ""]);
    expect(approved.stdout).toContain("approved after wave 0; the next wave starts");
    expect([ended.code, ended.stderr]).toEqual([0, ""]);
    expect(ended.stdout).toMatch(/^Rollout r-approve: SUCCEEDED/m);
    expect(late.code).toBe(1);
    expect(late.stdout).toMatch(/^refused: rollout r-approve \(SUCCEEDED\) has no execution/);
  }, 150_000);
});
