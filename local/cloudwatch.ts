/**
 * The local CloudWatch stand-in for the alarm gate: DescribeAlarms only, on the wire
 * @aws-sdk/client-cloudwatch 3.116x speaks (AWS JSON 1.0, `X-Amz-Target:
 * GraniteServiceVersion20100801.DescribeAlarms`, query-compatible errors). Alarms
 * exist only once set; like CloudWatch, an unknown name is simply not returned.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

/** Alarm states CloudWatch knows. */
export type AlarmState = "OK" | "ALARM" | "INSUFFICIENT_DATA";

/** A running stand-in. */
export interface LocalCloudWatch {
  readonly endpoint: string;
  /** Creates or changes an alarm's state. */
  setAlarm(name: string, state: AlarmState): void;
  close(): Promise<void>;
}

const TARGET = "GraniteServiceVersion20100801.DescribeAlarms";

/** Starts the stand-in on 127.0.0.1 (a free port). */
export async function startLocalCloudWatch(): Promise<LocalCloudWatch> {
  const alarms = new Map<string, AlarmState>();
  const server: Server = createServer((req, res) => {
    let body = "";
    req.on("data", (chunk) => {
      body += chunk;
    });
    req.on("end", () => {
      const reply = (status: number, payload: unknown) => {
        res.writeHead(status, { "content-type": "application/x-amz-json-1.0" });
        res.end(JSON.stringify(payload));
      };
      if (req.headers["x-amz-target"] !== TARGET) {
        reply(400, { __type: "UnknownOperationException", message: "only DescribeAlarms" });
        return;
      }
      const input = JSON.parse(body || "{}") as { AlarmNames?: string[]; StateValue?: string };
      // DescribeAlarms: AlarmNames holds at most 100 names.
      if ((input.AlarmNames?.length ?? 0) > 100) {
        reply(400, { __type: "InvalidParameterValue", message: "AlarmNames: at most 100" });
        return;
      }
      const names = input.AlarmNames ?? [...alarms.keys()];
      const matching = names.filter(
        (name) =>
          alarms.has(name) &&
          (input.StateValue === undefined || alarms.get(name) === input.StateValue),
      );
      reply(200, {
        MetricAlarms: matching.map((name) => ({ AlarmName: name, StateValue: alarms.get(name) })),
        CompositeAlarms: [],
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    setAlarm: (name, state) => alarms.set(name, state),
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
