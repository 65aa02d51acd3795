/**
 * host-step: send one step's command to one host, or poll it, and turn its result
 * into a small {@link StepState} for the state machine.
 *
 * A step usually finishes within seconds, so after sending (or when asked to poll)
 * the function keeps polling inline with short intervals for up to
 * `INLINE_POLL_SECONDS`: most steps complete inside one invocation, without a chain
 * of Wait states. Longer steps hand back `{done: false, waitSeconds}`.
 *
 * @module
 */
import type { GetCommandInvocationCommandOutput } from "@aws-sdk/client-ssm";
import type { z } from "zod";
import { alarmReason } from "../common/alarms.js";
import { jobSnapshotSha256, verifyJobSnapshot } from "../common/command-output.js";
import { type Deps, isoTime, type RemainingTime } from "../common/deps.js";
import { type HostDocumentStep, hostDocumentName } from "../common/document-names.js";
import {
  CommandOutputError,
  HostStepFailedError,
  HostUnreachableError,
  LedgerConflictError,
} from "../common/errors.js";
import type {
  Host,
  HostStatus,
  Rollout,
  RolloutGate,
  StepResultFields,
} from "../common/ledger/index.js";
import { type Logger, silentLogger } from "../common/logger.js";
import {
  formatIssues,
  type HostRef,
  type HostStepEvent,
  type HostStepName,
  type PreflightResult,
  PreflightResultSchema,
  type RollbackResult,
  RollbackResultSchema,
  StageResultSchema,
  type StepName,
  type StepState,
  type SwitchResult,
  SwitchResultSchema,
} from "../common/schemas.js";
import { interpretInvocation, pollInvocation, sendCommand } from "../common/ssm-command.js";

/** Configuration of {@link runHostStep}. */
export interface HostStepConfig {
  /**
   * Prefix of the document names (`DOCUMENT_PREFIX`): a step runs
   * `<prefix>-<Step>-<profile>`, the document of the rollout's (validated) profile.
   */
  readonly documentPrefix: string;
  /** Command output bucket (`OUTPUT_BUCKET`). */
  readonly outputBucket: string;
  /** Inline polling budget per invocation (`INLINE_POLL_SECONDS`). @default 20 */
  readonly inlinePollSeconds: number;
  /** SendCommand `TimeoutSeconds` (`DELIVERY_TIMEOUT_SECONDS`). @default 600 */
  readonly deliveryTimeoutSeconds: number;
}

/** {@link Deps} plus a per-container cache of rollout items (immutable after planning). */
export interface HostStepDeps extends Deps<HostStepConfig> {
  readonly rolloutCache?: Map<string, Rollout>;
}

/** Time kept free at the end of an invocation: never poll past remaining − this. */
export const INVOCATION_RESERVE_MS = 5000;
/** An invocation SSM still does not know this long after sending means a lost command. */
export const MISSING_INVOCATION_LIMIT_MS = 120_000;

/**
 * Wait before the next poll: 2 s while the command is young, then 5 s, then 15 s, so
 * a long step (a slow download, a long health check) costs few state transitions.
 */
export function waitSecondsFor(ageMs: number): number {
  if (ageMs < 60_000) return 2;
  if (ageMs < 300_000) return 5;
  return 15;
}

/**
 * Sends or polls a step. On send: the preflight gate first (a halted or failed
 * rollout, or too many failures, stops the host before anything is sent); a command
 * already recorded for this step (a Lambda retry) is polled instead of sent again.
 * `verify` is sent only to a host the ledger has UPGRADED (any other is answered
 * NOT_UPGRADED at once) and, read-only, is not recorded.
 *
 * @param context - remaining invocation time; polling stops 5 s before the end
 */
