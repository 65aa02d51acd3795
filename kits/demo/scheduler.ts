import { readFile } from "node:fs/promises";
import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";

/** One agent the simulated scheduler server dispatches jobs to. */
export interface SchedulerAgent {
  /** Host id, as the ledger names it. */
  readonly hostId: string;
  /** Port of the agent's listener on 127.0.0.1. */
  readonly port: number;
  /** The agent's `jobs/` directory, where each job writes `<id>.done` when it ends. */
  readonly jobsDir: string;
}

/** Options of {@link SchedulerSimulation}. */
export interface SchedulerOptions {
  readonly agents: readonly SchedulerAgent[];
  /** Jobs kept running (or queued) per agent at all times. @default 3 */
  readonly jobsPerHost?: number;
  /** Job duration range in seconds. @default [2, 6] */
  readonly jobSeconds?: readonly [number, number];
  /** How often the scheduler tops up, dispatches and looks for finished jobs. @default 50 */
  readonly tickMs?: number;
  /** Pause after a failed dispatch before the job is tried again. @default 200 */
  readonly retryDelayMs?: number;
}

/** What the scheduler saw; every figure is counted, none assumed. */
export interface SchedulerStats {
  /** Jobs created by the scheduler. */
  submitted: number;
  /** Jobs an agent accepted (HTTP 202). */
  dispatched: number;
  /** Accepted jobs that wrote their completion record. */
  completed: number;
  /** Completed jobs whose exit code was not the one requested. */
  failed: number;
  /** Accepted jobs with no completion record once the drain deadline passed. */
  lost: number;
  /** Dispatch attempts an agent refused or did not answer (each retried later). */
  failedDispatches: number;
  /** Jobs still waiting for dispatch (suspended agent) when stats were taken. */
  queued: number;
  /** Times an agent was suspended through the control API. */
  suspensions: number;
}

interface Job {
  readonly id: string;
  readonly seconds: number;
  readonly exitCode: number;
}

interface AgentState {
  readonly agent: SchedulerAgent;
  suspended: boolean;
  inFlight: number;
  readonly queue: Job[];
  readonly running: Map<string, Job>;
  readonly drainWaiters: Array<() => void>;
  nextSeq: number;
  /** No dispatch before this time (epoch ms), after a failed one. */
  retryAfter: number;
}

/**
 * A scheduler server stand-in: keeps submitting jobs to every agent for the whole
 * rollout, and honours the suspend/resume handshake the agents' profile hooks use.
 *
 * `POST /agents/<hostId>/suspend` answers only once no dispatch to that agent is in
 * flight: after that, the agent's listener may stop without a single submission
 * being refused. Jobs created while an agent is suspended wait in its queue and are
 * dispatched on resume — delayed, never refused or lost.
 */
export class SchedulerSimulation {
  private readonly agents = new Map<string, AgentState>();
  private readonly jobsPerHost: number;
  private readonly jobSeconds: readonly [number, number];
  private readonly tickMs: number;
  private readonly retryDelayMs: number;
  private server?: Server;
  private timer?: NodeJS.Timeout;
  private submitting = false;
  private ticking = false;
  private readonly totals = {
    submitted: 0,
    dispatched: 0,
    completed: 0,
    failed: 0,
    failedDispatches: 0,
    suspensions: 0,
  };

  constructor(options: SchedulerOptions) {
    this.jobsPerHost = options.jobsPerHost ?? 3;
    this.jobSeconds = options.jobSeconds ?? [2, 6];
    this.tickMs = options.tickMs ?? 50;
    this.retryDelayMs = options.retryDelayMs ?? 200;
    for (const agent of options.agents) {
      this.agents.set(agent.hostId, {
        agent,
        suspended: false,
        inFlight: 0,
        queue: [],
        running: new Map(),
        drainWaiters: [],
        nextSeq: 1,
        retryAfter: 0,
      });
    }
  }

