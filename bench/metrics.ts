/**
 * What the benchmarks read from a local execution: its event log (as
 * aws-local-stepfunctions emits it, Map iterations included), turned into the figures
 * AWS would count for the same run.
 *
 * AWS history-event model (Standard workflows; a Distributed Map runs each item as a
 * child execution with its own history):
 *
 * | what | history events |
 * |---|---|
 * | an execution (parent or child) | 2: `ExecutionStarted`, `ExecutionSucceeded`/`Failed` |
 * | Task state (Lambda) | 2 (`TaskStateEntered`/`Exited`) + 3 per attempt (`LambdaFunctionScheduled`, `Started`, `Succeeded`/`Failed`) |
 * | Choice, Pass, Wait, Succeed | 2 (`…StateEntered`, `…StateExited`) |
 * | Fail | 1 (`FailStateEntered`; the execution's end is counted above) |
 * | Distributed Map (in the parent) | 6: `MapStateEntered`, `MapStateStarted`, `MapRunStarted`, `MapRunSucceeded`, `MapStateSucceeded`, `MapStateExited` (an upper bound: whatever a child does adds nothing to the parent) |
 *
 * Billed state transitions (Standard): one per state entered, plus one per retry.
 *
 * @module
 */
import { ROLLOUT_STEPS, type RolloutStep } from "../lib/rollout-state-machine.js";
import type { ExecutionEvent } from "../local/runner.js";

/** Median, 95th percentile and extremes of a sample. */
export interface Distribution {
  readonly count: number;
  readonly median: number;
  readonly p95: number;
  readonly mean: number;
  readonly min: number;
  readonly max: number;
}

/** {@link Distribution} of `values` (nearest-rank p95; NaN fields when empty). */
export function distribution(values: readonly number[]): Distribution {
  const sorted = [...values].sort((a, b) => a - b);
  const n = sorted.length;
  const at = (i: number) => sorted[Math.min(n - 1, Math.max(0, i))] ?? Number.NaN;
  const mid = Math.floor(n / 2);
  return {
    count: n,
    median: n % 2 === 1 ? at(mid) : (at(mid - 1) + at(mid)) / 2,
    p95: at(Math.ceil(0.95 * n) - 1),
    mean: n === 0 ? Number.NaN : sorted.reduce((sum, v) => sum + v, 0) / n,
    min: at(0),
    max: at(n - 1),
  };
}

/** History events one state entry produces in AWS (see the module comment). */
export function historyEventsOfEntry(type: string, attempts: number): number {
  switch (type) {
    case "Task":
      return 2 + 3 * attempts;
    case "Map":
      return 6;
    case "Fail":
      return 1;
    default:
      return 2;
  }
}

/** Counts of one execution (the parent, or one child = one host). */
export interface ExecutionCounts {
  /** Billed state transitions: states entered plus retries. */
  transitions: number;
  /** History events AWS would record (model above). */
  historyEvents: number;
  /** States entered, by name. */
  readonly entries: Record<string, number>;
  /** History events, by state name (execution start and end not included). */
  readonly eventsByState: Record<string, number>;
}

/** One host step as the state machine saw it. */
export interface StepSample {
  readonly hostId: string;
  readonly step: RolloutStep;
  /** Epoch ms the step's Send task was entered. */
  readonly sentAt: number;
  /** Epoch ms the task that returned `done: true` exited. */
  doneAt?: number;
  commandId?: string;
  /** States entered in the step's send/choice/wait/poll loop. */
  transitions: number;
}

/** One host's child execution. */
export interface ChildSample extends ExecutionCounts {
  readonly hostId: string;
  startedAt: number;
  endedAt?: number;
  /**
   * Epoch ms its last state exited: its end when the iteration's end event does not
   * name the host (HostDone outputs `{}`).
   */
  lastExitAt?: number;
  /** Epoch ms spent in the RecordHostResult/RecordHostFailure task. */
  recordMs: number;
}

/** The largest state input or output seen, and where. */
export interface LargestPayload {
  bytes: number;
  state: string;
  /** The value itself (kept only for the parent, to break its size down). */
  value?: unknown;
}

/** Everything {@link ExecutionRecorder} measured. */
export interface ExecutionMetrics {
  readonly startedAt: number;
  readonly endedAt: number;
  readonly parent: ExecutionCounts;
  readonly children: ChildSample[];
  readonly steps: StepSample[];
  /** Waves run (UpgradeWaveHosts Map runs). */
  readonly waves: number;
  /** Time spent in each parent state, ms, summed over entries. */
  readonly parentStateMs: Record<string, number>;
  /** Largest input or output of each parent state (`(execution input)` included). */
  readonly largestParentPayloads: LargestPayload[];
  readonly largestChildPayload: LargestPayload;
}

const STEP_STATE = new RegExp(
  `^(?:(?:Send|Poll)(${titles()})Command|Is(${titles()})Done|WaitBefore(${titles()})Poll)$`,
);
const DONE_TASK = new RegExp(`^(?:Send|Poll)(${titles()})Command$`);