export async function runHostStep(
  deps: HostStepDeps,
  event: HostStepEvent,
  context?: RemainingTime,
): Promise<StepState> {
  const start = deps.clock.now();
  const { host, step } = event;
  const log = (deps.logger ?? silentLogger).child({
    rolloutId: host.rolloutId,
    hostId: host.hostId,
    step,
  });
  const rollout = await loadRollout(deps, host.rolloutId);

  let commandId: string;
  let sentAt: string;
  if (event.action === "poll") {
    commandId = event.command.commandId;
    sentAt = event.command.sentAt ?? isoTime(start);
  } else {
    const spec = STEPS[step];
    if (spec.gated === true) {
      // The first step of a host (a rollout's preflight, a rollback's only step): the
      // gate needs the live status and failedCount, not the cached plan.
      const gate = await deps.store.getRolloutGate(host.rolloutId);
      if (gate === undefined) {
        throw new LedgerConflictError(`rollout ${host.rolloutId} is not in the ledger`);
      }
      const halt = gateReason(gate) ?? (await alarmGateReason(deps, rollout));
      if (halt !== undefined) {
        log.info("host not started", { reason: halt });
        return { step, done: true, waitSeconds: 0, status: "HALTED", summary: { reason: halt } };
      }
    }
    const item = await deps.store.getHost(host);
    if (item === undefined) {
      throw new LedgerConflictError(
        `host ${host.hostId} of rollout ${host.rolloutId} is not in the ledger`,
      );
    }
    sentAt = isoTime(start);
    const recorded = spec.recorded === undefined ? undefined : item.commands[spec.recorded.step];
    const answer = spec.answerUnsent?.(rollout, item);
    if (answer !== undefined) {
      log.info("command not sent", { ...answer, hostStatus: item.status });
      return {
        step,
        done: true,
        waitSeconds: 0,
        status: answer.status,
        ...(answer.reason === undefined ? {} : { summary: { reason: answer.reason } }),
      };
    }
    if (spec.recorded === undefined) {
      commandId = await send(deps, rollout, host, step, item);
      log.info("command sent", { commandId });
    } else if (recorded !== undefined) {
      log.warn("command already sent for this step; polling it", { commandId: recorded });
      commandId = recorded;
    } else {
      commandId = await send(deps, rollout, host, step, item);
      const result = await deps.store.recordCommand({
        key: host,
        step: spec.recorded.step,
        commandId,
        status: spec.recorded.status,
        from: spec.recorded.from,
        now: deps.clock.now(),
      });
      if (!result.recorded) {
        // A concurrent attempt recorded its command first; ours is a duplicate the
        // host mutex serialises and finds done, so follow the recorded one.
        log.warn("another attempt recorded its command first", {
          sent: commandId,
          recorded: result.commandId,
        });
        commandId = result.commandId;
      } else {
        log.info("command sent", { commandId });
      }
    }
  }

  const budgetMs = Math.min(
    deps.config.inlinePollSeconds * 1000,
    (context?.getRemainingTimeInMillis() ?? Number.POSITIVE_INFINITY) - INVOCATION_RESERVE_MS,
  );
  const sentAtMs = Date.parse(sentAt);
  // The command's age sets the poll spacing: after a Wait state a long step is checked
  // once a second, not again from 100 ms; right after sending, the first check waits
  // the 100 ms no command could finish in.
  const poll = await pollInvocation({
    ssm: deps.ssm,
    clock: deps.clock,
    commandId,
    instanceId: host.instanceId,
    deadline: start + Math.max(0, budgetMs),
    sentAt: sentAtMs,
  });
  const ageMs = deps.clock.now() - sentAtMs;
  if (poll.invocation === undefined) {
    if (!poll.exists && ageMs > MISSING_INVOCATION_LIMIT_MS) {
      throw new HostUnreachableError(
        `${step}: SSM has no invocation of command ${commandId} on ${host.instanceId} ${Math.round(ageMs / 1000)} s after sending`,
      );
    }
    return { step, commandId, done: false, waitSeconds: waitSecondsFor(ageMs), sentAt };
  }
  return complete(deps, rollout, host, step, commandId, sentAt, poll.invocation, log);
}

