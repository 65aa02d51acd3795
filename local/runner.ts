import "./polyfills.js";
import { randomUUID } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  ExecutionAbortedError,
  ExecutionTimeoutError,
  type StateMachine,
} from "aws-local-stepfunctions";
import { faultAlarms, LOCAL_FAULT_ALARM, withAlarmFault } from "./alarm-fault.js";
import {
  type Approver,
  LOCAL_TASK_TOKEN,
  localDefinition,
  neverAnswer,
  withApprovalGate,
} from "./approval.js";
import { stopwatch } from "./clock.js";
import type { LocalEnvironment } from "./environment.js";
import { executionEnded, executionStarted } from "./executions.js";
import type { FleetHost } from "./fleet.js";
import { type LedgerHost, readLedger } from "./ledger-view.js";
import { withListenerFault } from "./listener-fault.js";
import { logOffset, type RunMetric, readRunMetrics } from "./run-metrics.js";
import {
  type ExecutionFailure,
  type ExecutionLimits,
  type ExecutionMeasure,
  executionFailure,
  type StrictMeasurements,
  StrictStateMachine,
} from "./strict-state-machine.js";
import { NO_WORKLOAD, startWorkload, type WorkloadStats } from "./workload.js";

/** One event of the local execution's event log (state entered/exited, Map iteration, ...). */
export type ExecutionEvent =
  ReturnType<StateMachine["run"]>["eventLogs"] extends AsyncGenerator<infer E> ? E : never;

/** Options of one local rollout. */
export interface RolloutOptions {
  readonly rolloutId?: string;
  readonly targetVersion: string;
  readonly batchSize: number;
  readonly canary: number;
  readonly failureThreshold: number;
  readonly waveSize?: number;
  readonly bakeSeconds?: number;
  /** Jobs kept running on every host during the rollout. */
  readonly jobsPerHost: number;
  /** Job duration range in seconds. */
  readonly jobSeconds?: readonly [number, number];
  /** Host ids in rollout order; default every host of the fleet. */
  readonly hostIds?: readonly string[];
  /**
   * Called whenever a host's status in the ledger changes. Without it the ledger is
   * not watched during the rollout (no extra reads that a benchmark would count).
   */
  readonly onHostChange?: (host: LedgerHost, elapsedMs: number) => void;
  /** Receives every event of the execution's log, Map iterations included (benchmarks). */
  readonly onEvent?: (event: ExecutionEvent) => void;
  /**
   * Wait state name -> milliseconds to wait instead of what the state says: models
   * another wait policy on the same definition (e.g. a fixed 5 s poll interval).
   */
  readonly waitTimeOverrides?: Readonly<Record<string, number>>;
  /** Aborts the execution (Ctrl-C). */
  readonly signal?: AbortSignal;
  /** Lower quotas than Step Functions' (tests that need an execution to hit one). */
  readonly limits?: Partial<ExecutionLimits>;
  /**
   * An execution input as pasted in the console, run instead of the one built from
   * these options (see {@link consoleInput}).
   */
  readonly input?: Readonly<Record<string, unknown>>;
  /** The owner of the fleet lock to break (`breakLock`), a rollout that no longer runs. */
  readonly breakLock?: string;
  /**
   * `--fault alarm:N`: the input's alarms (or {@link LOCAL_FAULT_ALARM}, added to a
   * built input) go to ALARM once this many hosts have finished.
   */
  readonly alarmAfterHosts?: number;
  /** Told when the alarm fault fires. */
  readonly onAlarmFault?: (alarms: readonly string[]) => void;
  /**
   * `--fault listener-dies:HOSTS`: instance ids whose listener is killed right after
   * their switch was recorded UPGRADED (local/listener-fault.ts).
   */
  readonly listenerDiesOn?: readonly string[];
  /** When the listener dies: right after the switch, or in the wave's bake. @default "switch" */
  readonly listenerDiesWhen?: "switch" | "bake";
  /** Told when the listener fault kills a host's listener. */
  readonly onListenerFault?: (host: FleetHost, pids: readonly number[]) => void;
  /**
   * Answers the approval gate (`approval` in the input; local/approval.ts). @default
   * none: an approval is never answered and its wait ends with its timeout
   */
  readonly approver?: Approver;
}

/** One host in the report. */
export interface HostReport {
  hostId: string;
  computerName: string;
  fromVersion: string | null;
  toVersion: string | null;
  /** Version the host's link points to after the rollout, read on the host. */
  runningVersion: string | null;
  status: string;
  suspendMs: number | null;
  listenerGapMs: number | null;
  /** Client-seen: how long the port refused connections during the switch. */
  unservedMs: number | null;
  error: string | null;
}

