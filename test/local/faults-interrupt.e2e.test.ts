/**
 * Faults end to end, in local mode (one fleet of three demo-agent hosts): the
 * orchestrator stopped mid-rollout while a switch hangs (and is then killed by its
 * execution timeout, capped to 6 s here), a rollout that dies holding the fleet lock,
 * the same rollout run again, and the whole rollout rolled back by rolling out the
 * previous version while its releases are still on the hosts.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import type { RolloutReport } from "../../local/runner.js";
import {
  fleetSuite,
  health,
  inputFor,
  invocationsOf,
  ledgerItem,
  linkOf,
  resultLine,
  runExecution,
  stepOf,
  waitFor,
} from "./faults-harness.js";

const fleet = fleetSuite(
  "faults-interrupt",
  { hosts: 3, faults: [{ kind: "hang", hosts: [2] }] },
  () => ({ stepTimeoutCapSeconds: 6 }),
);
const host = (n: number) => fleet.host(n);
const stateFile = (n: number, name: string) => join(host(n).agentRoot, ".agent-rollout", name);

/** A rollout of the whole fleet, one host at a time, with jobs running throughout. */
async function rollout(
  rolloutId: string,
  extra: Partial<Parameters<typeof import("../../local/runner.js").runRollout>[1]> = {},
): Promise<RolloutReport> {
  const { runRollout } = await import("../../local/runner.js");
  return runRollout(fleet.env, {
    rolloutId,
    targetVersion: "2.0.0",
    batchSize: 1,
    canary: 0,
    failureThreshold: 0,
    jobsPerHost: 2,
    jobSeconds: [1, 2],
    ...extra,
  });
}

describe("the orchestrator stopped while a switch hangs", () => {
  let report: RolloutReport;

  beforeAll(async () => {
    const stop = new AbortController();
    report = await rollout("interrupted", {
      signal: stop.signal,
      onHostChange: (h) => {
        if (h.hostId === host(2).instanceId && h.status === "SWITCHING") stop.abort();
      },
    });
    // The switch goes on after the execution stopped, until SSM kills it (6 s cap).
    await waitFor("the hung switch to be killed", () =>
      invocationsOf(fleet.env, "interrupted").some(
        (i) => stepOf(i.documentName) === "switch" && i.status === "TimedOut",
      ),
    );
  }, 120_000);

  it("records the abort, releases the lock, loses no job", async () => {
    expect(report.status).toBe("ABORTED");
    const [first, second, third] = report.hosts;
    expect([first?.status, first?.runningVersion]).toEqual(["UPGRADED", "2.0.0"]);
    // Stopped in its switch: the ledger keeps the step it was at.
    expect([second?.status, second?.runningVersion]).toEqual(["SWITCHING", "2.0.0"]);
    // The local executor may let the next Map item send its (read-only) preflight as it
    // stops; nothing else reached host-03, which still serves 1.0.0.
    expect(["PENDING", "PREFLIGHT"]).toContain(third?.status);
    expect(
      invocationsOf(fleet.env, "interrupted")
        .filter((i) => i.instanceId === host(3).instanceId)
        .map((i) => stepOf(i.documentName)),
    ).not.toContain("stage");
    expect(await health(host(3))).toEqual({ status: 200, version: "1.0.0" });
    expect(await ledgerItem(fleet.env, "ROLLOUT#interrupted", "ROLLOUT")).toMatchObject({
      status: "FAILED",
      error: { name: "ExecutionAborted" },
    });
    expect(await ledgerItem(fleet.env, "LOCK#local", "LOCK")).toBeUndefined();
    expect(report.jobs.lost).toBe(0);
    expect(report.jobs.failed).toBe(0);
  });

  it("leaves host-02 half switched: link on 2.0.0, nothing serving, suspended", async () => {
    expect(await linkOf(host(2))).toBe("releases/2.0.0");
    expect(await health(host(2))).toBe("down");
    expect(existsSync(stateFile(2, "cutover"))).toBe(true);
    expect(existsSync(stateFile(2, "suspended"))).toBe(true);
  });
});