/** Why the preflight gate stops a host, if it does. */
export function gateReason(rollout: RolloutGate): string | undefined {
  if (rollout.status === "HALTED" || rollout.status === "FAILED") {
    return `rollout is ${rollout.status}`;
  }
  if (rollout.failedCount > rollout.failureThreshold) {
    return `${rollout.failedCount} failed host(s) exceed the failure threshold ${rollout.failureThreshold}`;
  }
  return undefined;
}

/**
 * The alarm gate before a host starts: the reason to hold it back when one of the
 * rollout's `alarms` is in ALARM (RecordHostResult records it, EvaluateWave halts).
 */
export async function alarmGateReason(
  deps: HostStepDeps,
  rollout: Rollout,
): Promise<string | undefined> {
  const names = rollout.input.alarms;
  if (names === undefined || deps.alarms === undefined) return undefined;
  const firing = await deps.alarms.alarmsInAlarm(names);
  return firing.length === 0 ? undefined : alarmReason(firing);
}

async function loadRollout(deps: HostStepDeps, rolloutId: string): Promise<Rollout> {
  const cached = deps.rolloutCache?.get(rolloutId);
  if (cached !== undefined) return cached;
  const rollout = await deps.store.getRollout(rolloutId);
  if (rollout === undefined)
    throw new LedgerConflictError(`rollout ${rolloutId} is not in the ledger`);
  if (deps.rolloutCache !== undefined) {
    // A container serves one state machine; a small bound is plenty.
    if (deps.rolloutCache.size >= 100) deps.rolloutCache.clear();
    deps.rolloutCache.set(rolloutId, rollout);
  }
  return rollout;
}

function send(deps: HostStepDeps, rollout: Rollout, host: HostRef, step: HostStepName, item: Host) {
  return sendCommand(deps.ssm, {
    documentName: hostDocumentName(
      deps.config.documentPrefix,
      STEPS[step].document,
      rollout.profile,
    ),
    instanceId: host.instanceId,
    parameters: stepParameters(rollout, step, item),
    deliveryTimeoutSeconds: deps.config.deliveryTimeoutSeconds,
    outputBucket: deps.config.outputBucket,
    outputKeyPrefix: `commands/${host.rolloutId}/${host.hostId}/${step}`,
    comment: `agent-rollout ${step} ${host.rolloutId}`,
  });
}

function parseResult<S extends z.ZodType>(
  schema: S,
  line: unknown,
  step: HostStepName,
): z.output<S> {
  const result = schema.safeParse(line, { reportInput: true });
  if (!result.success) {
    throw new CommandOutputError(`${step} result line: ${formatIssues(result.error)}`);
  }
  return result.data;
}

/** Keeps summary values small and JSON-simple; drops absent ones. */
function summary(
  fields: Record<string, unknown>,
): Record<string, string | number | boolean | null> {
  const out: Record<string, string | number | boolean | null> = {};
  for (const [key, value] of Object.entries(fields)) {
    if (value === undefined) continue;
    if (typeof value === "string")
      out[key] = value.length > 256 ? `${value.slice(0, 255)}…` : value;
    else if (typeof value === "number" || typeof value === "boolean" || value === null) {
      out[key] = value;
    }
  }
  return out;
}

const orUndefined = <T>(value: T | null | undefined): T | undefined => value ?? undefined;

/** What one step's finished command leaves: its result status, ledger fields and summary. */
interface StepOutcome {
  readonly status: string;
  readonly fields: Omit<StepResultFields, "stepMs">;
  readonly summary: Record<string, string | number | boolean | null>;
}

/** How the ledger records a step's command on the host item. */
interface RecordedStep {
  /** The step the command is recorded under (`commands`, `stepMs`, `<step>EndedAt`). */
  readonly step: StepName;
  /** Host status while the command runs. */
  readonly status: HostStatus;
  /** Statuses the host may start the step from. */
  readonly from: readonly HostStatus[];
}

