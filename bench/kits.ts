/**
 * Kits side by side: one local-mode rollout per agent kit (demo, controlm-like,
 * fta-like), 3 hosts each with work in flight, and what each switch and each kit's
 * workload driver measured:
 *
 * - switch window: the switch step's `suspendMs` (start of the suspend hook to the end
 *   of the resume hook), per host;
 * - listener gap: the switch step's `listenerGapMs` (start of stopListener to the first
 *   passing health check), per host;
 * - client-seen unserved time: the switch step's `unservedMs`, reported only when the
 *   profile declares an endpoint to probe (none of the shipped ones does here: "n/a");
 * - missed time per agent, as the kit's own client saw it: the FTA-like client's
 *   longest gap in an agent daemon's polls across its restart (`missedMsPerAgent`,
 *   one figure per daemon of each host), the
 *   Control-M-like server's time with the agent Suspended plus Discovering; the demo
 *   driver reports none.
 *
 * Each kit runs in its own process (the handlers read their configuration once per
 * process, as a Lambda container does).
 *
 * Run: `npx tsx bench/index.ts --kits` (or `npx tsx bench/kits.ts` for this section alone).
 *
 * @module
 */
import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { startEnvironment } from "../local/environment.js";
import { createFleet } from "../local/fleet.js";
import { table } from "../local/format.js";
import { stopFleetProcesses } from "../local/processes.js";
import { runRollout } from "../local/runner.js";
import { distribution } from "./metrics.js";

/** The kits compared. */
export const BENCH_KITS = ["demo", "controlm-like", "fta-like"] as const;

/** Hosts per kit. */
const HOSTS = 3;
/** Jobs (or transfers) the kit's driver keeps in flight per host. */
const JOBS_PER_HOST = 3;

/** What one kit's rollout measured. */
export interface KitMeasurement {
  readonly kit: string;
  readonly status: string;
  readonly durationMs: number;
  readonly hostsUpgraded: number;
  readonly hosts: number;
  /** Per host, ms; null when the switch did not report it. */
  readonly suspendMs: (number | null)[];
  readonly listenerGapMs: (number | null)[];
  readonly unservedMs: (number | null)[];
  /** Per agent (computer name), ms, as the kit's client saw it; empty when it reports none. */
  readonly missedMsPerAgent: Record<string, number>;
  readonly jobs: { submitted: number; completed: number; lost: number; failed: number };
}

const repoRoot = resolve(fileURLToPath(new URL("..", import.meta.url)));
const thisScript = fileURLToPath(import.meta.url);

/** Runs one rollout of `kit` on a new fleet of {@link HOSTS} hosts in `workDir`. */
async function measureKit(kit: string, workDir: string): Promise<KitMeasurement> {
  await createFleet(workDir, {
    kit,
    hosts: HOSTS,
    fromVersion: "1.0.0",
    versions: ["1.0.0", "2.0.0"],
    faults: [],
  });
  try {
    const env = await startEnvironment({ workDir });
    try {
      const report = await runRollout(env, {
        targetVersion: "2.0.0",
        batchSize: 1,
        canary: 1,
        failureThreshold: 0,
        jobsPerHost: JOBS_PER_HOST,
      });
      const details = report.jobs.details ?? {};
      return {
        kit,
        status: report.status,
        durationMs: report.durationMs,
        hostsUpgraded: report.hosts.filter((h) => h.runningVersion === "2.0.0").length,
        hosts: report.hosts.length,
        suspendMs: report.hosts.map((h) => h.suspendMs),
        listenerGapMs: report.hosts.map((h) => h.listenerGapMs),
        unservedMs: report.hosts.map((h) => {
          const value = (h as { unservedMs?: unknown }).unservedMs;
          return typeof value === "number" ? value : null;
        }),
        missedMsPerAgent: missedTime(details),
        jobs: {
          submitted: report.jobs.submitted,
          completed: report.jobs.completed,
          lost: report.jobs.lost,
          failed: report.jobs.failed,
        },
      };
    } finally {
      await env.close();
    }
  } finally {
    await stopFleetProcesses(join(workDir, "fleet"));
  }
}

