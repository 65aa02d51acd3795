/**
 * Figures derived from measured rollouts: orchestration overhead, completion
 * detection, AWS usage for the cost model, and the scale extrapolation. Pure
 * functions of what `bench/scenario.ts` measured; the formulas are the ones
 * `docs/benchmarks.md` states.
 *
 * @module
 */
import type { Usage } from "./aws-model.js";
import {
  batchCriticalPath,
  type Distribution,
  distribution,
  historyEventsOfEntry,
  idealMakespan,
} from "./metrics.js";
import type { RolloutMeasurement } from "./scenario.js";

/** Rollout wall time against on-host command time. */
export interface Overhead {
  readonly wallMs: number;
  /** Sum of all command run times on all hosts. */
  readonly onHostSumMs: number;
  /** Zero-overhead makespan with the same waves and MaxConcurrency (sliding window). */
  readonly idealMs: number;
  /** Sum over consecutive batches of their longest host (batch-synchronous reading). */
  readonly batchPathMs: number;
  /** wall / ideal: the figure held against the 1.15 goal. */
  readonly ratio: number;
  /** wall / batch path. */
  readonly ratioBatchPath: number;
  /** Time in the wave verifications (VerifyWaveHosts), which the ideal does not count. */
  readonly verificationMs: number;
  /** (wall - verification) / ideal: the upgrade alone against the 1.15 goal. */
  readonly ratioWithoutVerification: number;
}

/** {@link Overhead} of one rollout. */
export function overhead(m: RolloutMeasurement): Overhead {
  const idealMs = idealMakespan(m.hostWork, m.batchSize);
  const batchPathMs = batchCriticalPath(m.hostWork, m.batchSize);
  return {
    wallMs: m.wallMs,
    onHostSumMs: m.hostWork.reduce((sum, h) => sum + h.commandMs, 0),
    idealMs,
    batchPathMs,
    ratio: m.wallMs / idealMs,
    ratioBatchPath: m.wallMs / batchPathMs,
    verificationMs: m.breakdown.verification,
    ratioWithoutVerification: (m.wallMs - m.breakdown.verification) / idealMs,
  };
}

/** How fast and how cheaply the state machine learns that a step's command ended. */
export interface CompletionDetection {
  readonly steps: number;
  /** Command end on the host -> step result out of its task, ms. */
  readonly latencyMs: Distribution;
  /** States entered per step (send, choice, and per extra poll: wait, poll, choice). */
  readonly transitionsPerStep: Distribution;
  /** host-step invocations per step. */
  readonly lambdaInvocationsPerStep: number;
  /** GetCommandInvocation calls per step. */
  readonly pollCallsPerStep: number;
  /** host-step billed duration per step, ms (what the inline polling costs). */
  readonly lambdaMsPerStep: number;
}

/** {@link CompletionDetection} of one rollout's steps. */
export function completionDetection(m: RolloutMeasurement): CompletionDetection {
  const steps = m.steps.length;
  const hostStep = m.handlers["host-step"];
  return {
    steps,
    latencyMs: distribution(m.steps.map((s) => s.doneAt - s.commandEnd)),
    transitionsPerStep: distribution(m.steps.map((s) => s.transitions)),
    lambdaInvocationsPerStep: (hostStep?.invocations ?? 0) / Math.max(1, steps),
    pollCallsPerStep: (m.ssmCalls.GetCommandInvocation ?? 0) / Math.max(1, steps),
    lambdaMsPerStep: (hostStep?.billedMs ?? 0) / Math.max(1, steps),
  };
}

/** The AWS usage of one rollout, for {@link priceUsage}. */
export function awsUsage(m: RolloutMeasurement, memoryMb: Record<string, number>): Usage {
  let requests = 0;
  let gbSeconds = 0;
  for (const [handler, usage] of Object.entries(m.handlers)) {
    requests += usage.invocations;
    gbSeconds += (usage.billedMs / 1000) * ((memoryMb[handler] ?? 128) / 1024);
  }
  return {
    hosts: m.hosts,
    transitions: m.parent.transitions + m.childTransitions.total,
    historyEvents: m.parent.historyEvents + m.childHistoryEvents.total,
    executions: m.hosts + 1,
    lambdaRequests: requests,
    lambdaGbSeconds: gbSeconds,
    dynamoReadUnits: m.dynamo.readUnits,
    dynamoWriteUnits:
      m.dynamo.writeUnits + m.dynamo.indexWriteUnits + m.dynamo.failedConditionalWrites,
    s3Puts: m.s3Puts,
    s3Gets: m.ssmCalls.GetObject ?? 0,
    ssmApiCalls: Object.entries(m.ssmCalls)
      .filter(([operation]) => operation !== "GetObject" && operation !== "HeadObject")
      .reduce((sum, [, n]) => sum + n, 0),
    lambdaLogBytes: m.lambdaLogBytes,
  };
}

