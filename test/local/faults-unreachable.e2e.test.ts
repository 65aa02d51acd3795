/**
 * Faults end to end, in local mode (one fleet of four demo-agent hosts): a host whose
 * SSM agent is offline, one SSM cannot deliver to, one whose switch hangs past its
 * execution timeout (capped to 6 s here) and is killed mid-cutover. Then the same
 * rollout again once the hosts are fixed, with SSM throttling and a stale fleet lock,
 * and two nights of cleanup with a host offline and a snapshotted job still running.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import type { CleanupReport } from "../../local/cleanup.js";
import type { LocalEnvironment } from "../../local/environment.js";
import type { RolloutReport } from "../../local/runner.js";
import {
  fleetSuite,
  health,
  invocationsOf,
  ledgerItem,
  linkOf,
  putLeftoverLock,
  resultLine,
  stepOf,
  submitJob,
  waitFor,
} from "./faults-harness.js";

const fleet = fleetSuite(
  "faults-unreachable",
  {
    hosts: 4,
    faults: [
      { kind: "host-offline", hosts: [2] },
      { kind: "undeliverable", hosts: [3] },
      { kind: "hang", hosts: [4] },
    ],
  },
  () => ({ stepTimeoutCapSeconds: 6 }),
);
const host = (n: number) => fleet.host(n);
const stateFile = (n: number, name: string) => join(host(n).agentRoot, ".agent-rollout", name);
const release = (n: number, version: string) => join(host(n).agentRoot, "releases", version);

describe("unreachable and hung hosts", () => {
  let report: RolloutReport;

  beforeAll(async () => {
    const { runRollout } = await import("../../local/runner.js");
    report = await runRollout(fleet.env, {
      rolloutId: "unreachable",
      targetVersion: "2.0.0",
      batchSize: 2,
      canary: 0,
      failureThreshold: 3,
      // The hung host stays suspended at this run's scheduler: jobs queued for it would
      // keep the drain waiting to its deadline for nothing. Jobs are the next run's part.
      jobsPerHost: 0,
    });
  }, 120_000);

  it("fails each such host with its cause, never hangs, and upgrades the others", async () => {
    expect(report.status).toBe("FAILED");
    expect(report.error).toBe("HostsFailed: 3 of 4 hosts did not upgrade");
    expect(report.durationMs).toBeLessThan(30_000);
    expect(report.hosts.map((h) => [h.computerName, h.status, h.runningVersion])).toEqual([
      ["host-01", "UPGRADED", "2.0.0"],
      ["host-02", "FAILED", "1.0.0"],
      ["host-03", "FAILED", "1.0.0"],
      ["host-04", "FAILED", "2.0.0"],
    ]);
    const [, offline, undeliverable, hung] = report.hosts;
    expect(offline?.error).toBe(
      `HostUnreachableError: preflight: command not run on ${host(2).instanceId} (DeliveryTimedOut)`,
    );
    expect(undeliverable?.error).toBe(
      `HostUnreachableError: preflight: command not run on ${host(3).instanceId} (Undeliverable)`,
    );
    expect(hung?.error).toMatch(
      new RegExp(
        `^CommandTimedOutError: switch: command timed out on ${host(4).instanceId} \\(ExecutionTimedOut\\); stderr: `,
      ),
    );
    const steps = (n: number) =>
      invocationsOf(fleet.env, "unreachable")
        .filter((i) => i.instanceId === host(n).instanceId)
        .map((i) => [stepOf(i.documentName), i.status, i.statusDetails]);
    expect(steps(2)).toEqual([["preflight", "TimedOut", "DeliveryTimedOut"]]);
    expect(steps(3)).toEqual([["preflight", "Failed", "Undeliverable"]]);
    expect(steps(4)).toEqual([
      ["preflight", "Success", "Success"],
      ["stage", "Success", "Success"],
      ["switch", "TimedOut", "ExecutionTimedOut"],
    ]);
    // Killed at the capped execution timeout (6 s), not the document's 900 s.
    const hungSwitch = invocationsOf(fleet.env, "unreachable").find(
      (i) => i.instanceId === host(4).instanceId && stepOf(i.documentName) === "switch",
    );
    const ranMs = (hungSwitch?.endedAt?.getTime() ?? 0) - (hungSwitch?.startedAt?.getTime() ?? 0);
    expect(ranMs).toBeGreaterThanOrEqual(6_000);
    expect(ranMs).toBeLessThan(9_000);
    // The unreachable hosts' agents were never touched and still serve.
    expect(await health(host(2))).toEqual({ status: 200, version: "1.0.0" });
    expect(await health(host(3))).toEqual({ status: 200, version: "1.0.0" });
  });

  it("leaves the killed switch's host half switched, with the record that repairs it", async () => {
    // What SIGKILL mid-cutover leaves: the link on 2.0.0, nothing serving, the agent
    // suspended; the next run must not take this host for upgraded.
    expect(await linkOf(host(4))).toBe("releases/2.0.0");
    expect(await health(host(4))).toBe("down");
    expect(existsSync(stateFile(4, "cutover"))).toBe(true);
    expect(existsSync(stateFile(4, "suspended"))).toBe(true);
  });
});

describe("the same rollout again, hosts fixed, under SSM throttling, past a stale lock", () => {
  let report: RolloutReport;
  let statsBefore: ReturnType<LocalEnvironment["ssm"]["stats"]>;

  beforeAll(async () => {
    const { runRollout } = await import("../../local/runner.js");
    for (const n of [2, 3]) fleet.env.ssm.setHostState(host(n).instanceId, "online");
    for (const n of [2, 3, 4]) await fleet.env.fleet.clearFaults(host(n).instanceId);
    // A rollout that died 12 h ago without finishing left its lock; it has expired.
    await putLeftoverLock(
      fleet.env,
      "local",
      "crashed-rollout",
      Math.floor(Date.now() / 1000) - 60,
    );
    // A job the nightly cleanup will find still running on host-03's old release; the
    // test ends it (stops it) before the second night.
    expect(await submitJob(host(3), "long-job", 600)).toBe(202);
    statsBefore = fleet.env.ssm.stats();
    fleet.env.ssm.injectThrottling("SendCommand", 2);
    fleet.env.ssm.injectThrottling("GetCommandInvocation", 3);
    report = await runRollout(fleet.env, {
      rolloutId: "again",
      targetVersion: "2.0.0",
      batchSize: 2,
      canary: 0,
      failureThreshold: 0,
      jobsPerHost: 2,
      jobSeconds: [1, 2],
    });
  }, 120_000);

  it("skips the upgraded host, repairs the half-switched one, upgrades the rest", async () => {
    expect(report.status).toBe("SUCCEEDED");
    expect(
      report.hosts.map((h) => [h.computerName, h.status, h.fromVersion, h.runningVersion]),
    ).toEqual([
      ["host-01", "SKIPPED", "2.0.0", "2.0.0"],
      ["host-02", "UPGRADED", "1.0.0", "2.0.0"],
      ["host-03", "UPGRADED", "1.0.0", "2.0.0"],
      // Reported as the switch the killed run could not finish.
      ["host-04", "UPGRADED", "1.0.0", "2.0.0"],
    ]);
    const switch4 = invocationsOf(fleet.env, "again").find(
      (i) => i.instanceId === host(4).instanceId && stepOf(i.documentName) === "switch",
    );
    expect(await resultLine(fleet.env, switch4?.commandId ?? "", host(4).instanceId)).toMatchObject(
      {
        status: "SWITCHED",
        fromVersion: "1.0.0",
        oldRelease: release(4, "1.0.0"),
        reason:
          "completed the switch 1.0.0 -> 2.0.0 that an interrupted run of rollout unreachable left half done",
      },
    );
    for (const n of [1, 2, 3, 4]) {
      expect(await health(host(n))).toEqual({ status: 200, version: "2.0.0" });
      expect(existsSync(stateFile(n, "cutover"))).toBe(false);
      expect(existsSync(stateFile(n, "suspended"))).toBe(false);
    }
    expect(await linkOf(host(4), "previous")).toBe("releases/1.0.0");
    expect(report.jobs.lost).toBe(0);
    expect(report.jobs.failed).toBe(0);
    expect(report.jobs.completed).toBe(report.jobs.submitted);
  });

  it("retried the throttled SSM calls instead of failing a host", async () => {
    const after = fleet.env.ssm.stats();
    const accepted = after.commands - statsBefore.commands;
    // Each throttled SendCommand was answered, then sent again and accepted.
    expect((after.calls.SendCommand ?? 0) - (statsBefore.calls.SendCommand ?? 0)).toBe(
      accepted + 2,
    );
    // The injected GetCommandInvocation throttles were all used up during the rollout:
    // this call is answered at once.
    const any = invocationsOf(fleet.env, "again")[0];
    await expect(
      resultLine(fleet.env, any?.commandId ?? "", any?.instanceId ?? ""),
    ).resolves.toEqual(expect.objectContaining({ step: "preflight" }));
  });

  it("took over the expired lock of the dead rollout, and released it", async () => {
    expect(await ledgerItem(fleet.env, "ROLLOUT#again", "ROLLOUT")).toMatchObject({
      status: "SUCCEEDED",
    });
    expect(await ledgerItem(fleet.env, "LOCK#local", "LOCK")).toBeUndefined();
  });
});

describe("the nightly cleanup", () => {
  let first: CleanupReport;

  beforeAll(async () => {
    const { runCleanup } = await import("../../local/cleanup.js");
    fleet.env.ssm.setHostState(host(2).instanceId, "offline");
    first = await runCleanup(fleet.env);
  }, 60_000);

  it("keeps a release under a running job and retries an offline host the next night", async () => {
    // Night 1: host-02 is offline, host-03's long job still runs.
    expect(first.checked).toBe(4);
    expect(first.deleted.map((e) => [e.hostId, e.rolloutId]).sort()).toEqual([
      [host(1).instanceId, "unreachable"],
      [host(4).instanceId, "again"],
    ]);
    expect(first.kept).toEqual([
      {
        hostId: host(3).instanceId,
        rolloutId: "again",
        release: release(3, "1.0.0"),
        reason: expect.stringMatching(
          /^1 job\(s\) of the snapshot still running, e\.g\. long-job \(pid \d+\)$/,
        ),
      },
    ]);
    expect(first.failed).toEqual([
      {
        hostId: host(2).instanceId,
        rolloutId: "again",
        release: release(2, "1.0.0"),
        reason: `HostUnreachableError: cleanup: command not run on ${host(2).instanceId} (DeliveryTimedOut)`,
      },
    ]);
    expect(
      await ledgerItem(fleet.env, `HOST#${host(2).instanceId}`, "SNAPSHOT#again"),
    ).toMatchObject({
      cleanup: "PENDING",
      attempts: 1,
      lastResult: { status: "ERROR", error: { name: "HostUnreachableError" } },
    });
    expect(
      await ledgerItem(fleet.env, `HOST#${host(3).instanceId}`, "SNAPSHOT#again"),
    ).toMatchObject({
      cleanup: "PENDING",
      attempts: 1,
      lastResult: { status: "KEPT", alive: 1 },
    });
    expect([1, 2, 3, 4].map((n) => existsSync(release(n, "1.0.0")))).toEqual([
      false,
      true,
      true,
      false,
    ]);

    // Night 2: host-02 is back, the long job has ended.
    const { runCleanup } = await import("../../local/cleanup.js");
    const jobPid = Number(readFileSync(join(host(3).agentRoot, "jobs", "long-job.pid"), "utf8"));
    process.kill(jobPid, "SIGTERM");
    await waitFor("the long job to end", () => !existsSync(`/proc/${jobPid}`));
    fleet.env.ssm.setHostState(host(2).instanceId, "online");
    const second = await runCleanup(fleet.env);

    expect(second.checked).toBe(2);
    expect(second.deleted.map((e) => e.hostId).sort()).toEqual([
      host(2).instanceId,
      host(3).instanceId,
    ]);
    expect(second.kept).toEqual([]);
    expect(second.failed).toEqual([]);
    for (const n of [2, 3]) {
      expect(
        await ledgerItem(fleet.env, `HOST#${host(n).instanceId}`, "SNAPSHOT#again"),
      ).toMatchObject({
        cleanup: "DONE",
        attempts: 2,
      });
    }
    expect([1, 2, 3, 4].map((n) => existsSync(release(n, "1.0.0")))).toEqual([
      false,
      false,
      false,
      false,
    ]);
    for (const n of [1, 2, 3, 4]) {
      expect(await health(host(n))).toEqual({ status: 200, version: "2.0.0" });
    }
  }, 60_000);
});