/** What `--report FILE` writes; every figure measured. */
export interface RolloutReport {
  status: string;
  rolloutId: string;
  /** The rollout this one rolled back (`{"rollback": "<rolloutId>"}`), else null. */
  rollbackOf: string | null;
  durationMs: number;
  error: string | null;
  /**
   * How close the execution and its host child executions came to Step Functions'
   * payload and history quotas, as the strict runner counted them.
   */
  quotas: { parent: ExecutionMeasure | null; children: StrictMeasurements["children"] };
  hosts: HostReport[];
  /** Counted by the kit's workload driver, except `runningAtSwitch` (the ledger's snapshots). */
  jobs: WorkloadStats & { runningAtSwitch: number };
  /** The metrics the functions emitted during the run (EMF objects of the log file). */
  metrics: RunMetric[];
}

/**
 * Runs one rollout through the synthesized state machine, with the kit's workload
 * driver submitting work to every agent for the whole time, then waits for every
 * job to finish and reports what was measured.
 */
export async function runRollout(
  env: LocalEnvironment,
  options: RolloutOptions,
): Promise<RolloutReport> {
  const rolloutId =
    options.rolloutId ??
    `local-${new Date().toISOString().replace(/[:.]/g, "-")}-${randomUUID().slice(0, 8)}`;
  const hosts = options.hostIds ? options.hostIds.map((id) => env.fleet.host(id)) : env.fleet.hosts;
  const jobSeconds = options.jobSeconds ?? [2, 6];
  const kit = env.fleet.kit;
  // The driver runs even with no jobs to submit: it is the agents' scheduler server, which
  // their suspend and resume hooks (a recovery's resume included) must be able to reach.
  const workload = kit
    ? await startWorkload(kit, env.fleet, {
        jobsPerHost: options.jobsPerHost,
        jobSeconds,
        drainTimeoutMs: (jobSeconds[1] + 15) * 1_000,
      })
    : undefined;

  const input = options.input
    ? {
        ...(await consoleInput(env, options.input)),
        ...(options.breakLock === undefined ? {} : { breakLock: options.breakLock }),
      }
    : {
        targetVersion: options.targetVersion,
        artifact: await env.fleet.artifact(options.targetVersion),
        profile: env.profile,
        hosts: { instanceIds: hosts.map((h) => h.instanceId) },
        batchSize: options.batchSize,
        canary: options.canary,
        ...(options.waveSize ? { waveSize: options.waveSize } : {}),
        failureThreshold: options.failureThreshold,
        bakeSeconds: options.bakeSeconds ?? 0,
        dryRun: false,
        fleet: "local",
        ...(options.breakLock === undefined ? {} : { breakLock: options.breakLock }),
        ...(options.alarmAfterHosts === undefined ? {} : { alarms: [LOCAL_FAULT_ALARM] }),
      };
  const gatedHandlers = withApprovalGate(env.taskHandlers, options.approver ?? neverAnswer);
  const alarmedHandlers =
    options.alarmAfterHosts === undefined
      ? gatedHandlers
      : withAlarmFault(gatedHandlers, {
          afterHosts: options.alarmAfterHosts,
          alarms: faultAlarms(input),
          cloudWatch: env.cloudWatch,
          onFire: options.onAlarmFault,
        });
  const taskHandlers =
    options.listenerDiesOn === undefined
      ? alarmedHandlers
      : withListenerFault(alarmedHandlers, {
          hosts: options.listenerDiesOn.map((id) => env.fleet.host(id)),
          when: options.listenerDiesWhen,
          onKill: options.onListenerFault,
        });

  const logStart = await logOffset(env.lambdaLogFile);
  const clock = stopwatch();
  let stopWatching = false;
  const onHostChange = options.onHostChange;
  const watcher = (async () => {
    if (onHostChange === undefined) return;
    const seen = new Map<string, string>();
    while (!stopWatching) {
      const ledger = await readLedger(env.ledger, rolloutId).catch(() => undefined);
      for (const host of ledger?.hosts ?? []) {
        if (seen.get(host.hostId) !== host.status) {
          seen.set(host.hostId, host.status);
          onHostChange(host, clock.elapsedMs());
        }
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  })();

  // Let every agent reach its running-jobs level before the first host is touched.
  if (workload) await new Promise((r) => setTimeout(r, 500));

  let error: string | null = null;
  // As strict as Step Functions: payload and history quotas, uncatchable errors.
  const machine = new StrictStateMachine(localDefinition(env.definition) as never, {
    limits: options.limits,
  });
  executionStarted(rolloutId);
  const execution = machine.run(input as never, {
    overrides: {
      taskResourceLocalHandlers: taskHandlers as never,
      ...(options.waitTimeOverrides ? { waitTimeOverrides: { ...options.waitTimeOverrides } } : {}),
    },
    context: {
      Execution: {
        Id: `arn:aws:states:us-east-1:000000000000:execution:${env.stateMachineName}:${rolloutId}`,
        Name: rolloutId,
        StartTime: new Date().toISOString(),
        Input: input,
        RoleArn: "arn:aws:iam::000000000000:role/local",
      },
      // `$$.Task.Token` of the approval gate's task (local/approval.ts).
      Task: { Token: LOCAL_TASK_TOKEN },
      StateMachine: {
        Id: `arn:aws:states:us-east-1:000000000000:stateMachine:${env.stateMachineName}`,
        Name: env.stateMachineName,
      },
    } as never,
  });
  const onEvent = options.onEvent;
  const events = onEvent
    ? (async () => {
        for await (const event of execution.eventLogs) onEvent(event);
      })()
    : undefined;
  const onAbort = () => execution.abort();
  options.signal?.addEventListener("abort", onAbort, { once: true });
  // What Step Functions' status-change rules hand finish-rollout (lib/stopped-execution-recorder.ts).
  let ended: ExecutionFailure | undefined;
  try {
    await execution.result;
  } catch (caught) {
    const failure = executionFailure(caught);
    if (caught instanceof ExecutionAbortedError) {
      error = "execution aborted";
    } else if (caught instanceof ExecutionTimeoutError) {
      error = "execution timed out";
      ended = { Error: "ExecutionStopped", Cause: "TIMED_OUT" };
    } else if (failure !== undefined) {
      error = `${failure.Error}: ${failure.Cause}`;
      ended = failure;
    } else {
      error = describe(caught);
    }
  } finally {
    options.signal?.removeEventListener("abort", onAbort);
    executionEnded(rolloutId);
  }
  // The log closes with the execution; the last events are delivered before this settles.
  await events;
  const durationMs = clock.elapsedMs();
  const aborted = options.signal?.aborted === true;
  if (aborted) {
    // Step Functions runs no Catch on a stopped execution: record it as the operator
    // would, so the ledger says why and the fleet lock does not outlive the run.
    await env.invoke("finish-rollout", {
      rolloutId,
      outcome: "FAILED",
      error: { Error: "ExecutionAborted", Cause: "the execution was stopped from the local CLI" },
    });
  } else if (ended !== undefined) {
    // Every FAILED execution, as the FAILED rule sends it: one that failed uncaught
    // (States.DataLimitExceeded, States.Runtime) is recorded FAILED and its lock
    // released; one that ended in a Fail state keeps the final status it wrote.
    await env.invoke("finish-rollout", { rolloutId, outcome: "FAILED", error: ended });
  }

  // Jobs already dispatched run to their end even after Ctrl-C: none is lost.
  const jobs = workload ? await workload.stop() : NO_WORKLOAD;
  stopWatching = true;
  await watcher;

  const ledger = await readLedger(env.ledger, rolloutId);
  const hostReports: HostReport[] = [];
  for (const host of hosts) {
    const record = ledger.hosts.find((h) => h.hostId === host.instanceId);
    hostReports.push({
      hostId: host.instanceId,
      computerName: host.computerName,
      fromVersion: record?.fromVersion ?? null,
      toVersion: record?.toVersion ?? null,
      runningVersion: await env.fleet.runningVersion(host.instanceId),
      status: record?.status ?? "NOT_PLANNED",
      suspendMs: record?.suspendMs ?? null,
      listenerGapMs: record?.listenerGapMs ?? null,
      unservedMs: record?.unservedMs ?? null,
      error: record?.error ?? null,
    });
  }
  const status = aborted ? "ABORTED" : (ledger.rollout?.status ?? (error ? "REJECTED" : "UNKNOWN"));
  return {
    status,
    rolloutId,
    rollbackOf: ledger.rollout?.rollbackOf ?? null,
    durationMs,
    error: error ?? ledger.rollout?.error ?? null,
    quotas: {
      parent: machine.measurements.executions[0] ?? null,
      children: machine.measurements.children,
    },
    hosts: hostReports,
    jobs: {
      ...jobs,
      runningAtSwitch: ledger.snapshots.reduce((sum, s) => sum + s.jobCount, 0),
    },
    metrics: await readRunMetrics(env.lambdaLogFile, logStart),
  };
}

/** Writes the report as JSON, creating the directory if needed. */
export async function writeReport(file: string, report: unknown): Promise<void> {
  await mkdir(join(file, ".."), { recursive: true });
  await writeFile(file, `${JSON.stringify(report, null, 2)}\n`);
}

function describe(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}

/**
 * A console execution input run against the local fleet: passed as is, except that
 * `"artifact": "fleet"` becomes the fleet's own artifact of `targetVersion` (a local
 * fleet's artifacts are `file://` URLs whose digest depends on the kit's build).
 * Anything else, hosts included, is the operator's: an invalid input is refused by
 * PlanRollout exactly as in the console.
 */
export async function consoleInput(
  env: LocalEnvironment,
  input: Readonly<Record<string, unknown>>,
): Promise<Record<string, unknown>> {
  if (input.artifact !== "fleet" || typeof input.targetVersion !== "string") return { ...input };
  return { ...input, artifact: await env.fleet.artifact(input.targetVersion) };
}
