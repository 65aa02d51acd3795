/**
 * The `alarm:AFTER_N_HOSTS` fault end to end, in local mode: an alarm that fires
 * mid-rollout halts it; the hosts in flight finish, the hosts that start later are
 * held back naming the alarm, and the rollout item and the Fail cause say why.
 */
import { describe, expect, it } from "vitest";
import { LOCAL_FAULT_ALARM } from "../../local/alarm-fault.js";
import { parseFault } from "../../local/fleet.js";
import { readLedger } from "../../local/ledger-view.js";
import { runRollout } from "../../local/runner.js";
import { fleetSuite, inputFor } from "./faults-harness.js";

const fleet = fleetSuite("controls-alarm-fault", { hosts: 3, faults: [] });

describe("--fault alarm:AFTER_N_HOSTS", () => {
  it("parses the number of hosts after which the alarms fire", () => {
    expect(parseFault("alarm:2", 3)).toEqual({ kind: "alarm", afterHosts: 2 });
    expect(() => parseFault("alarm", 3)).toThrow(/expected alarm:AFTER_N_HOSTS/);
    expect(() => parseFault("alarm:4", 3)).toThrow(/between 1 and 3/);
    expect(() => parseFault("alarm:1,2", 3)).toThrow(/not a number of hosts/);
  });

  it("halts a rollout whose alarm fires mid-wave: hosts in flight finish, later ones are held back", async () => {
    // Prepare: one wave of three hosts, two at a time; the alarm fires after the first
    const { canary: _, ...base } = await inputFor(fleet.env, fleet.hosts);
    const input = { ...base, batchSize: 2, waves: [3], alarms: ["errors-fault"] };
    const fired: string[] = [];

    // Act
    const report = await runRollout(fleet.env, {
      targetVersion: "2.0.0",
      batchSize: 2,
      canary: 0,
      failureThreshold: 0,
      rolloutId: "alarm-fault-1",
      jobsPerHost: 1,
      input,
      alarmAfterHosts: 1,
      onAlarmFault: (alarms) => fired.push(...alarms),
    });

    // Assess: both hosts started before the alarm upgraded; the third never started
    expect(fired).toEqual(["errors-fault"]);
    expect(report.status).toBe("HALTED");
    const [first, second, third] = report.hosts;
    expect([first?.status, second?.status]).toEqual(["UPGRADED", "UPGRADED"]);
    expect([first?.runningVersion, second?.runningVersion]).toEqual(["2.0.0", "2.0.0"]);
    expect(third).toMatchObject({ status: "NOT_STARTED", runningVersion: "1.0.0" });
    expect(third?.error).toBe('AlarmInAlarm: alarm "errors-fault" is in ALARM');
    expect(report.error).toBe('RolloutHalted: alarm "errors-fault" is in ALARM');
    const ledger = await readLedger(fleet.env.ledger, "alarm-fault-1");
    expect(ledger.rollout).toMatchObject({
      status: "HALTED",
      haltReason: 'alarm "errors-fault" is in ALARM',
    });
    expect(report.jobs.lost).toBe(0);
    fleet.env.cloudWatch.setAlarm("errors-fault", "OK");
  }, 180_000);

  it("adds its own alarm to an input the runner builds", async () => {
    // Act: hosts 1 and 2 are on 2.0.0 already; the alarm fires once the first is skipped
    const report = await runRollout(fleet.env, {
      targetVersion: "2.0.0",
      batchSize: 1,
      canary: 0,
      failureThreshold: 0,
      rolloutId: "alarm-fault-2",
      jobsPerHost: 0,
      hostIds: [fleet.host(1).instanceId, fleet.host(2).instanceId],
      alarmAfterHosts: 1,
    });

    // Assess
    expect(report.status).toBe("HALTED");
    expect(report.hosts.map((h) => [h.status, h.error])).toEqual([
      ["SKIPPED", null],
      ["NOT_STARTED", `AlarmInAlarm: alarm "${LOCAL_FAULT_ALARM}" is in ALARM`],
    ]);
    fleet.env.cloudWatch.setAlarm(LOCAL_FAULT_ALARM, "OK");
  }, 180_000);
});