  /** Starts the control API on 127.0.0.1 and returns its base URL. */
  async listen(): Promise<string> {
    const server = createServer((req, res) => {
      const match = /^\/agents\/([^/]+)\/(suspend|resume)$/.exec(req.url ?? "");
      const state = match ? this.agents.get(decodeURIComponent(match[1] ?? "")) : undefined;
      if (req.method !== "POST" || !match || !state) {
        res.writeHead(404).end();
        return;
      }
      req.resume();
      if (match[2] === "suspend") {
        this.totals.suspensions++;
        state.suspended = true;
        void this.whenDrained(state).then(() => res.writeHead(200).end("suspended\n"));
      } else {
        state.suspended = false;
        res.writeHead(200).end("resumed\n");
        void this.dispatch(state);
      }
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    this.server = server;
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  /** URL an agent's suspend/resume hooks call (`<url>/suspend`, `<url>/resume`). */
  agentUrl(baseUrl: string, hostId: string): string {
    return `${baseUrl}/agents/${encodeURIComponent(hostId)}`;
  }

  /** Starts submitting jobs: each agent is kept at `jobsPerHost` running or queued jobs. */
  startSubmitting(): void {
    this.submitting = true;
    this.timer ??= setInterval(() => void this.tick(), this.tickMs);
    void this.tick();
  }

  /** Stops creating new jobs; jobs already created are still dispatched and watched. */
  stopSubmitting(): void {
    this.submitting = false;
  }

  /** Waits until every created job has been dispatched and has finished, or the deadline passes. */
  async drain(timeoutMs: number): Promise<SchedulerStats> {
    this.stopSubmitting();
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      await this.tick();
      const pending = [...this.agents.values()].some(
        (s) => s.queue.length > 0 || s.running.size > 0,
      );
      if (!pending) break;
      await sleep(this.tickMs);
    }
    return this.stats(true);
  }

  /** Counts so far. With `final`, jobs still unaccounted for are counted as lost. */
  stats(final = false): SchedulerStats {
    let running = 0;
    let queued = 0;
    for (const state of this.agents.values()) {
      running += state.running.size;
      queued += state.queue.length;
    }
    return { ...this.totals, lost: final ? running : 0, queued };
  }

  /** Stops the timer and the control API. */
  async close(): Promise<void> {
    this.submitting = false;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    const server = this.server;
    this.server = undefined;
    if (server) {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  }

  private async tick(): Promise<void> {
    if (this.ticking) return;
    this.ticking = true;
    try {
      await Promise.all(
        [...this.agents.values()].map(async (state) => {
          await this.collectFinished(state);
          if (this.submitting) this.topUp(state);
          await this.dispatch(state);
        }),
      );
    } finally {
      this.ticking = false;
    }
  }

  private topUp(state: AgentState): void {
    const [min, max] = this.jobSeconds;
    while (state.running.size + state.queue.length + state.inFlight < this.jobsPerHost) {
      const seconds = Math.round((min + Math.random() * (max - min)) * 10) / 10;
      state.queue.push({
        id: `${state.agent.hostId}-job-${state.nextSeq++}`,
        seconds,
        exitCode: 0,
      });
      this.totals.submitted++;
    }
  }

  private async dispatch(state: AgentState): Promise<void> {
    while (!state.suspended && state.queue.length > 0 && Date.now() >= state.retryAfter) {
      const job = state.queue.shift() as Job;
      state.inFlight++;
      let accepted = false;
      try {
        const status = await postJson(state.agent.port, "/jobs", job);
        // 409: an earlier attempt did reach the agent before its answer was lost.
        accepted = status === 202 || status === 409;
      } catch {
        accepted = false;
      } finally {
        state.inFlight--;
      }
      if (!accepted) {
        // Back in the queue, tried again on a later tick: an agent that stays down
        // must not hold this loop (and drain, and close) forever.
        this.totals.failedDispatches++;
        state.queue.unshift(job);
        state.retryAfter = Date.now() + this.retryDelayMs;
        break;
      }
      state.running.set(job.id, job);
      this.totals.dispatched++;
    }
    if (state.inFlight === 0) this.releaseDrainWaiters(state);
  }

  private whenDrained(state: AgentState): Promise<void> {
    if (state.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => state.drainWaiters.push(resolve));
  }

  private releaseDrainWaiters(state: AgentState): void {
    for (const waiter of state.drainWaiters.splice(0)) waiter();
  }

  private async collectFinished(state: AgentState): Promise<void> {
    for (const job of [...state.running.values()]) {
      let record: string;
      try {
        record = await readFile(join(state.agent.jobsDir, `${job.id}.done`), "utf8");
      } catch {
        continue;
      }
      state.running.delete(job.id);
      this.totals.completed++;
      let exitCode: unknown;
      try {
        exitCode = (JSON.parse(record) as { exitCode?: unknown }).exitCode;
      } catch {
        exitCode = undefined; // a torn or foreign record: the job did not end as asked
      }
      if (exitCode !== job.exitCode) this.totals.failed++;
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function postJson(port: number, path: string, body: unknown): Promise<number> {
  const payload = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port,
        path,
        method: "POST",
        headers: {
          "content-type": "application/json",
          "content-length": Buffer.byteLength(payload),
        },
        timeout: 2_000,
      },
      (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode ?? 0));
      },
    );
    req.on("timeout", () => req.destroy(new Error("dispatch timed out")));
    req.on("error", reject);
    req.end(payload);
  });
}
