import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Artifact, buildArtifacts, REPO_ROOT, run, TestHost } from "./harness.js";

let work: string;
let host: TestHost;
let artifact: Artifact;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "ar-demo-agent-test-"));
  const artifacts = await buildArtifacts(join(work, "artifacts"), [{ version: "1.0.0" }]);
  artifact = artifacts["1.0.0"] as Artifact;
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

  it("hangs on start of a version this host lists in HANG_START_VERSIONS, starting nothing", async () => {
    const conf = host.path("conf", "agent.env");
    writeFileSync(conf, `AGENT_PORT=${host.port}\nHANG_START_VERSIONS=1.0.0\n`);
    await agentctl("stop");

    const started = await run("timeout", [
      "1",
      "bash",
      host.path("current", "bin", "agentctl"),
      "start",
    ]).catch((e: Error) => e.message);

    expect(started).toContain("exited 124");
    expect(started).toContain("agentctl: start of 1.0.0 hangs (HANG_START_VERSIONS)");
    expect(existsSync(host.path("run", "listener.pid"))).toBe(false);
  });
});

describe("install-first.sh", () => {
  const installFirst = (root: string) =>
    run("bash", [join(REPO_ROOT, "demo-agent", "install-first.sh"), root, "1.0.0", artifact.path], {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
    });

  it("records the release it extracts as staged from the artifact's sha256", async () => {
    const root = join(work, "first-install");

    await installFirst(root);

    expect(readFileSync(join(root, ".agent-rollout", "staged", "1.0.0"), "utf8")).toBe(
      `staged ${artifact.sha256}\n`,
    );
    expect(readFileSync(join(root, "releases", "1.0.0", "VERSION"), "utf8")).toBe("1.0.0\n");
  });

  it("records nothing for a release directory it found in place", async () => {
    const root = join(work, "found-in-place");
    mkdirSync(join(root, "releases", "1.0.0"), { recursive: true });

    await installFirst(root);

    expect(existsSync(join(root, ".agent-rollout", "staged", "1.0.0"))).toBe(false);
    expect(existsSync(join(root, "current"))).toBe(true);
  });
});