/** Everything that differs between the steps; see {@link STEPS}. */
interface Step {
  /** The host document the step runs. */
  readonly document: HostDocumentStep;
  /** How the command is recorded; absent for a read-only step sent again on a retry. */
  readonly recorded?: RecordedStep;
  /** Result statuses a failed invocation may carry (switch: ROLLED_BACK, exit 3). */
  readonly resultOnFailure: readonly string[];
  /**
   * The host's first step (a rollout's preflight, a rollback's only step): sent only
   * past the gate (the rollout neither halted nor failed, failures within the
   * threshold, none of its alarms firing).
   */
  readonly gated?: boolean;
  /** The summary carries the rollout's `maxSuspendMs` (a step that suspends the agent). */
  readonly suspendLimited?: boolean;
  /** The answer given without sending, when the host item already decides it. */
  answerUnsent?(rollout: Rollout, host: Host): { status: string; reason?: string } | undefined;
  /** Emits the step's metrics from its outcome and the fields recorded. */
  measure?(
    deps: HostStepDeps,
    rollout: Rollout,
    outcome: StepOutcome,
    fields: StepResultFields,
  ): void;
  /** Document parameters (docs/contracts.md, "Host scripts"); `host` is the host's item. */
  parameters(rollout: Rollout, host?: Host): Record<string, string>;
  /** Checks the result line and records what it reports beyond the host item. */
  finish(deps: HostStepDeps, rollout: Rollout, host: HostRef, line: unknown): Promise<StepOutcome>;
}

/** A step's result handling, typed by its result line. */
interface StepSpec<R extends { status: string }> extends Omit<Step, "finish"> {
  readonly step: HostStepName;
  readonly schema: z.ZodType<R>;
  /** The status handed to the state machine. @default the result line's status */
  statusOf?(result: R, rollout: Rollout): string;
  /** Refuses a result that contradicts the rollout (throws `CommandOutputError`). */
  check?(result: R, rollout: Rollout): void;
  /** Completes the result with what the ledger knows (preflight: a switch to report). */
  resolve?(deps: HostStepDeps, rollout: Rollout, host: HostRef, result: R): Promise<R>;
  /** Writes what the result reports beyond the host item (the switch's job snapshot). */
  record?(deps: HostStepDeps, rollout: Rollout, host: HostRef, result: R): Promise<void>;
  /** Host item fields the result sets, besides the step's duration. */
  fields(result: R): Omit<StepResultFields, "stepMs">;
  /** Values returned to the state machine. */
  summary(result: R): Record<string, unknown>;
}

function defineStep<R extends { status: string }>(spec: StepSpec<R>): Step {
  return {
    ...spec,
    finish: async (deps, rollout, host, line) => {
      const parsed = parseResult(spec.schema, line, spec.step);
      spec.check?.(parsed, rollout);
      const result = (await spec.resolve?.(deps, rollout, host, parsed)) ?? parsed;
      await spec.record?.(deps, rollout, host, result);
      return {
        status: spec.statusOf?.(result, rollout) ?? result.status,
        fields: spec.fields(result),
        summary: summary(spec.summary(result)),
      };
    },
  };
}

const commonParameters = (rollout: Rollout) => ({
  profile: rollout.profile,
  targetVersion: rollout.targetVersion,
  rolloutId: rollout.rolloutId,
});

/** Refuses a preflight result about another version than the rollout's target. */
function checkPreflightTarget(result: PreflightResult, rollout: Rollout): void {
  if (result.targetVersion != null && result.targetVersion !== rollout.targetVersion) {
    throw new CommandOutputError(
      `preflight checked version ${result.targetVersion}, not the target ${rollout.targetVersion}`,
    );
  }
}

/**
 * Why a verified host does not serve the target, from its preflight result; undefined
 * when it does (SKIPPED: on the target, serving it, nothing interrupted).
 */
export function notServingReason(result: PreflightResult, rollout: Rollout): string | undefined {
  if (result.status === "SKIPPED") return undefined;
  if (result.currentVersion != null && result.currentVersion !== rollout.targetVersion) {
    return `runs ${result.currentVersion}, not the target ${rollout.targetVersion}`;
  }
  return result.reason ?? `on ${rollout.targetVersion} but not serving it`;
}

/** A preflight result, with the unreported switch the host's switch is to take over. */
type PreflightOutcome = PreflightResult & { readonly adoptRolloutId?: string };

