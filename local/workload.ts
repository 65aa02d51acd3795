/**
 * Runs a kit's workload driver for the length of a rollout (docs/kits.md).
 *
 * The driver is a process: it reads the fleet from `KIT_HOSTS_FILE`, keeps submitting
 * work to every agent through the agent's own protocol, and prints JSON lines on
 * stdout: `{"event":"ready"}` once it submits, and after `stop` on its stdin (it then
 * stops submitting and waits for the work in flight, up to `KIT_DRAIN_TIMEOUT_MS`)
 * one `{"event":"stats", ...}` line with what it counted ({@link WorkloadStats}).
 *
 * @module
 */
import type { ChildProcess } from "node:child_process";
import { mkdirSync, openSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { z } from "zod";
import type { Fleet } from "./fleet.js";
import { type Kit, spawnKitProgram } from "./kit.js";

/** What a driver counted; every figure is its own measurement. */
export const WorkloadStatsSchema = z.object({
  /** Work items created by the driver. */
  submitted: z.number().int().nonnegative(),
  /** Accepted items whose end the driver saw. */
  completed: z.number().int().nonnegative(),
  /** Accepted items whose end it never saw by the drain deadline. */
  lost: z.number().int().nonnegative(),
  /** Items that ended otherwise than asked (wrong exit code, corrupt copy). */
  failed: z.number().int().nonnegative(),
  /** Submission attempts the agent refused or did not answer (each retried). */
  failedSubmissions: z.number().int().nonnegative(),
  /** Status updates (a job's end reported by the agent) that never reached the driver. */
  statusUpdatesLost: z.number().int().nonnegative(),
  /** Agent-specific figures (e.g. missed time per agent), shown as they are. */
  details: z.record(z.string(), z.unknown()).optional(),
});

/** What a driver counted. */
export type WorkloadStats = z.infer<typeof WorkloadStatsSchema>;

/** No work: a fleet without a kit (the light benchmark fleet) or no jobs asked for. */
export const NO_WORKLOAD: WorkloadStats = {
  submitted: 0,
  completed: 0,
  lost: 0,
  failed: 0,
  failedSubmissions: 0,
  statusUpdatesLost: 0,
};

/** Options of {@link startWorkload}. */
export interface WorkloadOptions {
  readonly jobsPerHost: number;
  /** Job duration range, seconds. */
  readonly jobSeconds: readonly [number, number];
  readonly drainTimeoutMs: number;
}

/** A running workload driver. */
export interface Workload {
  /** Stops submitting, waits for the work in flight, returns the driver's counts. */
  stop(): Promise<WorkloadStats>;
}

/** Starts the kit's driver against the fleet and resolves once it submits. */
export async function startWorkload(
  kit: Kit,
  fleet: Fleet,
  options: WorkloadOptions,
): Promise<Workload> {
  const dir = join(fleet.workDir, "workload");
  mkdirSync(dir, { recursive: true });
  const hostsFile = join(dir, "hosts.json");
  writeFileSync(
    hostsFile,
    `${JSON.stringify(
      fleet.hosts.map((h) => ({
        hostId: h.instanceId,
        computerName: h.computerName,
        hostRoot: h.hostRoot,
        agentRoot: h.agentRoot,
        port: h.agentPort,
      })),
      null,
      2,
    )}\n`,
  );
  mkdirSync(join(fleet.workDir, "logs"), { recursive: true });
  const log = openSync(join(fleet.workDir, "logs", "workload.log"), "a");
  const child = spawnKitProgram(kit, kit.workload, [], {
    stdio: ["pipe", "pipe", log],
    env: {
      ...process.env,
      // Marks the driver and what it starts as this fleet's (local/processes.ts).
      AR_HOST_ROOT: join(fleet.workDir, "fleet"),
      KIT_HOSTS_FILE: hostsFile,
      KIT_WORK_DIR: dir,
      KIT_JOBS_PER_HOST: String(options.jobsPerHost),
      KIT_JOB_SECONDS: options.jobSeconds.join(","),
      KIT_DRAIN_TIMEOUT_MS: String(options.drainTimeoutMs),
    },
  });
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  const events: Array<Record<string, unknown>> = [];
  const waiters: Array<() => void> = [];
  let exited = false;
  lines.on("line", (line) => {
    try {
      events.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      return; // not a protocol line
    }
    for (const w of waiters.splice(0)) w();
  });
  child.on("exit", () => {
    exited = true;
    for (const w of waiters.splice(0)) w();
  });
  const next = async (event: string, timeoutMs: number) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = events.find((e) => e.event === event);
      if (found) return found;
      if (exited)
        throw new Error(
          `kit ${kit.name}: workload driver exited before "${event}" (logs/workload.log)`,
        );
      if (Date.now() > deadline)
        throw new Error(
          `kit ${kit.name}: no "${event}" from the workload driver in ${timeoutMs} ms`,
        );
      await new Promise<void>((r) => {
        waiters.push(r);
        setTimeout(r, 200);
      });
    }
  };
  try {
    await next("ready", 30_000);
  } catch (error) {
    stopChild(child);
    throw error;
  }
  return {
    async stop() {
      try {
        child.stdin?.write("stop\n");
        const stats = await next("stats", options.drainTimeoutMs + 15_000);
        return WorkloadStatsSchema.parse(stats);
      } finally {
        stopChild(child);
      }
    },
  };
}

function stopChild(child: ChildProcess): void {
  child.stdin?.end();
  if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
}
