/**
 * End to end, a whole-rollout rollback through the real state machine: a rollout
 * 1.0.0 -> 2.0.0 with jobs in flight, then `{"rollback": "<rolloutId>"}`: every host it
 * upgraded goes back to 1.0.0 with the same zero-downtime switch, a host whose 1.0.0
 * the nightly cleanup already deleted is reported and left alone, the rollback is a
 * rollout of its own in the ledger, and the nightly cleanup deletes 2.0.0 only once
 * the jobs that ran at the rollback have ended.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import type { CleanupReport } from "../../local/cleanup.js";
import type { RolloutReport } from "../../local/runner.js";
import { fleetSuite, health, ledgerItem, linkOf, submitJob, waitFor } from "./faults-harness.js";

const fleet = fleetSuite("rollback", { hosts: 3, faults: [] });
const host = (n: number) => fleet.host(n);
const release = (n: number, version: string) => join(host(n).agentRoot, "releases", version);
const ids = () => [1, 2, 3].map((n) => host(n).instanceId);

/** Ends a job the test submitted and waits until its process is gone. */
async function endJob(n: number, id: string): Promise<void> {
  const pid = Number(readFileSync(join(host(n).agentRoot, "jobs", `${id}.pid`), "utf8"));
  process.kill(pid, "SIGTERM");
  await waitFor(`job ${id} to end`, () => !existsSync(`/proc/${pid}`));
}

describe("a whole-rollout rollback", () => {
  let upgrade: RolloutReport;
  let cleanedBefore: CleanupReport;
  let rollback: RolloutReport;

  beforeAll(async () => {
    const { runRollout } = await import("../../local/runner.js");
    const { runCleanup } = await import("../../local/cleanup.js");
    // Jobs on 1.0.0 of hosts 1 and 2 outlive the upgrade, so the nightly cleanup keeps
    // their 1.0.0; host 3's is deleted: that host has nothing to go back to.
    for (const n of [1, 2]) expect(await submitJob(host(n), `long-on-one-${n}`, 600)).toBe(202);
    upgrade = await runRollout(fleet.env, {
      rolloutId: "up",
      targetVersion: "2.0.0",
      batchSize: 1,
      canary: 1,
      failureThreshold: 0,
      jobsPerHost: 3,
    });
    cleanedBefore = await runCleanup(fleet.env);
    // A job on 2.0.0 that still runs when the rollback switches host 1 away from it.
    expect(await submitJob(host(1), "long-on-two", 600)).toBe(202);
    rollback = await runRollout(fleet.env, {
      rolloutId: "back",
      targetVersion: "1.0.0",
      batchSize: 1,
      canary: 1,
      failureThreshold: 0,
      jobsPerHost: 3,
      input: { rollback: "up" },
    });
  }, 180_000);

  it("returns every host the rollout upgraded to its previous release, losing no job", async () => {
    expect(upgrade.status).toBe("SUCCEEDED");
    expect(cleanedBefore.deleted.map((e) => [e.hostId, e.rolloutId])).toEqual([[ids()[2], "up"]]);
    expect(rollback.status).toBe("SUCCEEDED");
    expect(rollback.rollbackOf).toBe("up");
    expect(
      rollback.hosts.map((h) => [h.fromVersion, h.toVersion, h.runningVersion, h.status]),
    ).toEqual([
      ["2.0.0", "1.0.0", "1.0.0", "UPGRADED"],
      ["2.0.0", "1.0.0", "1.0.0", "UPGRADED"],
      ["2.0.0", "2.0.0", "2.0.0", "SKIPPED"],
    ]);
    for (const n of [1, 2]) {
      expect(await health(host(n))).toEqual({ status: 200, version: "1.0.0" });
      expect(await linkOf(host(n))).toBe("releases/1.0.0");
      expect(await linkOf(host(n), "previous")).toBeNull();
    }
    expect(rollback.hosts[0]?.suspendMs).toEqual(expect.any(Number));
    expect(rollback.jobs.runningAtSwitch).toBeGreaterThan(0);
    expect(rollback.jobs.submitted).toBeGreaterThan(0);
    expect(rollback.jobs.completed).toBe(rollback.jobs.submitted);
    expect(rollback.jobs.lost).toBe(0);
    expect(rollback.jobs.failed).toBe(0);
    expect(rollback.jobs.failedSubmissions).toBe(0);
  });

  it("reports a host whose previous release was cleaned, and leaves it serving as it was", async () => {
    expect(rollback.hosts[2]?.error).toBe(
      "LeftAlone: no previous release to go back to (already cleaned): left alone",
    );
    expect(await health(host(3))).toEqual({ status: 200, version: "2.0.0" });
    expect(await linkOf(host(3))).toBe("releases/2.0.0");
  });

  it("is a rollout of its own in the ledger; the rolled-back rollout's snapshots are retired", async () => {
    expect(await ledgerItem(fleet.env, "ROLLOUT#back", "ROLLOUT")).toMatchObject({
      status: "SUCCEEDED",
      rollbackOf: "up",
      targetVersion: "1.0.0",
      hostCount: 3,
    });
    for (const id of ids().slice(0, 2)) {
      expect(await ledgerItem(fleet.env, `HOST#${id}`, "SNAPSHOT#up")).toMatchObject({
        cleanup: "DONE",
        lastResult: { status: "RETIRED" },
      });
      expect(await ledgerItem(fleet.env, `HOST#${id}`, "SNAPSHOT#back")).toMatchObject({
        cleanup: "PENDING",
        oldVersion: "2.0.0",
      });
    }
    expect(await ledgerItem(fleet.env, `HOST#${ids()[2]}`, "SNAPSHOT#back")).toBeUndefined();
    expect(await ledgerItem(fleet.env, "LOCK#local", "LOCK")).toBeUndefined();
  });

  it("has the nightly cleanup delete 2.0.0 only once the jobs running at the rollback ended", async () => {
    const { runCleanup } = await import("../../local/cleanup.js");
    // The snapshot holds every job running at the rollback (the agent does not say which
    // release a job runs from): the jobs started on 1.0.0 end first, host 1's job on
    // 2.0.0 runs on.
    for (const n of [1, 2]) await endJob(n, `long-on-one-${n}`);
    const first = await runCleanup(fleet.env);
    expect(first.deleted.map((e) => [e.hostId, e.rolloutId])).toEqual([[ids()[1], "back"]]);
    expect(first.kept).toEqual([
      {
        hostId: ids()[0],
        rolloutId: "back",
        release: release(1, "2.0.0"),
        reason: expect.stringMatching(
          /^1 job\(s\) of the snapshot still running, e\.g\. long-on-two/,
        ),
      },
    ]);
    expect([existsSync(release(1, "2.0.0")), existsSync(release(2, "2.0.0"))]).toEqual([
      true,
      false,
    ]);

    await endJob(1, "long-on-two");
    const second = await runCleanup(fleet.env);

    expect(second.deleted.map((e) => [e.hostId, e.rolloutId])).toEqual([[ids()[0], "back"]]);
    expect(second.kept).toEqual([]);
    expect(second.failed).toEqual([]);
    expect(existsSync(release(1, "2.0.0"))).toBe(false);
    expect(existsSync(release(1, "1.0.0"))).toBe(true);
    expect(await health(host(1))).toEqual({ status: 200, version: "1.0.0" });
  }, 60_000);
});