/**
 * A host on the target and serving it is SKIPPED, unless the switch that brought it
 * there never reached the ledger: another rollout's switch record on the host
 * (`switchRecords`) with no snapshot item of that rollout for this host. That run ended
 * before the switch's result arrived (its execution stopped mid-switch, the rollout
 * failed while the command still ran); unreported, the release it left would never be
 * cleaned. Such a host is READY, and its switch takes that record over and reports it.
 */
async function adoptUnreportedSwitch(
  deps: HostStepDeps,
  rollout: Rollout,
  host: HostRef,
  result: PreflightOutcome,
): Promise<PreflightOutcome> {
  if (result.status !== "SKIPPED") return result;
  for (const owner of result.switchRecords ?? []) {
    if (owner === rollout.rolloutId) continue;
    if ((await deps.store.getSnapshot(host.hostId, owner)) !== undefined) continue;
    return {
      ...result,
      status: "READY",
      reason: `the switch of rollout ${owner} to ${rollout.targetVersion} finished here but never reached the ledger: READY so that the switch reports it`,
      adoptRolloutId: owner,
    };
  }
  return result;
}

/** Host item fields of a step that moved the agent between releases (switch, rollback). */
function cutoverFields(
  result: Pick<
    SwitchResult,
    "fromVersion" | "toVersion" | "currentVersion" | "suspendMs" | "listenerGapMs" | "unservedMs"
  >,
): Omit<StepResultFields, "stepMs"> {
  return {
    fromVersion: orUndefined(result.fromVersion),
    toVersion: orUndefined(result.currentVersion ?? result.toVersion),
    suspendMs: orUndefined(result.suspendMs),
    listenerGapMs: orUndefined(result.listenerGapMs),
    unservedMs: orUndefined(result.unservedMs),
  };
}

