/**
 * Switch-window benchmark: repeated switches of one demo-agent host with jobs
 * running, measuring what the switch step reports (suspend window, listener gap) and
 * checking that every job submitted before a switch finishes.
 *
 * The host is a real one in a temporary directory (test/host/harness.ts): real
 * listener processes, real detached jobs, the real host scripts. Versions alternate
 * 1.0.0 -> 2.0.0 -> 1.0.0 ...; both are staged once first.
 *
 * Run: `npx tsx bench/switch-window.ts [switches] [jobsPerHost]`
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { table } from "../local/format.js";
import { buildArtifacts, TestHost } from "../test/host/harness.js";

/** Distribution of one measure, in ms. */
export interface Stats {
  median: number;
  p95: number;
  max: number;
}

/** What {@link runSwitchWindowBench} measured. */
export interface SwitchWindowResult {
  /** From the start of the suspend hook to the end of the resume hook. */
  suspendMs: Stats;
  /** From the start of stopListener to the first passing health check. */
  listenerGapMs: Stats;
  /** Jobs submitted minus jobs that wrote their done file. */
  jobsLost: number;
  switches: number;
}

function stats(values: readonly number[]): Stats {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number): number =>
    sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? Number.NaN;
  const mid = Math.floor(sorted.length / 2);
  const median =
    sorted.length % 2 === 1
      ? (sorted[mid] ?? Number.NaN)
      : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
  return { median, p95: at(0.95), max: sorted.at(-1) ?? Number.NaN };
}

/**
 * Runs `switches` switches (default 20) on one host, submitting `jobsPerHost` jobs
 * (default 5, 1 to 3 s each) before each switch, and waits for all jobs at the end.
 *
 * @throws when a switch does not report SWITCHED.
 */
export async function runSwitchWindowBench(
  opts: { switches?: number; jobsPerHost?: number } = {},
): Promise<SwitchWindowResult> {
  const switches = opts.switches ?? 20;
  const jobsPerHost = opts.jobsPerHost ?? 5;
  const work = mkdtempSync(join(tmpdir(), "ar-bench-"));
  let host: TestHost | undefined;
  try {
    const artifacts = await buildArtifacts(join(work, "artifacts"), [
      { version: "1.0.0" },
      { version: "2.0.0" },
    ]);
    host = await TestHost.create({ artifacts, parentDir: work });
    const two = artifacts["2.0.0"];
    if (!two) throw new Error("no 2.0.0 artifact");
    await host.runStep("stage", {
      profile: "demo",
      targetVersion: "2.0.0",
      artifactUrl: two.url,
      artifactSha256: two.sha256,
      rolloutId: "bench-stage",
    });

    const suspend: number[] = [];
    const gap: number[] = [];
    const submitted: string[] = [];
    for (let i = 0; i < switches; i++) {
      for (let j = 0; j < jobsPerHost; j++) {
        const id = `s${i}-j${j}`;
        const res = await host.submitJob(id, 1 + (j % 3), j % 4);
        if (res.status !== 202) throw new Error(`job ${id}: HTTP ${res.status} ${res.body}`);
        submitted.push(id);
      }
      const targetVersion = i % 2 === 0 ? "2.0.0" : "1.0.0";
      const { result, stderr } = await host.runStep("switch", {
        profile: "demo",
        targetVersion,
        rolloutId: `bench-${i}`,
      });
      if (result.status !== "SWITCHED")
        throw new Error(`switch ${i}: ${JSON.stringify(result)}\n${stderr}`);
      suspend.push(result.suspendMs as number);
      gap.push(result.listenerGapMs as number);
    }
    const deadline = Date.now() + 15_000;
    let done = 0;
    while (Date.now() < deadline) {
      done = submitted.filter((id) => host?.jobDone(id) !== undefined).length;
      if (done === submitted.length) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    return {
      suspendMs: stats(suspend),
      listenerGapMs: stats(gap),
      jobsLost: submitted.length - done,
      switches,
    };
  } finally {
    await host?.destroy();
    rmSync(work, { recursive: true, force: true });
  }
}

/** The table of docs/benchmarks.md: the header row, then one row per measure. */
export function switchWindowTable(result: SwitchWindowResult): (string | number)[][] {
  const row = (name: string, s: Stats) => [name, s.median, s.p95, s.max];
  return [
    ["", "median", "p95", "max"],
    row("suspend window ms", result.suspendMs),
    row("listener gap ms", result.listenerGapMs),
  ];
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [switches, jobsPerHost] = process.argv.slice(2).map(Number);
  const r = await runSwitchWindowBench({ switches, jobsPerHost });
  const rows = switchWindowTable(r);
  console.log(`switch window, demo agent, ${r.switches} switches`);
  console.log(table(rows[0]?.map(String) ?? [], rows.slice(1)));
  console.log(`jobs lost: ${r.jobsLost}`);
}
