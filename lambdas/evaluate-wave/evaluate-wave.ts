/**
 * EvaluateWave: after a wave's Map, decide whether the rollout continues.
 *
 * @module
 */
import { ALARM_GATE_ERROR, alarmReason } from "../common/alarms.js";
import type { Deps } from "../common/deps.js";
import { LedgerConflictError } from "../common/errors.js";
import {
  countByStatus,
  failedHosts,
  failedVerification,
  STOPPED_SERVING_ERROR,
  type StatusCounts,
  UNVERIFIED_ERROR,
  unfinishedHosts,
} from "../common/host-summary.js";
import type { Host, Rollout } from "../common/ledger/index.js";
import type { EvaluateWaveEvent } from "../common/schemas.js";

/** Decision of EvaluateWave (state `$.evaluation`). */
export interface EvaluateWaveResult {
  /**
   * BAKE: wait `bakeSeconds`, verify the wave's upgraded hosts again and evaluate it
   * again (`bakeSeconds` > 0, after every wave, the last included); then CONTINUE with
   * `nextWave`, or DONE after the last wave; HALT at any point.
   */
  readonly decision: "CONTINUE" | "BAKE" | "HALT" | "DONE";
  readonly wave: number;
  readonly nextWave: number;
  /** How long the bake waits; 0 unless BAKE. */
  readonly bakeSeconds: number;
  /** This wave's hosts by status. */
  readonly counts: StatusCounts;
  /** Hosts of the whole rollout that ended ROLLED_BACK or FAILED. */
  readonly failedCount: number;
  /** Why the rollout halts. */
  readonly reason?: string;
  /**
   * CONTINUE after a wave of `approval.afterWaves`: the execution waits for an
   * operator's approval at most this long before the next wave.
   */
  readonly approvalTimeoutSeconds?: number;
}

/**
 * Counts the wave's outcomes and the rollout's failures from the host items, then:
 * HALT when failures exceed `failureThreshold` (the hosts its verification found not
 * serving count, and the reason names them), the rollout was set HALTED/FAILED (an
 * operator's stop), or the fleet lock is no longer ours; BAKE when the rollout has a
 * `bakeSeconds` and this is the evaluation right after the wave (`previousDecision`
 * is not BAKE); DONE after the last wave; else CONTINUE. A host of this wave left in
 * a non-final status counts as a failure. The reason of a halt (who took the lock, or the failure count) is recorded
 * on the rollout item (`haltReason`). Also pushes the fleet lock's expiry (conditional on owning it) and raises
 * the rollout's `failedCount` if a crash left it behind the host items.
 */
export async function evaluateWave(
  deps: Deps<unknown>,
  event: EvaluateWaveEvent,
): Promise<EvaluateWaveResult> {
  const now = deps.clock.now();
  const rollout = await deps.store.getRollout(event.rolloutId);
  if (rollout === undefined) {
    throw new LedgerConflictError(`rollout ${event.rolloutId} is not in the ledger`);
  }
  const hosts = await deps.store.listHosts(event.rolloutId);
  const waveHosts = hosts.filter((host) => host.wave === event.wave);
  const failedCount = failedHosts(hosts).length;
  const unfinished = unfinishedHosts(waveHosts).length;
  if (failedCount > rollout.failedCount) {
    await deps.store.raiseFailedCount(event.rolloutId, failedCount, now);
  }
  const lockHeld = await deps.store.refreshLock({
    fleet: rollout.fleet,
    owner: event.rolloutId,
    now,
    ttlSeconds: rollout.input.lockTtlSeconds,
  });

  const failures = failedCount + unfinished;
  let reason: string | undefined;
  const alarm = await alarmHaltReason(deps, rollout, waveHosts);
  if (!lockHeld) {
    // Say who took it: a halt for a lost lock must not read as a failure count.
    const held = await deps.store.getHeldLock(rollout.fleet);
    const cause =
      held?.owner !== undefined && held.owner !== event.rolloutId
        ? `was taken by ${held.owner} (breakLock)`
        : "is no longer held by this rollout (expired or released)";
    reason = `the fleet lock of "${rollout.fleet}" ${cause}; ${failures} host(s) failed`;
  } else if (rollout.status === "HALTED" || rollout.status === "FAILED") {
    reason = `the rollout was set ${rollout.status}`;
  } else if (alarm !== undefined) {
    reason = alarm;
  } else if (failures > rollout.failureThreshold) {
    reason = `${failures} failed host(s)${
      unfinished > 0 ? ` (${unfinished} never finished)` : ""
    } exceed the failure threshold ${rollout.failureThreshold}${verificationNote(waveHosts)}`;
  }
  if (reason !== undefined) await deps.store.recordHaltReason(event.rolloutId, reason, now);
  const last = event.wave + 1 >= rollout.waveCount;
  const bake = rollout.input.bakeSeconds > 0 && event.previousDecision !== "BAKE";
  const decision = reason !== undefined ? "HALT" : bake ? "BAKE" : last ? "DONE" : "CONTINUE";
  const result: EvaluateWaveResult = {
    decision,
    wave: event.wave,
    nextWave: event.wave + 1,
    bakeSeconds: decision === "BAKE" ? rollout.input.bakeSeconds : 0,
    counts: countByStatus(waveHosts),
    failedCount,
    ...(reason === undefined ? {} : { reason }),
    ...approvalGate(rollout, event.wave, decision),
  };
  deps.logger?.info("wave evaluated", { rolloutId: event.rolloutId, ...result });
  return result;
}

/** Hosts named in a halt reason, at most. */
const NAMED_HOSTS = 10;

/**
 * `; <hosts> stopped serving after the switch` (and `; <hosts> could not be verified
 * after the switch`) for the wave's hosts that failed their verification.
 */
function verificationNote(waveHosts: readonly Host[]): string {
  const failed = failedVerification(waveHosts);
  const named = (name: string, what: string) => {
    const hosts = failed.filter((host) => host.error?.name === name).map((host) => host.hostId);
    if (hosts.length === 0) return "";
    const more = hosts.length > NAMED_HOSTS ? ` and ${hosts.length - NAMED_HOSTS} more` : "";
    return `; ${hosts.slice(0, NAMED_HOSTS).join(", ")}${more} ${what} after the switch`;
  };
  return (
    named(STOPPED_SERVING_ERROR, "stopped serving") +
    named(UNVERIFIED_ERROR, "could not be verified")
  );
}

/**
 * The alarm gate at a wave's end: a host of the wave held back by an alarm, or one of
 * the rollout's `alarms` in ALARM now, halts the rollout, naming the alarm.
 */
export async function alarmHaltReason(
  deps: Deps<unknown>,
  rollout: Rollout,
  waveHosts: readonly Host[],
): Promise<string | undefined> {
  const heldBack = waveHosts.find((host) => host.error?.name === ALARM_GATE_ERROR);
  if (heldBack?.error !== undefined) return heldBack.error.message;
  const names = rollout.input.alarms;
  if (names === undefined || deps.alarms === undefined) return undefined;
  const firing = await deps.alarms.alarmsInAlarm(names);
  return firing.length === 0 ? undefined : alarmReason(firing);
}

/** The approval the next wave waits for, when this wave is one of `approval.afterWaves`. */
function approvalGate(
  rollout: Rollout,
  wave: number,
  decision: EvaluateWaveResult["decision"],
): { approvalTimeoutSeconds?: number } {
  const approval = rollout.input.approval;
  if (decision !== "CONTINUE" || approval === undefined || !approval.afterWaves.includes(wave)) {
    return {};
  }
  return { approvalTimeoutSeconds: approval.timeoutSeconds };
}