/** The steps, in order: what each one sends, expects back, records and reports. */
const STEPS: Readonly<Record<HostStepName, Step>> = {
  preflight: defineStep<PreflightOutcome>({
    step: "preflight",
    document: "preflight",
    recorded: { step: "preflight", status: "PREFLIGHT", from: ["PENDING"] },
    gated: true,
    resultOnFailure: [],
    parameters: commonParameters,
    schema: PreflightResultSchema,
    check: checkPreflightTarget,
    resolve: adoptUnreportedSwitch,
    fields: (result) => ({
      fromVersion: orUndefined(result.currentVersion),
      adoptRolloutId: result.adoptRolloutId,
    }),
    summary: (result) => ({
      currentVersion: result.currentVersion,
      targetVersion: result.targetVersion,
      freeMb: result.freeMb,
      reason: result.reason,
    }),
  }),
  stage: defineStep({
    step: "stage",
    document: "stage",
    recorded: { step: "stage", status: "STAGING", from: ["PREFLIGHT"] },
    resultOnFailure: [],
    parameters: (rollout) => ({
      profile: rollout.profile,
      targetVersion: rollout.targetVersion,
      artifactUrl: rollout.input.artifact.url,
      artifactSha256: rollout.input.artifact.sha256,
      rolloutId: rollout.rolloutId,
    }),
    schema: StageResultSchema,
    check: (result, rollout) => {
      if (result.sha256 != null && result.sha256 !== rollout.input.artifact.sha256) {
        throw new CommandOutputError(
          `stage verified sha256 ${result.sha256}, not the artifact's ${rollout.input.artifact.sha256}`,
        );
      }
    },
    fields: () => ({}),
    summary: (result) => ({
      release: result.release,
      sha256: result.sha256,
      durationMs: result.durationMs,
      reason: result.reason,
    }),
  }),
  switch: defineStep({
    step: "switch",
    document: "switch",
    recorded: { step: "switch", status: "SWITCHING", from: ["STAGING"] },
    resultOnFailure: ["ROLLED_BACK"],
    suspendLimited: true,
    measure: measureSwitch,
    parameters: (rollout, host) => ({
      ...commonParameters(rollout),
      ...(host?.adoptRolloutId === undefined ? {} : { adoptRolloutId: host.adoptRolloutId }),
    }),
    schema: SwitchResultSchema,
    record: async (deps, rollout, host, result) => {
      if (result.status === "SWITCHED" || repeatsThisSwitch(result)) {
        await writeSnapshot(deps, rollout, host, result);
      } else if (result.status === "ROLLED_BACK" && result.abandonedRelease != null) {
        await writeAbandoned(deps, rollout, host, result.abandonedRelease);
      }
    },
    fields: (result) => cutoverFields(result),
    summary: (result) => ({
      fromVersion: result.fromVersion,
      toVersion: result.toVersion,
      currentVersion: result.currentVersion,
      oldRelease: result.oldRelease,
      suspendMs: result.suspendMs,
      listenerGapMs: result.listenerGapMs,
      unservedMs: result.unservedMs,
      refused: result.refused,
      healthMs: result.healthMs,
      configureReport: result.configureReport,
      jobCount: result.jobs?.count,
      reason: result.reason,
    }),
  }),
  // The Preflight document, read-only: SKIPPED means on the target and serving it.
  verify: defineStep({
    step: "verify",
    document: "preflight",
    resultOnFailure: [],
    answerUnsent: (rollout, host) => {
      if (host.status !== "UPGRADED") return { status: "NOT_UPGRADED" };
      // A whole-rollout rollback whose hosts went back to different versions: the
      // verification checks the rollout's one target version only.
      if (host.toVersion === rollout.targetVersion) return undefined;
      const reason = `back on ${host.toVersion ?? "?"}, not ${rollout.targetVersion}: not verified`;
      return { status: "NOT_VERIFIED", reason };
    },
    parameters: commonParameters,
    schema: PreflightResultSchema,
    check: checkPreflightTarget,
    statusOf: (result, rollout) =>
      notServingReason(result, rollout) === undefined ? "SERVING" : "STOPPED_SERVING",
    fields: () => ({}),
    summary: (result) => ({
      currentVersion: result.currentVersion,
      targetVersion: result.targetVersion,
      reason: result.status === "SKIPPED" ? undefined : (result.reason ?? undefined),
    }),
  }),
  // A host found not serving after its switch goes back to its previous release; it
  // stays UPGRADED in the ledger until RecordStoppedServing moves it.
  revert: defineStep({
    step: "revert",
    document: "rollback",
    recorded: { step: "rollback", status: "UPGRADED", from: ["UPGRADED"] },
    resultOnFailure: [],
    parameters: (rollout) => ({ profile: rollout.profile, rolloutId: rollout.rolloutId }),
    schema: RollbackResultSchema,
    fields: () => ({}),
    summary: (result) => ({
      fromVersion: result.fromVersion,
      toVersion: result.toVersion,
      currentVersion: result.currentVersion,
      switchMode: result.switchMode,
      suspendMs: result.suspendMs,
      listenerGapMs: result.listenerGapMs,
      unservedMs: result.unservedMs,
      reason: result.reason,
    }),
  }),
  // A host of a whole-rollout rollback: back to the release it ran before.
  rollback: defineStep({
    step: "rollback",
    document: "rollback",
    recorded: { step: "rollback", status: "SWITCHING", from: ["PENDING"] },
    resultOnFailure: [],
    gated: true,
    suspendLimited: true,
    parameters: rollbackParameters,
    schema: RollbackResultSchema,
    record: recordRollback,
    fields: (result) => cutoverFields(result),
    summary: (result) => ({
      fromVersion: result.fromVersion,
      toVersion: result.toVersion,
      currentVersion: result.currentVersion,
      oldRelease: result.oldRelease,
      suspendMs: result.suspendMs,
      listenerGapMs: result.listenerGapMs,
      jobCount: result.jobs?.count,
      reason: result.reason,
    }),
  }),
};

/** Document parameters of a step (docs/contracts.md, "Host scripts"). */
export function stepParameters(
  rollout: Rollout,
  step: HostStepName,
  host?: Host,
): Record<string, string> {
  return STEPS[step].parameters(rollout, host);
}

