/**
 * Switch-modes benchmark: what a client of the agent sees while it changes listeners,
 * in `overlap` mode (socket holder, new listener before the old one stops and drains),
 * in `stop-start` mode (no holder), and across a plain `agentctl stop; agentctl start`
 * (a `service restart`) as the baseline.
 *
 * One real demo-agent host per mode (test/host/harness.ts), versions alternating
 * 1.0.0 <-> 2.0.0 through the real switch step (the restart keeps its release). During
 * each switch a client on 127.0.0.1 opens a new connection every 3 ms (GET /health),
 * and two long requests (GET /download, 600 and 900 ms) are in flight on the old
 * listener when the switch starts.
 *
 * Run: `npx tsx bench/switch-modes.ts [switches]` or `npm run bench -- --switch-modes`.
 */
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { table } from "../local/format.js";
import {
  buildArtifacts,
  deriveProfile,
  type LoadOutcome,
  loadClient,
  longRequest,
  run,
  TestHost,
} from "../test/host/harness.js";
import { type Distribution, distribution } from "./metrics.js";

/** How the host changes listeners. */
export type SwitchMode = "overlap" | "stop-start" | "restart";

/** What one mode measured over its switches. */
export interface SwitchModeResult {
  readonly mode: SwitchMode;
  readonly switches: number;
  /** Refused connections per switch, as the load client saw them. */
  readonly refused: Distribution;
  /** Client-seen time the port went unserved per switch, ms (load client). */
  readonly unservedMs: Distribution;
  /** The switch step's own probe (`unservedMs` of the result); empty for restart. */
  readonly probeUnservedMs: Distribution;
  /** Slowest answered request of each switch, ms. */
  readonly maxLatencyMs: Distribution;
  /** Connections reset or left unanswered, all switches. */
  readonly failed: number;
  readonly longStarted: number;
  readonly longCompleted: number;
  /** suspendMs of the switch results; empty for restart (nothing suspends). */
  readonly suspendMs: Distribution;
  /** listenerGapMs of the switch results (hook time); empty for restart. */
  readonly listenerGapMs: Distribution;
}

const LONG_MS = [600, 900] as const;

/** Runs `switches` switches (default 50) in each mode. */
export async function runSwitchModesBench(
  opts: { switches?: number; modes?: readonly SwitchMode[] } = {},
): Promise<SwitchModeResult[]> {
  const switches = opts.switches ?? 50;
  const work = mkdtempSync(join(tmpdir(), "ar-bench-modes-"));
  try {
    const artifacts = await buildArtifacts(join(work, "artifacts"), [
      { version: "1.0.0" },
      { version: "2.0.0" },
    ]);
    const stopStart = join(work, "profiles-stop-start");
    mkdirSync(stopStart);
    deriveProfile(stopStart, "demo", { switch_mode: "stop-start" });
    const out: SwitchModeResult[] = [];
    for (const mode of opts.modes ?? (["overlap", "stop-start", "restart"] as const)) {
      const profileDir = mode === "overlap" ? undefined : stopStart;
      out.push(await runMode(mode, switches, artifacts, work, profileDir));
    }
    return out;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

async function runMode(
  mode: SwitchMode,
  switches: number,
  artifacts: Awaited<ReturnType<typeof buildArtifacts>>,
  work: string,
  profileDir: string | undefined,
): Promise<SwitchModeResult> {
  const host = await TestHost.create({ artifacts, parentDir: work, profileDir });
  try {
    const two = artifacts["2.0.0"];
    if (!two) throw new Error("no 2.0.0 artifact");
    await host.runStep(
      "stage",
      {
        profile: "demo",
        targetVersion: "2.0.0",
        artifactUrl: two.url,
        artifactSha256: two.sha256,
        rolloutId: "bench-stage",
      },
      { profileDir },
    );
    const outcomes: LoadOutcome[] = [];
    const suspend: number[] = [];
    const gap: number[] = [];
    const probe: number[] = [];
    let longCompleted = 0;
    for (let i = 0; i < switches; i++) {
      const downloads = LONG_MS.map((ms) => longRequest(host.port, ms));
      await new Promise((r) => setTimeout(r, 30));
      const change = changeListener(host, mode, i, profileDir);
      outcomes.push(await loadClient(host.port, change, { everyMs: 3 }));
      const result = await change;
      if (result) {
        suspend.push(result.suspendMs as number);
        gap.push(result.listenerGapMs as number);
        probe.push(result.unservedMs as number);
      }
      longCompleted += (await Promise.all(downloads)).filter(Boolean).length;
    }
    return {
      mode,
      switches,
      refused: distribution(outcomes.map((o) => o.refused)),
      unservedMs: distribution(outcomes.map((o) => o.unservedMs)),
      probeUnservedMs: distribution(probe),
      maxLatencyMs: distribution(outcomes.map((o) => o.maxLatencyMs)),
      failed: outcomes.reduce((n, o) => n + o.failed, 0),
      longStarted: switches * LONG_MS.length,
      longCompleted,
      suspendMs: distribution(suspend),
      listenerGapMs: distribution(gap),
    };
  } finally {
    await host.destroy();
  }
}

/** One listener change; the switch result, or null for a restart. */
async function changeListener(
  host: TestHost,
  mode: SwitchMode,
  i: number,
  profileDir: string | undefined,
): Promise<Record<string, unknown> | null> {
  if (mode === "restart") {
    const agentctl = join(host.agentRoot, "current", "bin", "agentctl");
    await run("bash", [agentctl, "stop"], host.env());
    await run("bash", [agentctl, "start"], host.env());
    await host.waitHealthy("1.0.0");
    return null;
  }
  const targetVersion = i % 2 === 0 ? "2.0.0" : "1.0.0";
  const { result, stderr } = await host.runStep(
    "switch",
    { profile: "demo", targetVersion, rolloutId: `bench-${mode}-${i}` },
    { profileDir },
  );
  if (result.status !== "SWITCHED" || result.switchMode !== mode) {
    throw new Error(`${mode} switch ${i}: ${JSON.stringify(result)}\n${stderr}`);
  }
  return result;
}

/** The table of docs/benchmarks.md. */
export function switchModesTable(results: readonly SwitchModeResult[]): (string | number)[][] {
  const mp = (d: Distribution) => (d.count === 0 ? "-" : `${d.median} / ${d.p95}`);
  return [
    ["", ...results.map((r) => `${r.mode} (${r.switches})`)],
    ["refused per switch, median / p95", ...results.map((r) => mp(r.refused))],
    ["client-seen unserved ms, median / p95", ...results.map((r) => mp(r.unservedMs))],
    ["step probe unservedMs, median / p95", ...results.map((r) => mp(r.probeUnservedMs))],
    [
      "max latency of answered requests ms, median / p95",
      ...results.map((r) => mp(r.maxLatencyMs)),
    ],
    ["connections reset or unanswered", ...results.map((r) => r.failed)],
    ["long requests completed", ...results.map((r) => `${r.longCompleted} / ${r.longStarted}`)],
    ["suspend window ms, median / p95", ...results.map((r) => mp(r.suspendMs))],
    ["listenerGapMs (hooks), median / p95", ...results.map((r) => mp(r.listenerGapMs))],
  ];
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const switches = Number(process.argv[2] ?? 50);
  const rows = switchModesTable(await runSwitchModesBench({ switches }));
  console.log(table(rows[0]?.map(String) ?? [], rows.slice(1)));
}