/** The missed time per agent a kit's driver reported (see the module comment). */
function missedTime(details: Record<string, unknown>): Record<string, number> {
  const fta = details.missedMsPerAgent;
  if (typeof fta === "object" && fta !== null) {
    // Per host, per agent daemon: `{host: {agent: ms | null}}` (null: never restarted).
    const missed: Record<string, number> = {};
    for (const [host, agents] of Object.entries(fta as Record<string, unknown>)) {
      for (const [agent, ms] of Object.entries((agents ?? {}) as Record<string, unknown>)) {
        if (typeof ms === "number") missed[`${host}/${agent}`] = ms;
      }
    }
    return missed;
  }
  const missed: Record<string, number> = {};
  for (const [agent, value] of Object.entries(details)) {
    const v = value as { suspendedMs?: unknown; discoveringMs?: unknown } | null;
    if (typeof v?.suspendedMs === "number" && typeof v.discoveringMs === "number") {
      missed[agent] = v.suspendedMs + v.discoveringMs;
    }
  }
  return missed;
}

/** Runs every kit, each in its own process, and returns what they measured. */
export async function runKitsBench(): Promise<KitMeasurement[]> {
  const work = await mkdtemp(join(tmpdir(), "agent-rollout-bench-kits-"));
  try {
    const results: KitMeasurement[] = [];
    for (const kit of BENCH_KITS) {
      const resultFile = join(work, `${kit}.json`);
      const code = await new Promise<number>((resolveCode, reject) => {
        const child = spawn(
          process.execPath,
          ["--import", "tsx", thisScript, kit, join(work, kit), resultFile],
          { cwd: repoRoot, stdio: ["ignore", "inherit", "inherit"] },
        );
        child.once("error", reject);
        child.once("exit", (exitCode, signal) => resolveCode(exitCode ?? (signal ? 128 : 1)));
      });
      if (code !== 0) throw new Error(`kit ${kit}: benchmark process exited with ${code}`);
      results.push(JSON.parse(await readFile(resultFile, "utf8")) as KitMeasurement);
    }
    return results;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** The side-by-side table of {@link runKitsBench}'s measurements. */
export function formatKits(results: readonly KitMeasurement[]): string {
  const med = (values: readonly (number | null)[]): string => {
    const known = values.filter((v): v is number => v !== null);
    if (known.length === 0) return "n/a";
    const d = distribution(known);
    return `${Math.round(d.median)} / ${Math.round(d.max)}`;
  };
  return table(
    [
      "kit",
      "upgraded",
      "switch window ms (med / max)",
      "listener gap ms (med / max)",
      "unserved ms (med / max)",
      "missed ms per agent (med / max)",
      "jobs lost",
      "rollout s",
    ],
    results.map((r) => [
      r.kit,
      `${r.hostsUpgraded}/${r.hosts} ${r.status}`,
      med(r.suspendMs),
      med(r.listenerGapMs),
      med(r.unservedMs),
      med(Object.values(r.missedMsPerAgent)),
      r.jobs.lost,
      (r.durationMs / 1000).toFixed(1),
    ]),
  );
}

async function child(kit: string, workDir: string, resultFile: string): Promise<void> {
  const result = await measureKit(kit, workDir);
  await writeFile(resultFile, JSON.stringify(result));
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const [kit, workDir, resultFile] = process.argv.slice(2);
  const run =
    kit !== undefined && workDir !== undefined && resultFile !== undefined
      ? child(kit, workDir, resultFile)
      : runKitsBench().then((results) => process.stdout.write(`${formatKits(results)}\n`));
  run.then(
    () => process.exit(0),
    (error: unknown) => {
      process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : error}\n`);
      process.exit(1);
    },
  );
}