/**
 * The Rollback document's parameters for a host of a whole-rollout rollback: it flips
 * only from the version the rolled-back rollout left to the one the host ran before,
 * both planned on the host item.
 */
function rollbackParameters(rollout: Rollout, host?: Host): Record<string, string> {
  if (host?.fromVersion === undefined || host.toVersion === undefined) {
    throw new LedgerConflictError(
      `rollback: host ${host?.hostId ?? "?"} of rollout ${rollout.rolloutId} has no planned fromVersion/toVersion`,
    );
  }
  return {
    profile: rollout.profile,
    rolloutId: rollout.rolloutId,
    fromVersion: host.fromVersion,
    toVersion: host.toVersion,
  };
}

async function complete(
  deps: HostStepDeps,
  rollout: Rollout,
  host: HostRef,
  step: HostStepName,
  commandId: string,
  sentAt: string,
  invocation: GetCommandInvocationCommandOutput,
  log: Logger,
): Promise<StepState> {
  const spec = STEPS[step];
  const stepMs = Math.max(0, deps.clock.now() - Date.parse(sentAt));
  let line: Record<string, unknown>;
  try {
    line = await interpretInvocation({
      invocation,
      s3: deps.s3,
      outputBucket: deps.config.outputBucket,
      what: step,
      resultOnFailure: spec.resultOnFailure,
    });
  } catch (error) {
    // A FAILED line that names the version the host serves: the ledger says so too,
    // not only the error's text (a switch whose resume failed serves the target).
    if (
      error instanceof HostStepFailedError &&
      error.currentVersion !== undefined &&
      spec.recorded !== undefined
    ) {
      await deps.store.recordStepResult({
        key: host,
        step: spec.recorded.step,
        commandId,
        fields: { stepMs, runningVersion: error.currentVersion },
        now: deps.clock.now(),
      });
    }
    throw error;
  }
  const outcome = await spec.finish(deps, rollout, host, line);
  const fields: StepResultFields = { stepMs, ...outcome.fields };
  const recorded = spec.recorded;
  if (recorded !== undefined) {
    await deps.store.recordStepResult({
      key: host,
      step: recorded.step,
      commandId,
      fields,
      now: deps.clock.now(),
    });
  }
  spec.measure?.(deps, rollout, outcome, fields);
  log.info("step finished", { commandId, status: outcome.status, stepMs });
  return {
    step,
    commandId,
    done: true,
    waitSeconds: 0,
    sentAt,
    status: outcome.status,
    summary:
      spec.suspendLimited === true ? withSuspendLimit(rollout, outcome.summary) : outcome.summary,
  };
}

/** The metrics of one switch result (CloudWatch embedded metric format). */
function measureSwitch(
  deps: HostStepDeps,
  rollout: Rollout,
  outcome: StepOutcome,
  fields: StepResultFields,
): void {
  const { suspendMs, listenerGapMs, unservedMs } = fields;
  const { jobCount: jobsRunning, refused } = outcome.summary;
  deps.metrics?.switchFinished({
    profile: rollout.profile,
    status: outcome.status,
    suspendMs,
    listenerGapMs,
    unservedMs,
    refused: typeof refused === "number" ? refused : undefined,
    jobsRunning,
  });
}

/**
 * The switch summary with the rollout's `maxSuspendMs` as `suspendLimitMs`, so that
 * RecordHostResult can judge the measured window without reading the rollout.
 */
export function withSuspendLimit(
  rollout: Rollout,
  summary: StepState["summary"],
): StepState["summary"] {
  const limit = rollout.input.maxSuspendMs;
  if (limit === undefined || summary === undefined) return summary;
  return { ...summary, suspendLimitMs: limit };
}

/**
 * An UNCHANGED switch that repeats this rollout's own switch (a repeated command after
 * the first one failed to resume, or whose result was never read): it names the release
 * it left and carries that switch's snapshot, which the ledger must hold for cleanup.
 */
function repeatsThisSwitch(result: SwitchResult): boolean {
  return result.status === "UNCHANGED" && result.oldRelease != null && result.jobs?.sha256 != null;
}

