/**
 * The alarm gate's reader: which of a rollout's CloudWatch alarms are in ALARM, read
 * with DescribeAlarms (`AlarmNames`, up to 100 per call; a rollout names at most 10).
 *
 * @module
 */
import { CloudWatchClient, DescribeAlarmsCommand } from "@aws-sdk/client-cloudwatch";
import { MAX_ATTEMPTS } from "./clients.js";

/** Reads alarm states. */
export interface AlarmReader {
  /** The names among `names` whose alarm (metric or composite) is in ALARM, in `names` order. */
  alarmsInAlarm(names: readonly string[]): Promise<string[]>;
}

/** An {@link AlarmReader} on CloudWatch. An alarm that does not exist is not in ALARM. */
export function cloudWatchAlarmReader(client: CloudWatchClient): AlarmReader {
  return {
    async alarmsInAlarm(names) {
      if (names.length === 0) return [];
      const out = await client.send(
        new DescribeAlarmsCommand({
          AlarmNames: [...names],
          AlarmTypes: ["MetricAlarm", "CompositeAlarm"],
          StateValue: "ALARM",
        }),
      );
      const firing = new Set(
        [...(out.MetricAlarms ?? []), ...(out.CompositeAlarms ?? [])].map((a) => a.AlarmName),
      );
      return names.filter((name) => firing.has(name));
    },
  };
}

let reader: AlarmReader | undefined;

/** The container's alarm reader (endpoint from `ENDPOINT_CLOUDWATCH`), made at first use. */
export function getAlarmReader(): AlarmReader {
  if (reader === undefined) {
    const endpoint = process.env.ENDPOINT_CLOUDWATCH || undefined;
    const client = new CloudWatchClient({
      maxAttempts: MAX_ATTEMPTS,
      ...(endpoint === undefined
        ? {}
        : { endpoint, region: process.env.AWS_REGION ?? "us-east-1" }),
    });
    reader = cloudWatchAlarmReader(client);
  }
  return reader;
}

/** The halt reason naming the alarms in ALARM. */
export function alarmReason(firing: readonly string[]): string {
  return `alarm ${firing.map((name) => JSON.stringify(name)).join(", ")} ${
    firing.length === 1 ? "is" : "are"
  } in ALARM`;
}

/** Name of the error a host stopped by the alarm gate is recorded with. */
export const ALARM_GATE_ERROR = "AlarmInAlarm";
