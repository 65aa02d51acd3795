/**
 * `npm run bench [-- --quick] [-- --json FILE] [-- --kits]`: the benchmarks of docs/benchmarks.md,
 * measured in one run so that ratios compare like with like on a noisy machine.
 * `npm run bench -- --switch-modes` runs only section 1b.
 *
 * 1. Switch window: repeated switches of one demo-agent host with jobs running
 *    (bench/switch-window.ts).
 * 1b. Switch modes: refused connections, client-seen gap, latency, long requests in
 *    flight, in overlap and stop-start mode and across a plain restart
 *    (bench/switch-modes.ts).
 * 2. Demo fleet (20 hosts, 5 with --quick): real rollouts in local mode with the
 *    scheduler simulation, one host at a time and in batches of 5, then the first
 *    hosts again with the fixed 5 s poll variant.
 * 3. Orchestration overhead of those rollouts, beside two benchmark profiles without
 *    agent processes: one whose steps last about a second, one whose hooks are no-ops.
 * 4. Completion detection: adaptive inline polling against the fixed 5 s poll.
 * 5. Scale (1,000 lightweight hosts, 200 with --quick): the same state machine,
 *    handlers, documents and local SSM; throughput at batch sizes 1, 5 and 25, then
 *    every host in one wave at batch 100; history events and payloads as the strict
 *    runner counted them per execution, and extrapolated to 10,000 hosts.
 * 6. Cost per host in AWS from what the runs counted.
 * 7. Kits side by side (bench/kits.ts; alone with `--kits`): one rollout per agent kit,
 *    switch window, listener gap, client-seen unserved time and missed time per agent.
 *
 * Each scenario runs in its own process (bench/scenario.ts): the handlers read their
 * configuration once per process, as a Lambda container does.
 *
 * @module
 */
