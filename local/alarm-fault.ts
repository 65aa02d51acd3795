/**
 * The `alarm:AFTER_N_HOSTS` fault: the local CloudWatch stand-in sets the rollout's
 * alarms to ALARM once N hosts have finished, as a real alarm firing mid-rollout would.
 * The count is taken where the runner sees a host finish, its RecordHost task: the
 * alarm is in ALARM before the Map starts another host, so the hosts in flight finish
 * and every host that starts later is held back by the alarm gate.
 *
 * @module
 */
import type { LocalCloudWatch } from "./cloudwatch.js";

/** Alarm the fault fires when the execution input names none (the runner then adds it). */
export const LOCAL_FAULT_ALARM = "local-fault-alarm";

/** Task states that record a host's end, success or failure. */
const HOST_FINISHED_STATES = ["RecordHostResult", "RecordHostFailure"];

/** What {@link withAlarmFault} needs. */
export interface AlarmFault {
  /** Hosts that finish before the alarms fire (at least 1). */
  readonly afterHosts: number;
  /** Alarms set to ALARM. */
  readonly alarms: readonly string[];
  readonly cloudWatch: LocalCloudWatch;
  /** Told once, when the alarms fire. */
  readonly onFire?: (alarms: readonly string[]) => void;
}

type Handlers = Readonly<Record<string, (input: unknown) => Promise<unknown>>>;

/** `handlers` with the host-finishing tasks counted, firing the alarms at the Nth. */
export function withAlarmFault(handlers: Handlers, fault: AlarmFault): Handlers {
  let finished = 0;
  const wrapped: Record<string, (input: unknown) => Promise<unknown>> = { ...handlers };
  for (const state of HOST_FINISHED_STATES) {
    const handler = handlers[state];
    if (handler === undefined) continue;
    wrapped[state] = async (input) => {
      const result = await handler(input);
      finished++;
      if (finished === fault.afterHosts) {
        for (const name of fault.alarms) fault.cloudWatch.setAlarm(name, "ALARM");
        fault.onFire?.(fault.alarms);
      }
      return result;
    };
  }
  return wrapped;
}

/** The alarms the fault fires: those the execution input names, else {@link LOCAL_FAULT_ALARM}. */
export function faultAlarms(input: Readonly<Record<string, unknown>>): string[] {
  const named = input.alarms;
  return Array.isArray(named) && named.length > 0
    ? named.filter((name): name is string => typeof name === "string")
    : [LOCAL_FAULT_ALARM];
}