describe("a rollout that dies holding the fleet lock", () => {
  it("makes the next rollout refuse, naming it, until the lock is broken deliberately", async () => {
    // Prepare: a rollout whose orchestrator dies right after planning: nothing records
    // its end, so its lock stays.
    const crashed = await runExecution(fleet.env, await inputFor(fleet.env, [host(3)]), {
      rolloutId: "crashed",
      crashAfterState: "PlanRollout",
    });
    expect(crashed.status).toBe("ABORTED");
    expect(await ledgerItem(fleet.env, "LOCK#local", "LOCK")).toMatchObject({ owner: "crashed" });

    // Act
    const refused = await runExecution(fleet.env, await inputFor(fleet.env, fleet.hosts), {
      rolloutId: "refused",
    });
    const broken = await runExecution(
      fleet.env,
      await inputFor(fleet.env, [host(1)], { breakLock: "crashed" }),
      { rolloutId: "break" },
    );

    // Assess
    expect(refused).toMatchObject({ status: "FAILED", error: "FleetLockedError" });
    expect(refused.cause).toMatch(
      /^fleet "local" is locked by rollout crashed until \S+; wait for it, or pass breakLock: "crashed" if that rollout is dead$/,
    );
    expect(refused.states).toEqual(["PlanRollout", "RolloutRejected"]);
    expect(await ledgerItem(fleet.env, "ROLLOUT#refused", "ROLLOUT")).toBeUndefined();
    expect(invocationsOf(fleet.env, "refused")).toEqual([]);
    expect(broken.status).toBe("SUCCEEDED");
    expect(await ledgerItem(fleet.env, "ROLLOUT#break", "ROLLOUT")).toMatchObject({
      status: "SUCCEEDED",
      counts: { SKIPPED: 1 },
    });
    expect(await ledgerItem(fleet.env, "LOCK#local", "LOCK")).toBeUndefined();
  });
});

describe("the same rollout run again", () => {
  let report: RolloutReport;

  beforeAll(async () => {
    await fleet.env.fleet.clearFaults(host(2).instanceId);
    report = await rollout("resumed");
  }, 120_000);

  it("skips what is done, finishes the interrupted host's switch, upgrades the rest", async () => {
    expect(report.status).toBe("SUCCEEDED");
    expect(
      report.hosts.map((h) => [h.computerName, h.status, h.fromVersion, h.runningVersion]),
    ).toEqual([
      ["host-01", "SKIPPED", "2.0.0", "2.0.0"],
      ["host-02", "UPGRADED", "1.0.0", "2.0.0"],
      ["host-03", "UPGRADED", "1.0.0", "2.0.0"],
    ]);
    for (const n of [1, 2, 3]) {
      expect(await health(host(n))).toEqual({ status: 200, version: "2.0.0" });
      expect(existsSync(stateFile(n, "cutover"))).toBe(false);
      expect(existsSync(stateFile(n, "suspended"))).toBe(false);
    }
    expect(
      await ledgerItem(fleet.env, `HOST#${host(2).instanceId}`, "SNAPSHOT#resumed"),
    ).toMatchObject({
      oldVersion: "1.0.0",
      cleanup: "PENDING",
    });
    expect(report.jobs.lost).toBe(0);
    expect(report.jobs.failed).toBe(0);
    expect(report.jobs.completed).toBe(report.jobs.submitted);
  });
});

describe("rolling the whole rollout back", () => {
  it("is a rollout to the previous version: its releases are found staged and switched to", async () => {
    // Act
    const report = await rollout("rollback", { targetVersion: "1.0.0" });

    // Assess
    expect(report.status).toBe("SUCCEEDED");
    expect(
      report.hosts.map((h) => [h.computerName, h.status, h.fromVersion, h.runningVersion]),
    ).toEqual([
      ["host-01", "UPGRADED", "2.0.0", "1.0.0"],
      ["host-02", "UPGRADED", "2.0.0", "1.0.0"],
      ["host-03", "UPGRADED", "2.0.0", "1.0.0"],
    ]);
    for (const n of [1, 2, 3]) {
      const stage = invocationsOf(fleet.env, "rollback").find(
        (i) => i.instanceId === host(n).instanceId && stepOf(i.documentName) === "stage",
      );
      expect(await resultLine(fleet.env, stage?.commandId ?? "", host(n).instanceId)).toMatchObject(
        {
          status: "ALREADY_STAGED",
          release: join(host(n).agentRoot, "releases", "1.0.0"),
        },
      );
      expect(await health(host(n))).toEqual({ status: 200, version: "1.0.0" });
      expect(await linkOf(host(n), "previous")).toBe("releases/2.0.0");
    }
    expect(report.jobs.lost).toBe(0);
    expect(report.jobs.failed).toBe(0);
    expect(report.jobs.completed).toBe(report.jobs.submitted);
  });
});