function titles(): string {
  return ROLLOUT_STEPS.map((s) => s.charAt(0).toUpperCase() + s.slice(1)).join("|");
}

function stepOf(title: string | undefined): RolloutStep | undefined {
  const step = title?.toLowerCase();
  return ROLLOUT_STEPS.find((s) => s === step);
}

/** UTF-8 size of a value as JSON, the measure of Step Functions' payload limit. */
export function jsonBytes(value: unknown): number {
  return value === undefined ? 0 : Buffer.byteLength(JSON.stringify(value), "utf8");
}

/**
 * Consumes a local execution's event log as it is produced (a thousand-host run
 * emits hundreds of thousands of events: nothing but counters and small samples are
 * kept) and reports per-execution counts as AWS would see them.
 *
 * A child execution is identified by the `host.hostId` of its state input, which
 * every state of the item processor carries.
 */
export class ExecutionRecorder {
  private startedAt = Number.NaN;
  private endedAt = Number.NaN;
  private readonly parent: ExecutionCounts = {
    transitions: 0,
    historyEvents: 2,
    entries: {},
    eventsByState: {},
  };
  private readonly children = new Map<string, ChildSample>();
  private readonly steps = new Map<string, StepSample>();
  private readonly parentStateMs: Record<string, number> = {};
  private readonly parentEnteredAt = new Map<string, number>();
  private readonly recordEnteredAt = new Map<string, number>();
  private waves = 0;
  private readonly largestParent = new Map<string, LargestPayload>();
  private largestChild: LargestPayload = { bytes: 0, state: "" };

  /** Feeds one event. */
  add(event: ExecutionEvent): void {
    switch (event.type) {
      case "ExecutionStarted":
        this.startedAt = event.timestamp;
        this.payload(undefined, "(execution input)", event.input);
        return;
      case "ExecutionSucceeded":
      case "ExecutionFailed":
      case "ExecutionAborted":
      case "ExecutionTimeout":
        this.endedAt = event.timestamp;
        return;
      case "MapIterationStarted": {
        const hostId = hostIdOf((event as { input?: unknown }).input);
        if (hostId !== undefined) this.child(hostId, event.timestamp);
        return;
      }
      case "MapIterationSucceeded":
      case "MapIterationFailed": {
        const hostId = hostIdOf((event as { output?: unknown }).output);
        const child = hostId === undefined ? undefined : this.children.get(hostId);
        if (child !== undefined) child.endedAt = event.timestamp;
        return;
      }
      case "StateEntered":
      case "StateExited":
      case "StateRetried":
      case "StateFailed":
      case "StateCaught":
        this.stateEvent(event);
        return;
      default:
        return;
    }
  }

  /** The figures so far (call once the execution has ended). */
  metrics(): ExecutionMetrics {
    // A child whose iteration end event did not name it ended when its last state
    // exited; one that never got that far (aborted) ends with the parent.
    const children = [...this.children.values()];
    for (const child of children) child.endedAt ??= child.lastExitAt ?? this.endedAt;
    return {
      startedAt: this.startedAt,
      endedAt: this.endedAt,
      parent: this.parent,
      children,
      steps: [...this.steps.values()],
      waves: this.waves,
      parentStateMs: { ...this.parentStateMs },
      largestParentPayloads: [...this.largestParent.values()],
      largestChildPayload: this.largestChild,
    };
  }

  private child(hostId: string, at: number): ChildSample {
    let child = this.children.get(hostId);
    if (child === undefined) {
      child = {
        hostId,
        startedAt: at,
        transitions: 0,
        historyEvents: 2,
        entries: {},
        eventsByState: {},
        recordMs: 0,
      };
      this.children.set(hostId, child);
    }
    return child;
  }