/**
 * Parent states run once per wave (the wave loop); everything else runs once per
 * rollout. Names as in lib/rollout-state-machine.ts.
 */
export const WAVE_LOOP_STATES = [
  "LoadWaveHosts",
  "UpgradeWaveHosts",
  "VerifyWaveHosts",
  "EvaluateWave",
  "IsRolloutHalted",
  "HasMoreWaves",
  "NeedsApproval",
] as const;

/** Types of the wave-loop states, to price one full wave in history events. */
const WAVE_LOOP_TYPES: Record<(typeof WAVE_LOOP_STATES)[number], string> = {
  LoadWaveHosts: "Task",
  UpgradeWaveHosts: "Map",
  VerifyWaveHosts: "Map",
  EvaluateWave: "Task",
  IsRolloutHalted: "Choice",
  HasMoreWaves: "Choice",
  NeedsApproval: "Choice",
};

/** Waves of a plan: a canary wave (if any), then waves of `waveSize`. */
export function waveCount(hosts: number, canary: number, waveSize: number): number {
  const first = Math.min(canary, hosts);
  return (first > 0 ? 1 : 0) + Math.ceil((hosts - first) / waveSize);
}

/** Parent history events as a function of the number of waves. */
export interface ParentEventModel {
  /** Events outside the wave loop (plan, finish, execution start/end), measured. */
  readonly fixed: number;
  /** Events of one full wave (every loop state once, no retry). */
  readonly perWave: number;
  /** What the run measured, and its wave count. */
  readonly measured: number;
  readonly waves: number;
}

/** Splits the measured parent history into fixed and per-wave parts. */
export function parentEventModel(m: RolloutMeasurement): ParentEventModel {
  const loop = WAVE_LOOP_STATES.reduce((sum, s) => sum + (m.parent.eventsByState[s] ?? 0), 0);
  const perWave = WAVE_LOOP_STATES.reduce(
    (sum, s) => sum + historyEventsOfEntry(WAVE_LOOP_TYPES[s], 1),
    0,
  );
  return {
    fixed: m.parent.historyEvents - loop,
    perWave,
    measured: m.parent.historyEvents,
    waves: m.waves,
  };
}

/** Upper bound of the parent's history events for `waves` waves. */
export function parentEvents(model: ParentEventModel, waves: number): number {
  return model.fixed + model.perWave * waves;
}

/** One parent state's largest payload split into what grows with the rollout and what does not. */
export interface PayloadModel {
  readonly state: string;
  /** Bytes that do not depend on the size of the rollout. */
  readonly base: number;
  /** Bytes per instance id listed in the execution input, when the state carries it. */
  readonly perInstanceId: number;
  /** Bytes per host of the current wave (`$.wave.hosts`). */
  readonly perWaveHost: number;
  /** Bytes per wave in the plan (`$.plan.waves`). */
  readonly perWave: number;
  readonly measuredBytes: number;
}

/** {@link PayloadModel} of every parent state of a run. */
export function payloadModels(m: RolloutMeasurement): PayloadModel[] {
  const per = (bytes: number, n: number) => (n === 0 ? 0 : bytes / n);
  return m.parentPayloads.map((p) => ({
    state: p.state,
    base: p.bytes - p.instanceIdsBytes - p.waveHostsBytes - p.planWavesBytes,
    perInstanceId: per(p.instanceIdsBytes, p.instanceIds),
    perWaveHost: per(p.waveHostsBytes, p.waveHosts),
    perWave: per(p.planWavesBytes, p.planWaves),
    measuredBytes: p.bytes,
  }));
}

/**
 * A state's payload for a rollout of `hosts` listed by instance id, with waves of
 * `waveSize`: base + perInstanceId × hosts + perWaveHost × min(waveSize, hosts) +
 * perWave × waves. A tag-selected rollout has no instance id list in its input.
 */
export function payloadBytes(
  model: PayloadModel,
  hosts: number,
  waveSize: number,
  waves: number,
): number {
  return Math.ceil(
    model.base +
      model.perInstanceId * hosts +
      model.perWaveHost * Math.min(waveSize, hosts) +
      model.perWave * waves,
  );
}

/** The parent state with the largest predicted payload, and that payload. */
export function largestPayload(
  models: readonly PayloadModel[],
  hosts: number,
  waveSize: number,
  waves: number,
): { model: PayloadModel; bytes: number } {
  let best: { model: PayloadModel; bytes: number } | undefined;
  for (const model of models) {
    const bytes = payloadBytes(model, hosts, waveSize, waves);
    if (best === undefined || bytes > best.bytes) best = { model, bytes };
  }
  if (best === undefined) throw new Error("no parent payload measured");
  return best;
}

/** Hosts per hour of a rollout (hosts / wall time). */
export function hostsPerHour(m: RolloutMeasurement): number {
  return (m.hosts / m.wallMs) * 3_600_000;
}
