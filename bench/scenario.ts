/**
 * One benchmark scenario in its own process: starts local mode on an existing fleet,
 * runs one or more rollouts through the synthesized state machine with the
 * measurement hooks on, and writes what was measured as JSON.
 *
 * A separate process per scenario because the handlers read their configuration once
 * per container (process): the fixed-poll variant (`inlinePollSeconds: 0`) needs its
 * own, exactly as it would be its own deployment.
 *
 * Run: `node --import tsx bench/scenario.ts SPEC.json RESULT.json`
 *
 * @module
 */
import { readFileSync } from "node:fs";
import { readdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import type { RolloutStep } from "../lib/rollout-state-machine.js";
import type { DynamoUsage } from "../local/dynamo.js";
import { type HandlerCall, type LocalEnvironment, startEnvironment } from "../local/environment.js";
import { readLedger } from "../local/ledger-view.js";
import { type RolloutReport, runRollout } from "../local/runner.js";
import {
  type Distribution,
  distribution,
  type ExecutionCounts,
  ExecutionRecorder,
  type HostWork,
  jsonBytes,
} from "./metrics.js";

/** One rollout of a scenario. */
export interface RolloutSpec {
  readonly label: string;
  readonly targetVersion: string;
  readonly batchSize: number;
  readonly canary: number;
  readonly waveSize?: number;
  readonly jobsPerHost: number;
  /** Hosts in rollout order (1-based numbers into the fleet); default all. */
  readonly hostNumbers?: readonly number[];
  /** Wait state name -> ms (the fixed-poll variant). */
  readonly waitTimeOverrides?: Readonly<Record<string, number>>;
}

/** What a scenario process is asked to do. */
export interface ScenarioSpec {
  readonly workDir: string;
  readonly profileFile?: string;
  /** CDK context of the synthesized app (e.g. `{ inlinePollSeconds: 0 }`). */
  readonly context?: Record<string, unknown>;
  readonly rollouts: readonly RolloutSpec[];
}

/** One host step with its command's run time on the host. */
export interface MeasuredStep {
  readonly hostId: string;
  readonly step: RolloutStep;
  readonly sentAt: number;
  readonly doneAt: number;
  readonly commandStart: number;
  readonly commandEnd: number;
  readonly transitions: number;
}

/** Handler invocations of one function. */
export interface HandlerUsage {
  invocations: number;
  errors: number;
  /** Sum of wall times, ms. */
  totalMs: number;
  /** Sum of per-invocation durations rounded up to the ms, as Lambda bills. */
  billedMs: number;
}

/** Where the wall time of a rollout went, ms (sums to the wall time). */
export interface Breakdown {
  /** Commands running on hosts. */
  readonly onHost: number;
  /** Send task entered -> command started on the host (ledger reads, SendCommand, delivery). */
  readonly dispatch: number;
  /** Command ended -> step result back in the state machine (poll latency, Wait states, result recording). */
  readonly detection: number;
  /** RecordHostResult tasks. */
  readonly recordHost: number;
  /** Rest of the child executions: Choice states and transitions between states. */
  readonly childOther: number;
  /** The wave verifications (VerifyWaveHosts: a read-only Preflight command per upgraded host). */
  readonly verification: number;
  /** Parent Lambda tasks (PlanRollout, LoadWaveHosts, EvaluateWave, FinishRollout). */
  readonly parentTasks: number;
  /** Everything else: Map start/stop and iteration start-up, parent transitions. */
  readonly rest: number;
}

/** The largest input or output of one parent state, broken down. */
export interface ParentPayload {
  readonly state: string;
  readonly bytes: number;
  /** `hosts.instanceIds` of the execution input, if the state carries it. */
  readonly instanceIdsBytes: number;
  readonly instanceIds: number;
  /** `wave.hosts`: the current wave's hosts. */
  readonly waveHostsBytes: number;
  readonly waveHosts: number;
  /** `plan.waves`: hosts per wave. */
  readonly planWavesBytes: number;
  readonly planWaves: number;
}

/** Everything measured about one rollout. */
export interface RolloutMeasurement {
  readonly label: string;
  readonly status: string;
  readonly error: string | null;
  readonly hosts: number;
  readonly batchSize: number;
  readonly wallMs: number;
  readonly waves: number;
  readonly parent: ExecutionCounts;
  readonly parentStateMs: Record<string, number>;
  readonly childTransitions: Distribution & { total: number };
  readonly childHistoryEvents: Distribution & { total: number };
  /** Wall time of each child execution (host), ms. */
  readonly childWallMs: Distribution;
  /** Largest payload of each parent state, with the parts that grow with the rollout. */
  readonly parentPayloads: ParentPayload[];
  readonly largestChildPayload: { bytes: number; state: string };
  readonly largestHandlerPayload: { bytes: number; handler: string };
  /** The strict runner's own maxima per execution (parent, and the largest of its children). */
  readonly quotas: RolloutReport["quotas"];
  readonly steps: MeasuredStep[];
  readonly hostWork: HostWork[];
  readonly breakdown: Breakdown;
  readonly handlers: Record<string, HandlerUsage>;
  readonly dynamo: DynamoUsage;
  readonly ssmCalls: Record<string, number>;
  readonly commands: number;
  readonly s3Puts: number;
  readonly lambdaLogBytes: number;
  readonly hostStatuses: Record<string, number>;
  readonly jobs: {
    submitted: number;
    completed: number;
    lost: number;
    failed: number;
    failedSubmissions: number;
    runningAtSwitch: number;
  };
  readonly suspendMs: number[];
  readonly listenerGapMs: number[];
  /**
   * CPU time during the rollout, ms: this process (state machine interpreter,
   * handlers, local DynamoDB and SSM) and the commands it ran (host scripts, hooks).
   * Null where /proc is not available.
   */
  readonly cpuMs: { node: number; commands: number } | null;
}

/** Runs the scenario's rollouts in order on one local environment. */
export async function runScenario(spec: ScenarioSpec): Promise<RolloutMeasurement[]> {
  let calls: CallRecord[] = [];
  const env = await startEnvironment({
    workDir: spec.workDir,
    profileFile: spec.profileFile,
    context: spec.context,
    instrumentation: {
      meterDynamo: true,
      // Keep only what the measurement needs: a thousand-host run makes ~10,000 calls.
      onInvoke: (call) => calls.push(callRecord(call)),
    },
  });
  const results: RolloutMeasurement[] = [];
  try {
    for (const rollout of spec.rollouts) {
      calls = [];
      results.push(await measureRollout(env, rollout, () => calls));
    }
  } finally {
    await env.close();
  }
  return results;
}

async function measureRollout(
  env: LocalEnvironment,
  spec: RolloutSpec,
  handlerCalls: () => CallRecord[],
): Promise<RolloutMeasurement> {
  const hostIds = spec.hostNumbers?.map((n) => {
    const host = env.fleet.hosts[n - 1];
    if (host === undefined) throw new Error(`${spec.label}: no host number ${n} in the fleet`);
    return host.instanceId;
  });
  const dynamoBefore = env.dynamoMeter?.usage();
  const ssmBefore = env.ssm.stats();
  const putsBefore = await countFiles(join(env.workDir, "ssm-output"));
  const logFile = join(env.workDir, "logs", "lambdas.log");
  const logBefore = await fileSize(logFile);
  const recorder = new ExecutionRecorder();
  const cpuBefore = cpuTimes();
  let dynamoAfter: DynamoUsage | undefined;
  let ssmAfter = ssmBefore;

  const report = await runRollout(env, {
    targetVersion: spec.targetVersion,
    batchSize: spec.batchSize,
    canary: spec.canary,
    failureThreshold: 0,
    waveSize: spec.waveSize,
    jobsPerHost: spec.jobsPerHost,
    hostIds,
    waitTimeOverrides: spec.waitTimeOverrides,
    onEvent: (event) => {
      recorder.add(event);
      // Counters stop with the execution: the report's own ledger reads come after.
      if (
        event.type === "ExecutionSucceeded" ||
        event.type === "ExecutionFailed" ||
        event.type === "ExecutionAborted"
      ) {
        dynamoAfter = env.dynamoMeter?.usage();
        ssmAfter = env.ssm.stats();
      }
    },
  });
  const metrics = recorder.metrics();
  const cpuAfter = cpuTimes();
  const putsAfter = await countFiles(join(env.workDir, "ssm-output"));
  const logAfter = await fileSize(logFile);

  const invocations = new Map(
    env.ssm
      .invocations()
      .filter((inv) => inv.requestedAt.getTime() >= metrics.startedAt)
      .map((inv) => [inv.commandId, inv]),
  );
  const steps: MeasuredStep[] = [];
  const commandMsByHost = new Map<string, number>();
  for (const sample of metrics.steps) {
    const inv = sample.commandId === undefined ? undefined : invocations.get(sample.commandId);
    if (inv?.startedAt === undefined || inv.endedAt === undefined || sample.doneAt === undefined)
      continue;
    const commandStart = inv.startedAt.getTime();
    const commandEnd = inv.endedAt.getTime();
    steps.push({
      hostId: sample.hostId,
      step: sample.step,
      sentAt: sample.sentAt,
      doneAt: sample.doneAt,
      commandStart,
      commandEnd,
      transitions: sample.transitions,
    });
    commandMsByHost.set(
      sample.hostId,
      (commandMsByHost.get(sample.hostId) ?? 0) + commandEnd - commandStart,
    );
  }

  const ledger = await readLedger(env.ledger, report.rolloutId);
  const waveOf = new Map(ledger.hosts.map((h) => [h.hostId, h.wave]));
  const children = [...metrics.children].sort((a, b) => a.startedAt - b.startedAt);
  const hostWork: HostWork[] = children.map((child, order) => ({
    hostId: child.hostId,
    wave: waveOf.get(child.hostId) ?? 0,
    order,
    commandMs: commandMsByHost.get(child.hostId) ?? 0,
  }));

  const calls = handlerCalls();
  const handlers: Record<string, HandlerUsage> = {};
  let largestHandlerPayload = { bytes: 0, handler: "" };
  for (const call of calls) {
    const usage = handlers[call.handler] ?? { invocations: 0, errors: 0, totalMs: 0, billedMs: 0 };
    handlers[call.handler] = usage;
    usage.invocations++;
    if (call.failed) usage.errors++;
    usage.totalMs += call.durationMs;
    usage.billedMs += Math.max(1, Math.ceil(call.durationMs));
    const bytes = Math.max(call.eventBytes, call.resultBytes);
    if (bytes > largestHandlerPayload.bytes) {
      largestHandlerPayload = { bytes, handler: call.state ?? call.handler };
    }
  }

  const wallMs = metrics.endedAt - metrics.startedAt;
  const parentTaskStates = ["PlanRollout", "LoadWaveHosts", "EvaluateWave", "FinishRollout"];
  const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);
  const onHost = sum(steps.map((s) => s.commandEnd - s.commandStart));
  const dispatch = sum(steps.map((s) => s.commandStart - s.sentAt));
  const detection = sum(steps.map((s) => s.doneAt - s.commandEnd));
  const recordHost = sum(children.map((c) => c.recordMs));
  const childWall = children.map((c) => (c.endedAt ?? metrics.endedAt) - c.startedAt);
  const childOther = sum(childWall) - sum(steps.map((s) => s.doneAt - s.sentAt)) - recordHost;
  const parentTasks = sum(parentTaskStates.map((s) => metrics.parentStateMs[s] ?? 0));
  const verification = metrics.parentStateMs.VerifyWaveHosts ?? 0;
  const breakdown: Breakdown = {
    onHost,
    dispatch,
    detection,
    recordHost,
    childOther,
    verification,
    parentTasks,
    rest:
      wallMs - onHost - dispatch - detection - recordHost - childOther - verification - parentTasks,
  };

  const statuses: Record<string, number> = {};
  for (const host of report.hosts) statuses[host.status] = (statuses[host.status] ?? 0) + 1;
  const childTransitions = children.map((c) => c.transitions);
  const childEvents = children.map((c) => c.historyEvents);
  const parentPayloads = metrics.largestParentPayloads.map((p): ParentPayload => {
    const value = p.value as
      | {
          hosts?: { instanceIds?: unknown[] };
          wave?: { hosts?: unknown[] };
          plan?: { waves?: unknown[] };
        }
      | undefined;
    return {
      state: p.state,
      bytes: p.bytes,
      instanceIdsBytes: jsonBytes(value?.hosts?.instanceIds),
      instanceIds: value?.hosts?.instanceIds?.length ?? 0,
      waveHostsBytes: jsonBytes(value?.wave?.hosts),
      waveHosts: value?.wave?.hosts?.length ?? 0,
      planWavesBytes: jsonBytes(value?.plan?.waves),
      planWaves: value?.plan?.waves?.length ?? 0,
    };
  });

  return {
    label: spec.label,
    status: report.status,
    error: report.error,
    quotas: report.quotas,
    hosts: children.length,
    batchSize: spec.batchSize,
    wallMs,
    waves: metrics.waves,
    parent: metrics.parent,
    parentStateMs: metrics.parentStateMs,
    childTransitions: { ...distribution(childTransitions), total: sum(childTransitions) },
    childHistoryEvents: { ...distribution(childEvents), total: sum(childEvents) },
    childWallMs: distribution(childWall),
    parentPayloads,
    largestChildPayload: {
      bytes: metrics.largestChildPayload.bytes,
      state: metrics.largestChildPayload.state,
    },
    largestHandlerPayload,
    steps,
    hostWork,
    breakdown,
    handlers,
    dynamo: difference(dynamoBefore, dynamoAfter),
    ssmCalls: subtractCounts(ssmAfter.calls, ssmBefore.calls),
    commands: ssmAfter.commands - ssmBefore.commands,
    s3Puts: putsAfter - putsBefore,
    lambdaLogBytes: logAfter - logBefore,
    hostStatuses: statuses,
    jobs: report.jobs,
    suspendMs: report.hosts.flatMap((h) => (h.suspendMs === null ? [] : [h.suspendMs])),
    listenerGapMs: report.hosts.flatMap((h) => (h.listenerGapMs === null ? [] : [h.listenerGapMs])),
    cpuMs:
      cpuBefore && cpuAfter
        ? {
            node: cpuAfter.node - cpuBefore.node,
            commands: cpuAfter.children - cpuBefore.children,
          }
        : null,
  };
}