/**
 * Verifies the switch's job snapshot and writes it to the ledger, its cleanup
 * pending. Done before the
 * step returns: the nightly cleanup may delete the old release only on the strength
 * of this record. Idempotent: a repeat finds the same snapshot and writes nothing new.
 */
async function writeSnapshot(
  deps: HostStepDeps,
  rollout: Rollout,
  host: HostRef,
  result: SwitchResult,
): Promise<void> {
  if (result.currentVersion != null && result.currentVersion !== rollout.targetVersion) {
    throw new CommandOutputError(
      `switch reports ${result.status} but the host runs ${result.currentVersion}, not ${rollout.targetVersion}`,
    );
  }
  await putJobSnapshot(deps, rollout, host, `switch ${result.status}`, result);
}

/**
 * What a whole-rollout rollback leaves for the cleanup, once the host is back on the
 * release it ran before (ROLLED_BACK, or UNCHANGED: already there). The release it
 * left gets the snapshot of the jobs running at the rollback, so the nightly cleanup
 * deletes it once they end; the rolled-back rollout's snapshot for this host pinned
 * the release that is current again, so it is retired (cleanup DONE, `RETIRED`)
 * instead of being kept forever as "the current release". A host left alone (SKIPPED)
 * keeps both as they are.
 */
async function recordRollback(
  deps: HostStepDeps,
  rollout: Rollout,
  host: HostRef,
  result: RollbackResult,
): Promise<void> {
  if (result.status === "SKIPPED") return;
  if (result.jobs?.sha256 != null && result.oldRelease != null) {
    await putJobSnapshot(deps, rollout, host, `rollback ${result.status}`, result);
  }
  const original = rollout.rollbackOf;
  if (original === undefined) return;
  const retired = await deps.store.completeCleanup({
    hostId: host.hostId,
    rolloutId: original,
    result: {
      status: "RETIRED",
      reason: `rolled back by ${rollout.rolloutId}: the release it kept is current again`,
    },
    now: deps.clock.now(),
  });
  if (retired) {
    (deps.logger ?? silentLogger).info("snapshot of the rolled-back rollout retired", {
      hostId: host.hostId,
      rolloutId: original,
    });
  }
}

/** Verifies a step's job snapshot and writes it to the ledger, its cleanup pending. */
async function putJobSnapshot(
  deps: HostStepDeps,
  rollout: Rollout,
  host: HostRef,
  what: string,
  result: Pick<SwitchResult, "jobs" | "oldRelease" | "fromVersion">,
): Promise<void> {
  const { jobs } = result;
  if (
    jobs == null ||
    jobs.sha256 === null ||
    result.oldRelease == null ||
    result.fromVersion == null
  ) {
    throw new CommandOutputError(
      `${what} without a job snapshot (jobs, jobs.sha256), oldRelease or fromVersion`,
    );
  }
  verifyJobSnapshot({ ...jobs, sha256: jobs.sha256 });
  await deps.store.putSnapshot({
    hostId: host.hostId,
    rolloutId: host.rolloutId,
    instanceId: host.instanceId,
    profile: rollout.profile,
    oldVersion: result.fromVersion,
    oldRelease: result.oldRelease,
    jobs: jobs.items,
    jobsSha256: jobs.sha256,
    now: deps.clock.now(),
  });
}

/**
 * Records the target release a rolled-back switch left behind for the nightly cleanup:
 * an empty snapshot (the agent stayed suspended while it was tried, no job ran on it).
 */
async function writeAbandoned(
  deps: HostStepDeps,
  rollout: Rollout,
  host: HostRef,
  release: string,
): Promise<void> {
  await deps.store.putSnapshot({
    hostId: host.hostId,
    rolloutId: host.rolloutId,
    instanceId: host.instanceId,
    profile: rollout.profile,
    oldVersion: rollout.targetVersion,
    oldRelease: release,
    abandoned: true,
    jobs: [],
    jobsSha256: jobSnapshotSha256([]),
    now: deps.clock.now(),
  });
}