  private stateEvent(event: Extract<ExecutionEvent, { state: unknown }>): void {
    const { name, type, input } = event.state;
    const nested = event.index !== undefined;
    const hostId = nested ? hostIdOf(input) : undefined;
    const counts: ExecutionCounts | undefined = nested
      ? hostId === undefined
        ? undefined
        : this.child(hostId, event.timestamp)
      : this.parent;
    if (counts === undefined) return;

    if (event.type === "StateEntered") {
      counts.transitions++;
      counts.entries[name] = (counts.entries[name] ?? 0) + 1;
      // A Task's attempts are counted as retries arrive; count the first one here.
      const events = historyEventsOfEntry(type, 1);
      counts.historyEvents += events;
      counts.eventsByState[name] = (counts.eventsByState[name] ?? 0) + events;
      this.payload(hostId, name, input);
      if (!nested) {
        this.parentEnteredAt.set(name, event.timestamp);
        if (name === "UpgradeWaveHosts") this.waves++;
        return;
      }
      if (name.startsWith("RecordHost")) this.recordEnteredAt.set(hostId ?? "", event.timestamp);
      const match = STEP_STATE.exec(name);
      const step = stepOf(match?.[1] ?? match?.[2] ?? match?.[3]);
      if (step !== undefined && hostId !== undefined) {
        const key = `${hostId} ${step}`;
        let sample = this.steps.get(key);
        if (sample === undefined) {
          sample = { hostId, step, sentAt: event.timestamp, transitions: 0 };
          this.steps.set(key, sample);
        }
        sample.transitions++;
      }
      return;
    }
    if (event.type === "StateRetried") {
      counts.transitions++;
      counts.historyEvents += 3;
      counts.eventsByState[name] = (counts.eventsByState[name] ?? 0) + 3;
      return;
    }
    if (event.type !== "StateExited") return;

    const output = (event.state as { output?: unknown }).output;
    this.payload(hostId, name, output);
    if (!nested) {
      const entered = this.parentEnteredAt.get(name);
      if (entered !== undefined) {
        this.parentStateMs[name] = (this.parentStateMs[name] ?? 0) + event.timestamp - entered;
      }
      return;
    }
    (counts as ChildSample).lastExitAt = event.timestamp;
    if (name.startsWith("RecordHost") && hostId !== undefined) {
      const entered = this.recordEnteredAt.get(hostId);
      if (entered !== undefined) (counts as ChildSample).recordMs += event.timestamp - entered;
      return;
    }
    const step = stepOf(DONE_TASK.exec(name)?.[1]);
    if (step === undefined || hostId === undefined) return;
    const state = (output as Record<string, unknown> | undefined)?.[step] as
      | { done?: boolean; commandId?: string }
      | undefined;
    const sample = this.steps.get(`${hostId} ${step}`);
    if (sample !== undefined && state?.done === true) {
      sample.doneAt = event.timestamp;
      if (state.commandId !== undefined) sample.commandId = state.commandId;
    }
  }

  private payload(hostId: string | undefined, state: string, value: unknown): void {
    const bytes = jsonBytes(value);
    if (hostId === undefined) {
      if (bytes > (this.largestParent.get(state)?.bytes ?? -1)) {
        this.largestParent.set(state, { bytes, state, value });
      }
    } else if (bytes > this.largestChild.bytes) {
      this.largestChild = { bytes, state };
    }
  }
}

function hostIdOf(value: unknown): string | undefined {
  const item = value as { host?: { hostId?: unknown }; outcome?: unknown } | undefined;
  // A VerifyWaveHosts child (seeded "stoppedServing") is not the host's upgrade: the
  // per-host figures are those of the upgrade child alone.
  if (item?.outcome === "stoppedServing" || item?.outcome === "unverified") return undefined;
  return typeof item?.host?.hostId === "string" ? item.host.hostId : undefined;
}

/** Per-host on-host time, for the orchestration-overhead denominators. */
export interface HostWork {
  readonly hostId: string;
  readonly wave: number;
  /** Order of the host in the rollout (the Map's item order). */
  readonly order: number;
  /** Sum of the host's command run times (start to end on the host), ms. */
  readonly commandMs: number;
}

/**
 * The makespan a zero-overhead orchestrator would reach with the same plan: waves in
 * sequence, within a wave the hosts in order on `batchSize` slots, each host taking
 * its measured on-host time and starting the moment a slot frees (the Map's
 * MaxConcurrency is a sliding window, not fixed batches). With `batchSize` 1 this is
 * the plain sum of the on-host times.
 */
export function idealMakespan(hosts: readonly HostWork[], batchSize: number): number {
  const waves = new Map<number, HostWork[]>();
  for (const host of hosts) waves.set(host.wave, [...(waves.get(host.wave) ?? []), host]);
  let total = 0;
  for (const wave of [...waves.keys()].sort((a, b) => a - b)) {
    const slots = new Array<number>(Math.max(1, batchSize)).fill(0);
    const ordered = (waves.get(wave) ?? []).sort((a, b) => a.order - b.order);
    for (const host of ordered) {
      const free = slots.indexOf(Math.min(...slots));
      slots[free] = (slots[free] ?? 0) + host.commandMs;
    }
    total += Math.max(...slots);
  }
  return total;
}

/**
 * The batch-synchronous variant: hosts cut into consecutive batches of `batchSize`
 * within each wave, each batch taking its longest host. Shown beside
 * {@link idealMakespan} because it is the usual reading of "batches".
 */
export function batchCriticalPath(hosts: readonly HostWork[], batchSize: number): number {
  const waves = new Map<number, HostWork[]>();
  for (const host of hosts) waves.set(host.wave, [...(waves.get(host.wave) ?? []), host]);
  let total = 0;
  for (const list of waves.values()) {
    const ordered = [...list].sort((a, b) => a.order - b.order);
    for (let i = 0; i < ordered.length; i += batchSize) {
      total += Math.max(...ordered.slice(i, i + batchSize).map((h) => h.commandMs));
    }
  }
  return total;
}