/** Clock ticks per second of /proc times (USER_HZ, 100 on Linux). */
const USER_HZ = 100;

/**
 * CPU time of this process and of its children that have ended (ms). Node reports
 * only its own; the commands' time comes from /proc/self/stat (cutime + cstime).
 */
function cpuTimes(): { node: number; children: number } | undefined {
  try {
    const stat = readFileSync("/proc/self/stat", "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const ticks = Number(fields[13]) + Number(fields[14]);
    const usage = process.cpuUsage();
    return { node: (usage.user + usage.system) / 1000, children: (ticks * 1000) / USER_HZ };
  } catch {
    return undefined;
  }
}

function subtractCounts(
  after: Record<string, number>,
  before: Record<string, number>,
): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [key, value] of Object.entries(after)) {
    const delta = value - (before[key] ?? 0);
    if (delta !== 0) out[key] = delta;
  }
  return out;
}

function difference(before?: DynamoUsage, after?: DynamoUsage): DynamoUsage {
  return {
    requests: subtractCounts(after?.requests ?? {}, before?.requests ?? {}),
    readUnits: (after?.readUnits ?? 0) - (before?.readUnits ?? 0),
    writeUnits: (after?.writeUnits ?? 0) - (before?.writeUnits ?? 0),
    indexWriteUnits: (after?.indexWriteUnits ?? 0) - (before?.indexWriteUnits ?? 0),
    failedConditionalWrites:
      (after?.failedConditionalWrites ?? 0) - (before?.failedConditionalWrites ?? 0),
  };
}

