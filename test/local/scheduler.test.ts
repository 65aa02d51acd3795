import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { SchedulerSimulation } from "../../kits/demo/scheduler.js";

/** A stand-in agent: records job submissions, can refuse them, completes them on demand. */
class FakeAgent {
  readonly received: string[] = [];
  refusing = false;
  private server?: Server;

  constructor(readonly jobsDir: string) {}

  async listen(): Promise<number> {
    const server = createServer((req, res) => {
      let body = "";
      req.on("data", (chunk) => {
        body += chunk;
      });
      req.on("end", () => {
        if (this.refusing) {
          res.writeHead(503).end();
          return;
        }
        this.received.push((JSON.parse(body) as { id: string }).id);
        res.writeHead(202).end();
      });
    });
    this.server = server;
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return (server.address() as AddressInfo).port;
  }

  /** Writes the completion record a job writes when it ends. */
  async complete(id: string, exitCode = 0): Promise<void> {
    await writeFile(join(this.jobsDir, `${id}.done`), `${JSON.stringify({ id, exitCode })}\n`);
  }

  async close(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()));
  }
}

function post(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: "POST" }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
    });
    req.on("error", reject);
    req.end();
  });
}

const until = async (check: () => boolean, timeoutMs = 5_000) => {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("condition not reached in time");
    await new Promise((r) => setTimeout(r, 20));
  }
};

describe("scheduler simulation", () => {
  let dir: string;
  let agent: FakeAgent;
  let scheduler: SchedulerSimulation;
  let baseUrl: string;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "scheduler-"));
    agent = new FakeAgent(dir);
    const port = await agent.listen();
    scheduler = new SchedulerSimulation({
      agents: [{ hostId: "host-1", port, jobsDir: dir }],
      jobsPerHost: 2,
      jobSeconds: [1, 1],
      tickMs: 10,
      retryDelayMs: 30,
    });
    baseUrl = await scheduler.listen();
  });

  afterEach(async () => {
    await scheduler.close();
    await agent.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("keeps each agent at its job level and counts completions and wrong exit codes", async () => {
    // Act
    scheduler.startSubmitting();
    await until(() => agent.received.length === 2);
    await agent.complete("host-1-job-1");
    await until(() => agent.received.length === 3);
    scheduler.stopSubmitting();
    await agent.complete("host-1-job-2", 7);
    await agent.complete("host-1-job-3");
    const stats = await scheduler.drain(2_000);

    // Assess
    expect(agent.received).toEqual(["host-1-job-1", "host-1-job-2", "host-1-job-3"]);
    expect(stats).toMatchObject({ submitted: 3, dispatched: 3, completed: 3, failed: 1, lost: 0 });
    expect(stats.failedDispatches).toBe(0);
  });

  it("holds jobs while an agent is suspended and dispatches them on resume", async () => {
    // Act
    expect(await post(`${scheduler.agentUrl(baseUrl, "host-1")}/suspend`)).toBe(200);
    scheduler.startSubmitting();
    await new Promise((r) => setTimeout(r, 150));
    const held = scheduler.stats();
    expect(await post(`${scheduler.agentUrl(baseUrl, "host-1")}/resume`)).toBe(200);
    await until(() => agent.received.length === 2);

    // Assess
    expect(held).toMatchObject({ submitted: 2, dispatched: 0, queued: 2, suspensions: 1 });
    expect(scheduler.stats()).toMatchObject({ dispatched: 2, queued: 0, failedDispatches: 0 });
  });

  it("counts a refused dispatch, retries it later, and reports unfinished jobs as lost at the deadline", async () => {
    // Prepare
    agent.refusing = true;

    // Act
    scheduler.startSubmitting();
    await until(() => scheduler.stats().failedDispatches >= 2);
    agent.refusing = false;
    await until(() => agent.received.length === 2);
    const stats = await scheduler.drain(100);

    // Assess: nothing was lost to the refusals, but jobs that never ended are lost.
    expect(agent.received).toEqual(["host-1-job-1", "host-1-job-2"]);
    expect(stats.failedDispatches).toBeGreaterThanOrEqual(2);
    expect(stats).toMatchObject({ dispatched: 2, completed: 0, lost: 2 });
  });

  it("answers 404 for an unknown agent", async () => {
    expect(await post(`${baseUrl}/agents/nobody/suspend`)).toBe(404);
  });
});
