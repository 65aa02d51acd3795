/**
 * The rollout gates end to end, in local mode, on a fleet of three demo-agent hosts:
 * the suspend-window gate (`maxSuspendMs`) and the alarm gate (`alarms`), each on
 * its own fleet state (every test starts from the fleet on 1.0.0).
 */
import { describe, expect, it } from "vitest";
import { runRollout } from "../../local/runner.js";
import { fleetSuite, inputFor } from "./faults-harness.js";

const fleet = fleetSuite("controls-gates", { hosts: 3, faults: [] });

/** A console input with growing waves for the fleet. */
async function gatedInput(overrides: Record<string, unknown>) {
  const { canary: _, ...base } = await inputFor(fleet.env, fleet.hosts);
  return { ...base, waves: [1, "100%"], ...overrides };
}

const options = { targetVersion: "2.0.0", batchSize: 1, canary: 0, failureThreshold: 0 };

describe("suspend-window gate", () => {
  it("fails a canary that suspended its jobs too long and halts before the rest", async () => {
    // Prepare: a limit no real switch meets
    const input = await gatedInput({ maxSuspendMs: 1 });

    // Act
    const report = await runRollout(fleet.env, {
      ...options,
      rolloutId: "suspend-1",
      jobsPerHost: 1,
      input,
    });

    // Assess: the canary stays on the new release, the others are untouched
    expect(report.status).toBe("HALTED");
    const [canary, ...others] = report.hosts;
    expect(canary).toMatchObject({ status: "FAILED", runningVersion: "2.0.0" });
    expect(canary?.error).toMatch(
      /^SuspendWindowExceeded: jobs were suspended for \d+ ms, over the limit maxSuspendMs 1 ms/,
    );
    expect(others.map((h) => [h.status, h.runningVersion])).toEqual([
      ["PENDING", "1.0.0"],
      ["PENDING", "1.0.0"],
    ]);
    expect(report.error).toMatch(/1 failed host\(s\) exceed the failure threshold 0/);
    expect(report.jobs.lost).toBe(0);
  }, 120_000);
});

describe("alarm gate", () => {
  it("holds every host back while an alarm is in ALARM and halts, naming the alarm", async () => {
    // Prepare: the fleet is back on 1.0.0 only in a fresh suite, so roll from there
    fleet.env.cloudWatch.setAlarm("local-errors", "ALARM");
    const input = await gatedInput({
      alarms: ["local-errors"],
      targetVersion: "2.0.0",
      hosts: { instanceIds: [fleet.host(2).instanceId, fleet.host(3).instanceId] },
      waves: [1],
    });

    // Act
    const report = await runRollout(fleet.env, {
      ...options,
      rolloutId: "alarm-1",
      jobsPerHost: 0,
      input,
    });

    // Assess: nothing was sent; the host held back names the alarm
    expect(report.status).toBe("HALTED");
    const [first, second] = report.hosts.slice(1);
    expect(first).toMatchObject({ status: "NOT_STARTED", runningVersion: "1.0.0" });
    expect(first?.error).toBe('AlarmInAlarm: alarm "local-errors" is in ALARM');
    expect(second).toMatchObject({ status: "PENDING", runningVersion: "1.0.0" });
    fleet.env.cloudWatch.setAlarm("local-errors", "OK");
  }, 120_000);
});