/** Files under `dir` (the local S3 output objects), 0 when it does not exist. */
async function countFiles(dir: string): Promise<number> {
  try {
    const entries = await readdir(dir, { recursive: true, withFileTypes: true });
    return entries.filter((e) => e.isFile()).length;
  } catch {
    return 0;
  }
}

async function fileSize(file: string): Promise<number> {
  return stat(file).then(
    (s) => s.size,
    () => 0,
  );
}

/** What is kept of one handler invocation. */
interface CallRecord {
  readonly handler: string;
  readonly state?: string;
  readonly durationMs: number;
  readonly eventBytes: number;
  readonly resultBytes: number;
  readonly failed: boolean;
}

function callRecord(call: HandlerCall): CallRecord {
  return {
    handler: call.handler,
    ...(call.state === undefined ? {} : { state: call.state }),
    durationMs: call.durationMs,
    eventBytes: jsonBytes(call.event),
    resultBytes: jsonBytes(call.result),
    failed: call.error !== undefined,
  };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
  const [specFile, resultFile] = process.argv.slice(2);
  if (specFile === undefined || resultFile === undefined) {
    process.stderr.write("usage: scenario.ts SPEC.json RESULT.json\n");
    process.exit(2);
  }
  const spec = JSON.parse(await readFile(specFile, "utf8")) as ScenarioSpec;
  const results = await runScenario(spec);
  await writeFile(resultFile, JSON.stringify(results));
  process.exit(0);
}
