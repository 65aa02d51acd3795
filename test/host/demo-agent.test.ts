import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildArtifacts, run, TestHost } from "./harness.js";

let work: string;
let host: TestHost;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "ar-demo-agent-test-"));
  const artifacts = await buildArtifacts(join(work, "artifacts"), [{ version: "1.0.0" }]);
  host = await TestHost.create({ artifacts, parentDir: work });
});

afterAll(async () => {
  await host.destroy();
  rmSync(work, { recursive: true, force: true });
});

function agentctl(...args: string[]): Promise<string> {
  return run("bash", [host.path("current", "bin", "agentctl"), ...args], host.env());
}

/** The listener's first /health answer after a start, whatever its status. */
async function answered(): Promise<{ status: number; version?: string }> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      return await host.health();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

describe("demo agent", () => {
  it("accepts a job once, refuses duplicates and bad bodies", async () => {
    expect((await host.submitJob("once", 0.2, 9)).status).toBe(202);
    expect((await host.submitJob("once", 0.2, 0)).status).toBe(409);
    expect((await host.postJobs("not json")).status).toBe(400);
    expect((await host.postJobs(JSON.stringify({ id: "../x", seconds: 1 }))).status).toBe(400);
    expect((await host.postJobs(JSON.stringify({ id: "neg", seconds: -1 }))).status).toBe(400);
    expect(
      (await host.postJobs(JSON.stringify({ id: "code", seconds: 1, exitCode: 256 }))).status,
    ).toBe(400);
    const [done] = await host.waitForJobs(["once"]);
    expect(done).toMatchObject({ id: "once", exitCode: 9, version: "1.0.0" });
  });

  it("lists running jobs for the switch snapshot", async () => {
    expect((await host.submitJob("listed", 5)).status).toBe(202);
    expect(await agentctl("jobs")).toBe(`listed ${host.jobPid("listed")}\n`);
  });

  it("refuses new jobs while suspended", async () => {
    await agentctl("suspend");
    const refused = await host.submitJob("while-suspended", 1);
    await agentctl("resume");
    const accepted = await host.submitJob("after-resume", 0);

    expect(refused.status).toBe(503);
    expect(accepted.status).toBe(202);
    expect(host.scheduler.calls.slice(-2)).toEqual(["suspend", "resume"]);
  });

  it("fails health for a version this host lists in FAIL_HEALTH_VERSIONS", async () => {
    const conf = host.path("conf", "agent.env");
    writeFileSync(conf, `AGENT_PORT=${host.port}\nFAIL_HEALTH_VERSIONS=0.9.0,1.0.0\n`);
    await agentctl("stop");
    await agentctl("start");
    const served = await answered();
    const health = await agentctl("health").catch((e: Error) => e.message);

    expect(health).toContain("agentctl: /health answered 500");
    expect(served).toEqual({ status: 500, version: "1.0.0" });
  });
});