import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { cpus, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { MAX_WAVES } from "../lambdas/plan-rollout/plan-rollout.js";
import { ROLLOUT_STEPS } from "../lib/rollout-state-machine.js";
import { createFleet } from "../local/fleet.js";
import { table } from "../local/format.js";
import { stopFleetProcesses } from "../local/processes.js";
import { type Cost, functionMemoryMb, PRICES, priceUsage } from "./aws-model.js";
import { BENCH_KITS, formatKits, type KitMeasurement, runKitsBench } from "./kits.js";
import { createLightFleet, LIGHT_PROFILE_FILE, SLOW_PROFILE_FILE } from "./light-fleet.js";
import { type Distribution, distribution } from "./metrics.js";
import {
  awsUsage,
  completionDetection,
  hostsPerHour,
  largestPayload,
  overhead,
  parentEventModel,
  parentEvents,
  payloadModels,
  waveCount,
} from "./report.js";
import type { RolloutMeasurement, RolloutSpec, ScenarioSpec } from "./scenario.js";
import { runSwitchModesBench, switchModesTable } from "./switch-modes.js";
import { runSwitchWindowBench, switchWindowTable } from "./switch-window.js";

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";

const repoRoot = resolve(fileURLToPath(new URL("..", import.meta.url)));
const scenarioScript = fileURLToPath(new URL("./scenario.ts", import.meta.url));

/** Step Functions' limits per execution. */
const MAX_HISTORY_EVENTS = 25_000;
const MAX_PAYLOAD_BYTES = 256 * 1024;
/** The fixed-poll variant's interval between polls. */
const FIXED_POLL_MS = 5_000;
/** Hosts the scale figures are extrapolated to. */
const TARGET_HOSTS = 10_000;

interface Sizes {
  readonly switches: number;
  readonly modeSwitches: number;
  readonly demoHosts: number;
  readonly fixedPollHosts: number;
  readonly slowHosts: number;
  readonly lightHosts: number;
  readonly lightBatch1Hosts: number;
  readonly lightBatch5Hosts: number;
}

const FULL: Sizes = {
  switches: 30,
  modeSwitches: 50,
  demoHosts: 20,
  fixedPollHosts: 5,
  slowHosts: 10,
  lightHosts: 1_000,
  lightBatch1Hosts: 40,
  lightBatch5Hosts: 100,
};
const QUICK: Sizes = {
  switches: 10,
  modeSwitches: 10,
  demoHosts: 5,
  fixedPollHosts: 2,
  slowHosts: 4,
  lightHosts: 200,
  lightBatch1Hosts: 10,
  lightBatch5Hosts: 25,
};

const say = (line = "") => process.stdout.write(`${line}\n`);
const printTable = (...args: Parameters<typeof table>) => say(table(...args));

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: "boolean" },
      json: { type: "string" },
      "switch-modes": { type: "boolean" },
      kits: { type: "boolean" },
      "scale-wave": { type: "boolean" },
    },
    strict: true,
  });
  if (values.kits) {
    say(`agent-rollout benchmarks (--kits)`);
    say(`machine: ${osLine()}`);
    await kitsSection();
    return;
  }
  if (values["scale-wave"]) {
    say(`agent-rollout benchmarks (--scale-wave)`);
    say(`machine: ${osLine()}`);
    await scaleWaveSection(FULL.lightHosts);
    return;
  }
  const sizes = values.quick ? QUICK : FULL;
  const began = Date.now();
  const work = await mkdtemp(join(tmpdir(), "agent-rollout-bench-"));
  say(`agent-rollout benchmarks${values.quick ? " (--quick)" : ""}`);
  say(`machine: ${osLine()}`);
  if (values["switch-modes"]) {
    await switchModes(sizes);
    return;
  }
  try {
    const memoryMb = functionMemoryMb();

    say();
    say(`== 1. Switch window: one demo-agent host, ${sizes.switches} switches, 5 jobs each`);
    const sw = await runSwitchWindowBench({ switches: sizes.switches, jobsPerHost: 5 });
    const rows = switchWindowTable(sw);
    printTable(rows[0]?.map(String) ?? [], rows.slice(1));
    say(`jobs lost: ${sw.jobsLost}`);
    await switchModes(sizes);

    const demo = await demoFleet(join(work, "demo"), sizes);
    const slow = await scenarioOnLightFleet(
      join(work, "slow"),
      SLOW_PROFILE_FILE,
      sizes.slowHosts,
      [
        { label: "slow-b1", targetVersion: "2.0.0", batchSize: 1, canary: 1, jobsPerHost: 0 },
        { label: "slow-b5", targetVersion: "3.0.0", batchSize: 5, canary: 1, jobsPerHost: 0 },
      ],
    );
    const light = await scenarioOnLightFleet(
      join(work, "light"),
      LIGHT_PROFILE_FILE,
      sizes.lightHosts,
      [
        {
          label: "light-b1",
          targetVersion: "2.0.0",
          batchSize: 1,
          canary: 1,
          jobsPerHost: 0,
          hostNumbers: range(sizes.lightBatch1Hosts),
        },
        {
          label: "light-b5",
          targetVersion: "3.0.0",
          batchSize: 5,
          canary: 1,
          jobsPerHost: 0,
          hostNumbers: range(sizes.lightBatch5Hosts),
        },
        { label: "scale-b25", targetVersion: "4.0.0", batchSize: 25, canary: 1, jobsPerHost: 0 },
        // Every host in one wave: the widest wave the input allows at the full size.
        {
          label: `scale-w${sizes.lightHosts}`,
          targetVersion: "5.0.0",
          batchSize: 100,
          canary: 0,
          waveSize: sizes.lightHosts,
          jobsPerHost: 0,
        },
      ],
    );
    const [b1, b5] = demo.adaptive;
    const [s1, s5] = slow;
    const [t1, t5, scale, wide] = light;
    const fixed = demo.fixed;
    if (!(b1 && b5 && fixed && s1 && s5 && t1 && t5 && scale && wide))
      throw new Error("a scenario returned fewer rollouts than asked");

    say();
    say(
      `== 2. Demo fleet: ${sizes.demoHosts} demo-agent hosts, 3 jobs each, scheduler simulation running`,
    );
    printTable(
      [
        "rollout",
        "status",
        "hosts",
        "batch",
        "suspend med/p95 ms",
        "gap med/p95 ms",
        "jobs",
        "lost",
        "failed submissions",
      ],
      [b1, b5, fixed].map((m) => [
        m.label,
        m.status,
        m.hosts,
        m.batchSize,
        medP95(distribution(m.suspendMs)),
        medP95(distribution(m.listenerGapMs)),
        m.jobs.submitted,
        m.jobs.lost,
        m.jobs.failedSubmissions,
      ]),
    );

    say();
    say("== 3. Orchestration overhead: wall time / zero-overhead makespan of the same plan");
    printTable(
      [
        "rollout",
        "hosts",
        "batch",
        "step med ms",
        "wall s",
        "on-host sum s",
        "ideal s",
        "ratio",
        "batch-path s",
        "wall/batch-path",
        "verification s",
        "ratio w/o verification",
      ],
      [b1, b5, s1, s5, t1, t5].map((m) => {
        const o = overhead(m);
        return [
          m.label,
          m.hosts,
          m.batchSize,
          Math.round(distribution(m.steps.map((x) => x.commandEnd - x.commandStart)).median),
          sec(o.wallMs),
          sec(o.onHostSumMs),
          sec(o.idealMs),
          o.ratio.toFixed(3),
          sec(o.batchPathMs),
          o.ratioBatchPath.toFixed(3),
          sec(o.verificationMs),
          o.ratioWithoutVerification.toFixed(3),
        ];
      }),
    );
    say("where the time goes, one host at a time (ms; each row sums to the wall time):");
    printTable(
      [
        "rollout",
        "on host",
        "dispatch",
        "detection",
        "record host",
        "child other",
        "verification",
        "parent tasks",
        "rest",
      ],
      [b1, s1, t1].map((m) => {
        const bd = m.breakdown;
        return [
          m.label,
          bd.onHost,
          bd.dispatch,
          bd.detection,
          bd.recordHost,
          bd.childOther,
          bd.verification,
          bd.parentTasks,
          bd.rest,
        ];
      }),
    );
    printTable(
      ["rollout", "per step: on host ms", "dispatch ms", "detection ms", "parent tasks"],
      [b1, s1, t1].map((m) => [
        m.label,
        (m.breakdown.onHost / m.steps.length).toFixed(0),
        (m.breakdown.dispatch / m.steps.length).toFixed(0),
        (m.breakdown.detection / m.steps.length).toFixed(0),
        parentTaskLine(m),
      ]),
    );
    say("demo on-host command time by step, one host at a time (ms):");
    printTable(
      ["step", "median", "p95"],
      ROLLOUT_STEPS.map((step) => {
        const d = distribution(
          b1.steps.filter((x) => x.step === step).map((x) => x.commandEnd - x.commandStart),
        );
        return [step, d.median, d.p95];
      }),
    );

    say();
    say(
      `== 4. Completion detection: inline adaptive polling vs a fixed ${FIXED_POLL_MS / 1000} s poll (INLINE_POLL_SECONDS=0, every WaitBefore*Poll ${FIXED_POLL_MS / 1000} s), demo hosts`,
    );
    printTable(
      [
        "variant",
        "steps",
        "latency med ms",
        "p95 ms",
        "transitions/step",
        "host-step calls/step",
        "GetCommandInvocation/step",
        "host-step ms/step",
      ],
      (
        [
          ["adaptive (b1)", completionDetection(b1)],
          [`fixed ${FIXED_POLL_MS / 1000} s`, completionDetection(fixed)],
        ] as const
      ).map(([name, cd]) => [
        name,
        cd.steps,
        cd.latencyMs.median,
        cd.latencyMs.p95,
        cd.transitionsPerStep.mean.toFixed(2),
        cd.lambdaInvocationsPerStep.toFixed(2),
        cd.pollCallsPerStep.toFixed(2),
        cd.lambdaMsPerStep.toFixed(0),
      ]),
    );

    say();
    say(
      `== 5. Scale: lightweight hosts (benchmark profile, no agent process), same state machine, handlers, documents, local SSM`,
    );
    printTable(
      [
        "rollout",
        "status",
        "hosts",
        "batch",
        "waves",
        "wall s",
        "hosts/hour",
        "host time med/p95 ms",
        "GetCommandInvocation/s",
        "CPU ms/host: node / commands",
      ],
      [t1, t5, scale, wide].map((m) => [
        m.label,
        m.status,
        m.hosts,
        m.batchSize,
        m.waves,
        sec(m.wallMs),
        Math.round(hostsPerHour(m)),
        medP95(m.childWallMs),
        ((m.ssmCalls.GetCommandInvocation ?? 0) / (m.wallMs / 1000)).toFixed(1),
        m.cpuMs === null
          ? "-"
          : `${Math.round(m.cpuMs.node / m.hosts)} / ${Math.round(m.cpuMs.commands / m.hosts)}`,
      ]),
    );
    const pe = parentEventModel(scale);
    const models = payloadModels(scale);
    const targetWaves = waveCount(TARGET_HOSTS, 1, 100);
    const widestWaves = waveCount(TARGET_HOSTS, 1, 1000);
    const maxWaves = Math.floor((MAX_HISTORY_EVENTS - pe.fixed) / pe.perWave);
    const measuredPayload = largestPayload(models, scale.hosts, 100, scale.waves);
    const atTarget = largestPayload(models, TARGET_HOSTS, 100, targetWaves);
    const atWidest = largestPayload(models, TARGET_HOSTS, 1000, widestWaves);
    say();
    say(`${scale.label}: ${scale.hosts} hosts in ${scale.waves} waves (canary 1, waveSize 100)`);
    printTable(
      [
        "per execution",
        "measured",
        `${TARGET_HOSTS} hosts, waveSize 100`,
        `${TARGET_HOSTS} hosts, waveSize 1000`,
        "limit",
      ],
      [
        [
          "parent history events",
          pe.measured,
          parentEvents(pe, targetWaves),
          parentEvents(pe, widestWaves),
          MAX_HISTORY_EVENTS,
        ],
        [
          "child history events (max per host)",
          scale.childHistoryEvents.max,
          scale.childHistoryEvents.max,
          scale.childHistoryEvents.max,
          MAX_HISTORY_EVENTS,
        ],
        [
          "parent largest payload bytes",
          `${measuredPayload.model.measuredBytes} (${measuredPayload.model.state})`,
          `${atTarget.bytes} (${atTarget.model.state})`,
          `${atWidest.bytes} (${atWidest.model.state})`,
          MAX_PAYLOAD_BYTES,
        ],
        [
          "child largest payload bytes",
          `${scale.largestChildPayload.bytes} (${scale.largestChildPayload.state})`,
          scale.largestChildPayload.bytes,
          scale.largestChildPayload.bytes,
          MAX_PAYLOAD_BYTES,
        ],
      ],
    );
    say(
      `parent events <= ${pe.fixed} + ${pe.perWave} x waves (${targetWaves} waves at ${TARGET_HOSTS} hosts); the limit allows ${maxWaves} waves`,
    );
    for (const model of [atTarget.model, ...models.filter((m) => m.state === "LoadWaveHosts")]) {
      say(
        `${model.state} payload = ${model.base.toFixed(0)} + ${model.perInstanceId.toFixed(2)} x hosts listed + ${model.perWaveHost.toFixed(2)} x hosts per wave + ${model.perWave.toFixed(2)} x waves`,
      );
    }
    say(
      `largest handler event/result: ${scale.largestHandlerPayload.bytes} bytes (${scale.largestHandlerPayload.handler}); child transitions per host: median ${scale.childTransitions.median}, max ${scale.childTransitions.max}`,
    );
    strictRunnerFigures(scale, wide);

    say();
    say(
      `== 6. Cost per host in AWS (Lambda arm64 $${PRICES.lambdaGbSecondArm64}/GB-s; memory MB: ${Object.entries(
        memoryMb,
      )
        .map(([h, mb]) => `${h} ${mb}`)
        .join(", ")})`,
    );
    const costs: Array<[string, RolloutMeasurement, Cost]> = [b1, s1, scale].map((m) => [
      m.label,
      m,
      priceUsage(awsUsage(m, memoryMb)),
    ]);
    const [first] = costs;
    printTable(
      ["item", ...costs.map(([name]) => `${name} qty`), ...costs.map(([name]) => `${name} $/host`)],
      (first?.[2].lines ?? []).map((line, i) => [
        line.item,
        ...costs.map(([, , c]) => num(c.lines[i]?.quantity ?? 0)),
        ...costs.map(([, m, c]) => usd((c.lines[i]?.dollars ?? 0) / m.hosts)),
      ]),
    );
    printTable(
      ["rollout", "hosts", "total $", "$ per host", "goal $ per host"],
      costs.map(([name, m, c]) => [name, m.hosts, usd(c.total), usd(c.perHost), "0.0005"]),
    );
    say("* modelled, not measured: see docs/benchmarks.md");

    const kits = await kitsSection();

    const json = values.json;
    if (json !== undefined) {
      await writeFile(
        resolve(json),
        `${JSON.stringify({ sizes, memoryMb, switchWindow: sw, demo, slow, light, kits }, null, 1)}\n`,
      );
      say();
      say(`raw measurements written to ${json}`);
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  say();
  say(`bench wall time: ${sec(Date.now() - began)} s`);
}

/** Section 7: one rollout per agent kit, the switch and missed-time figures side by side. */
async function kitsSection(): Promise<KitMeasurement[]> {
  say();
  say(`== 7. Kits side by side: one rollout per kit, ${BENCH_KITS.join(", ")}; 3 hosts each`);
  const kits = await runKitsBench();
  say(formatKits(kits));
  say("FTA TWiki (rolling upgrade, service restart): agents miss around 1 or 2 seconds");
  return kits;
}

/** Creates the demo fleet and runs the adaptive and fixed-poll scenarios on it. */
async function switchModes(sizes: Sizes): Promise<void> {
  say();
  say(
    `== 1b. Switch modes: one demo-agent host per mode, ${sizes.modeSwitches} switches each, a new connection every 3 ms, 2 long requests in flight`,
  );
  const rows = switchModesTable(await runSwitchModesBench({ switches: sizes.modeSwitches }));
  printTable(rows[0]?.map(String) ?? [], rows.slice(1));
}

async function demoFleet(
  dir: string,
  sizes: Sizes,
): Promise<{ adaptive: RolloutMeasurement[]; fixed?: RolloutMeasurement }> {
  const versions = ["1.0.0", "2.0.0", "3.0.0", "4.0.0"];
  await createFleet(dir, { hosts: sizes.demoHosts, fromVersion: "1.0.0", versions, faults: [] });
  try {
    const adaptive = await scenario({
      workDir: dir,
      rollouts: [
        { label: "demo-b1", targetVersion: "2.0.0", batchSize: 1, canary: 1, jobsPerHost: 3 },
        { label: "demo-b5", targetVersion: "3.0.0", batchSize: 5, canary: 1, jobsPerHost: 3 },
      ],
    });
    const waits = Object.fromEntries(
      ROLLOUT_STEPS.map((step) => [
        `WaitBefore${step.charAt(0).toUpperCase()}${step.slice(1)}Poll`,
        FIXED_POLL_MS,
      ]),
    );
    const [fixed] = await scenario({
      workDir: dir,
      context: { inlinePollSeconds: 0 },
      rollouts: [
        {
          label: "demo-fixed-5s",
          targetVersion: "4.0.0",
          batchSize: 1,
          canary: 1,
          jobsPerHost: 3,
          hostNumbers: range(sizes.fixedPollHosts),
          waitTimeOverrides: waits,
        },
      ],
    });
    return { adaptive, ...(fixed === undefined ? {} : { fixed }) };
  } finally {
    await stopFleetProcesses(join(dir, "fleet"));
  }
}

/** Creates a lightweight fleet and runs `rollouts` on it with the given benchmark profile. */
async function scenarioOnLightFleet(
  dir: string,
  profileFile: string,
  hosts: number,
  rollouts: RolloutSpec[],
): Promise<RolloutMeasurement[]> {
  await createLightFleet(dir, { hosts, fromVersion: "1.0.0" });
  return scenario({ workDir: dir, profileFile, rollouts });
}

/** Runs bench/scenario.ts in a child process and returns its measurements. */
async function scenario(spec: ScenarioSpec): Promise<RolloutMeasurement[]> {
  const specFile = join(spec.workDir, `scenario-${Date.now()}.json`);
  const resultFile = `${specFile}.result`;
  await writeFile(specFile, JSON.stringify(spec));
  const code = await new Promise<number>((resolveCode, reject) => {
    const child = spawn(
      process.execPath,
      ["--import", "tsx", scenarioScript, specFile, resultFile],
      {
        cwd: repoRoot,
        stdio: ["ignore", "inherit", "inherit"],
      },
    );
    child.once("error", reject);
    child.once("exit", (exitCode, signal) => resolveCode(exitCode ?? (signal ? 128 : 1)));
  });
  if (code !== 0) throw new Error(`scenario process exited with ${code}`);
  return JSON.parse(await readFile(resultFile, "utf8")) as RolloutMeasurement[];
}

function parentTaskLine(m: RolloutMeasurement): string {
  return ["PlanRollout", "LoadWaveHosts", "EvaluateWave", "FinishRollout"]
    .map((s) => `${s} ${m.parentStateMs[s] ?? 0} ms`)
    .join(", ");
}

/**
 * Section 5's figures as the strict runner (local/strict-state-machine.ts) counted
 * them while enforcing the quotas, per execution; and the parent's history per wave,
 * from two rollouts of the same hosts with different wave counts.
 */
function strictRunnerFigures(scale: RolloutMeasurement, wide: RolloutMeasurement): void {
  say();
  say("measured by the strict runner, per execution:");
  const rows = [scale, wide].flatMap((m) => {
    const { parent, children } = m.quotas;
    return [
      [
        `${m.label} parent (${m.waves} waves)`,
        parent ? `${parent.largestPayloadBytes} (${parent.largestPayloadAt})` : "-",
        MAX_PAYLOAD_BYTES,
        parent?.historyEvents ?? "-",
        MAX_HISTORY_EVENTS,
      ],
      [
        `${m.label} largest child (of ${children.count})`,
        `${children.largestPayloadBytes} (${children.largestPayloadAt})`,
        MAX_PAYLOAD_BYTES,
        children.mostHistoryEvents,
        MAX_HISTORY_EVENTS,
      ],
    ];
  });
  printTable(["execution", "largest payload bytes", "limit", "history events", "limit"], rows);
  const many = scale.quotas.parent;
  const one = wide.quotas.parent;
  if (many === null || one === null || scale.waves === wide.waves) return;
  const perWave = (many.historyEvents - one.historyEvents) / (scale.waves - wide.waves);
  const base = one.historyEvents - perWave * wide.waves;
  const at = (waves: number) => Math.round(base + perWave * waves);
  const targetWaves = waveCount(TARGET_HOSTS, 1, 100);
  say(
    `parent history = ${base.toFixed(0)} + ${perWave.toFixed(1)} per wave (${scale.label} vs ${wide.label}); ` +
      `${TARGET_HOSTS} hosts in waves of 100 (${targetWaves} waves): ${at(targetWaves)}; ` +
      `MAX_WAVES ${MAX_WAVES} waves: ${at(MAX_WAVES)}; limit ${MAX_HISTORY_EVENTS}`,
  );
}

/**
 * Every one of `hosts` light hosts in one wave (the widest wave the input allows), at
 * batch 100, through the strict runner: its largest payload and history per execution
 * against the quotas (`--scale-wave`).
 */
async function scaleWaveSection(hosts: number): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), "agent-rollout-bench-"));
  try {
    say();
    say(`== Scale: ${hosts} light hosts in one wave, batch 100, strict runner`);
    const [wide] = await scenarioOnLightFleet(join(work, "wave"), LIGHT_PROFILE_FILE, hosts, [
      {
        label: `scale-w${hosts}`,
        targetVersion: "2.0.0",
        batchSize: 100,
        canary: 0,
        waveSize: hosts,
        jobsPerHost: 0,
      },
    ]);
    if (!wide) throw new Error("the scenario returned no rollout");
    say(
      `status ${wide.status}, ${wide.hosts} hosts, ${wide.waves} wave(s), wall ${wide.wallMs} ms`,
    );
    const { parent, children } = wide.quotas;
    printTable(
      ["execution", "largest payload bytes", "limit", "history events", "limit"],
      [
        [
          "parent",
          parent ? `${parent.largestPayloadBytes} (${parent.largestPayloadAt})` : "-",
          MAX_PAYLOAD_BYTES,
          parent?.historyEvents ?? "-",
          MAX_HISTORY_EVENTS,
        ],
        [
          `largest child (of ${children.count})`,
          `${children.largestPayloadBytes} (${children.largestPayloadAt})`,
          MAX_PAYLOAD_BYTES,
          children.mostHistoryEvents,
          MAX_HISTORY_EVENTS,
        ],
      ],
    );
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i + 1);
}

function medP95(d: Distribution): string {
  return d.count === 0 ? "-" : `${Math.round(d.median)} / ${Math.round(d.p95)}`;
}

function sec(ms: number): string {
  return (ms / 1000).toFixed(1);
}

function usd(dollars: number): string {
  return dollars === 0 ? "0" : dollars.toPrecision(3);
}

function num(value: number): string {
  if (Number.isInteger(value)) return String(value);
  return value < 1 ? value.toPrecision(3) : value.toFixed(1);
}

function osLine(): string {
  const list = cpus();
  return `${list.length} x ${list[0]?.model ?? "unknown CPU"}, Node ${process.versions.node}`;
}

await main();
