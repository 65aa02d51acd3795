import { describe, expect, it } from "vitest";
import type { HostItem, RolloutItem } from "../../lambdas/common/ledger/items.js";
import { rolloutKey } from "../../lambdas/common/ledger/keys.js";
import { evaluateWave } from "../../lambdas/evaluate-wave/evaluate-wave.js";
import { finishRollout } from "../../lambdas/finish-rollout/finish-rollout.js";
import { loadWave } from "../../lambdas/load-wave/load-wave.js";
import {
  hostItem,
  I1,
  I2,
  I3,
  lockItem,
  ROLLOUT_ID,
  rolloutItem,
  storedInput,
  T0,
  testDeps,
} from "./helpers.js";

const NOW = new Date(T0).toISOString();
const EARLIER = new Date(T0 - 60_000).toISOString();

/**
 * Dependencies on a ledger holding `rollout` and `hosts`, and the rollout's fleet lock
 * held by `lockOwner` (none when undefined).
 */
function ledger(
  rollout: RolloutItem | undefined,
  hosts: HostItem[],
  lockOwner: string | undefined = ROLLOUT_ID,
) {
  const deps = testDeps({});
  if (rollout !== undefined) deps.store.putItem({ ...rollout, updatedAt: EARLIER });
  for (const host of hosts) deps.store.putItem(host);
  if (lockOwner !== undefined) {
    const fleet = rollout?.fleet ?? "default";
    deps.store.putItem(lockItem(fleet, lockOwner, EARLIER));
  }
  return deps;
}

const id = (n: number) => `i-${String(n).padStart(17, "0")}`;
const hosts = (wave: number, statuses: HostItem["status"][], offset = 0) =>
  statuses.map((status, n) =>
    hostItem({
      hostId: id(wave * 100 + n),
      wave,
      order: offset + n,
      status,
      ...(status === "FAILED"
        ? { error: { name: "HostStepFailedError", message: `host ${n} broke` } }
        : {}),
    }),
  );

describe("loadWave", () => {
  it("returns the wave's hosts in order and marks the rollout RUNNING on wave 0", async () => {
    // Prepare
    const deps = ledger(rolloutItem({ status: "PLANNED" }), [
      hostItem({ hostId: I2, order: 1 }),
      hostItem({ hostId: "i-0000000000000000f", wave: 1, order: 3 }),
      hostItem({ hostId: I3, instanceId: I3, order: 2 }),
      hostItem({ hostId: I1, order: 0 }),
    ]);

    // Act
    const result = await loadWave(deps, { rolloutId: ROLLOUT_ID, wave: 0 });

    // Assess
    expect(result).toEqual({
      wave: 0,
      hosts: [
        { hostId: I1, instanceId: I1 },
        { hostId: I2, instanceId: I2 },
        { hostId: I3, instanceId: I3 },
      ],
    });
    expect(await deps.store.getRollout(ROLLOUT_ID)).toMatchObject({
      status: "RUNNING",
      updatedAt: NOW,
    });
  });

  it("leaves the rollout status alone for later waves", async () => {
    // Prepare
    const deps = ledger(rolloutItem({ status: "PLANNED" }), [
      hostItem({ hostId: I1, wave: 11, order: 0 }),
      hostItem({ hostId: I2, wave: 12, order: 1 }),
    ]);

    // Act
    const result = await loadWave(deps, { rolloutId: ROLLOUT_ID, wave: 12 });

    // Assess
    expect(result).toEqual({ wave: 12, hosts: [{ hostId: I2, instanceId: I2 }] });
    expect(await deps.store.getRollout(ROLLOUT_ID)).toMatchObject({
      status: "PLANNED",
      updatedAt: EARLIER,
    });
  });
});

describe("evaluateWave", () => {
  it("bakes a wave, then continues with the next while failures are within the threshold", async () => {
    // Prepare
    const rollout = rolloutItem({
      waveCount: 3,
      failureThreshold: 1,
      failedCount: 1,
      input: storedInput({ failureThreshold: 1, bakeSeconds: 300, lockTtlSeconds: 3600 }),
    });
    const deps = ledger(rollout, [
      ...hosts(0, ["UPGRADED", "FAILED"]),
      ...hosts(1, ["UPGRADED", "SKIPPED", "UPGRADED"]),
    ]);

    // Act: right after the wave, then after its bake
    const afterWave = await evaluateWave(deps, {
      rolloutId: ROLLOUT_ID,
      wave: 1,
      previousDecision: "CONTINUE",
    });
    const result = await evaluateWave(deps, {
      rolloutId: ROLLOUT_ID,
      wave: 1,
      previousDecision: "BAKE",
    });

    // Assess
    expect(afterWave).toMatchObject({ decision: "BAKE", wave: 1, nextWave: 2, bakeSeconds: 300 });
    expect(result).toEqual({
      decision: "CONTINUE",
      wave: 1,
      nextWave: 2,
      bakeSeconds: 0,
      counts: { UPGRADED: 2, SKIPPED: 1 },
      failedCount: 1,
    });
    expect(await deps.store.getLock("default")).toMatchObject({
      owner: ROLLOUT_ID,
      expiresAt: Math.floor(T0 / 1000) + 3600,
    });
    // failedCount is right: nothing to repair.
    expect(await deps.store.getRollout(ROLLOUT_ID)).toMatchObject({
      failedCount: 1,
      updatedAt: EARLIER,
    });
  });

  it("halts when failures exceed the threshold, and repairs a failedCount left behind", async () => {
    // Prepare
    const deps = ledger(
      rolloutItem({ waveCount: 3, failedCount: 0 }),
      hosts(0, ["UPGRADED", "ROLLED_BACK"]),
    );

    // Act
    const result = await evaluateWave(deps, { rolloutId: ROLLOUT_ID, wave: 0 });

    // Assess
    expect(result).toMatchObject({
      decision: "HALT",
      bakeSeconds: 0,
      failedCount: 1,
      reason: "1 failed host(s) exceed the failure threshold 0",
    });
    expect(await deps.store.getRollout(ROLLOUT_ID)).toMatchObject({
      failedCount: 1,
      updatedAt: NOW,
    });
  });

  it("counts a host of the wave left unfinished as a failure", async () => {
    // Prepare
    const deps = ledger(rolloutItem({ waveCount: 3 }), hosts(0, ["UPGRADED", "STAGING"]));

    // Act
    const result = await evaluateWave(deps, { rolloutId: ROLLOUT_ID, wave: 0 });

    // Assess
    expect(result).toMatchObject({
      decision: "HALT",
      reason: expect.stringContaining("1 never finished"),
    });
  });

  it("bakes the last wave too, and is DONE once it was verified after the bake", async () => {
    // Prepare
    const deps = ledger(rolloutItem({ waveCount: 2, input: storedInput({ bakeSeconds: 60 }) }), [
      ...hosts(0, ["UPGRADED"]),
      ...hosts(1, ["UPGRADED", "UPGRADED"]),
    ]);

    // Act
    const afterWave = await evaluateWave(deps, { rolloutId: ROLLOUT_ID, wave: 1 });
    const result = await evaluateWave(deps, {
      rolloutId: ROLLOUT_ID,
      wave: 1,
      previousDecision: "BAKE",
    });

    // Assess
    expect(afterWave).toMatchObject({ decision: "BAKE", bakeSeconds: 60 });
    expect(result).toEqual({
      decision: "DONE",
      wave: 1,
      nextWave: 2,
      bakeSeconds: 0,
      counts: { UPGRADED: 2 },
      failedCount: 0,
    });
  });

  it("halts when the fleet lock is no longer this rollout's", async () => {
    // Prepare
    const deps = ledger(rolloutItem({ waveCount: 3 }), hosts(0, ["UPGRADED"]), "other-rollout");

    // Act
    const result = await evaluateWave(deps, { rolloutId: ROLLOUT_ID, wave: 0 });

    // Assess
    expect(result).toMatchObject({
      decision: "HALT",
      failedCount: 0,
      reason:
        'the fleet lock of "default" was taken by other-rollout (breakLock); 0 host(s) failed',
    });
    expect(await deps.store.getRollout(ROLLOUT_ID)).toMatchObject({
      haltReason:
        'the fleet lock of "default" was taken by other-rollout (breakLock); 0 host(s) failed',
    });
    expect(await deps.store.getLock("default")).toMatchObject({
      owner: "other-rollout",
      expiresAt: Math.floor(T0 / 1000) + 60,
    });
  });

  it("halts naming a lock that expired or was released, and records the reason", async () => {
    // Prepare
    const deps = ledger(rolloutItem({ waveCount: 3 }), hosts(0, ["UPGRADED"]));
    await deps.store.releaseLock("default", ROLLOUT_ID);

    // Act
    const result = await evaluateWave(deps, { rolloutId: ROLLOUT_ID, wave: 0 });

    // Assess
    const reason =
      'the fleet lock of "default" is no longer held by this rollout (expired or released); 0 host(s) failed';
    expect(result).toMatchObject({ decision: "HALT", reason });
    expect(await deps.store.getRollout(ROLLOUT_ID)).toMatchObject({ haltReason: reason });
  });

  it("records the failure count as the halt reason on the rollout item", async () => {
    // Prepare
    const deps = ledger(rolloutItem({ waveCount: 3 }), hosts(0, ["UPGRADED", "FAILED"]));

    // Act
    const result = await evaluateWave(deps, { rolloutId: ROLLOUT_ID, wave: 0 });

    // Assess
    expect(result.reason).toBe("1 failed host(s) exceed the failure threshold 0");
    expect(await deps.store.getRollout(ROLLOUT_ID)).toMatchObject({
      haltReason: "1 failed host(s) exceed the failure threshold 0",
    });
  });

  it("halts a rollout an operator set HALTED", async () => {
    // Prepare
    const deps = ledger(rolloutItem({ waveCount: 3, status: "HALTED" }), hosts(0, ["UPGRADED"]));

    // Act
    const result = await evaluateWave(deps, { rolloutId: ROLLOUT_ID, wave: 0 });

    // Assess
    expect(result).toMatchObject({ decision: "HALT", reason: "the rollout was set HALTED" });
  });
});

describe("finishRollout", () => {
  it("records SUCCEEDED with counts when no host failed, and releases its own lock", async () => {
    // Prepare
    const deps = ledger(rolloutItem({ fleet: "eu", input: storedInput({ fleet: "eu" }) }), [
      ...hosts(0, ["UPGRADED"]),
      ...hosts(1, ["UPGRADED", "SKIPPED"]),
    ]);

    // Act
    const result = await finishRollout(deps, { rolloutId: ROLLOUT_ID, outcome: "DONE" });

    // Assess
    expect(result).toEqual({
      rolloutId: ROLLOUT_ID,
      status: "SUCCEEDED",
      recorded: true,
      hostCount: 3,
      counts: { UPGRADED: 2, SKIPPED: 1 },
      failedHostCount: 0,
      failedHosts: [],
      lockReleased: true,
      leasesReleased: 0,
      corrupt: [],
    });
    const rollout = await deps.store.getRollout(ROLLOUT_ID);
    expect(rollout).toMatchObject({
      status: "SUCCEEDED",
      counts: { UPGRADED: 2, SKIPPED: 1 },
      finishedAt: NOW,
      updatedAt: NOW,
    });
    expect(rollout?.error).toBeUndefined();
    expect(await deps.store.getLock("eu")).toBeUndefined();
  });

  it("records FAILED after the last wave when hosts failed, listing at most 50 with reasons", async () => {
    // Prepare
    const failed = hosts(
      0,
      Array.from({ length: 60 }, () => "FAILED" as const),
    );
    const deps = ledger(rolloutItem({ failureThreshold: 100 }), [
      ...failed,
      ...hosts(1, ["UPGRADED"], 60),
    ]);

    // Act
    const result = await finishRollout(deps, { rolloutId: ROLLOUT_ID, outcome: "DONE" });

    // Assess
    expect(result).toMatchObject({
      status: "FAILED",
      failedHostCount: 60,
      counts: { FAILED: 60, UPGRADED: 1 },
    });
    expect(result.failedHosts).toHaveLength(50);
    expect(result.failedHosts[0]).toEqual({
      hostId: id(0),
      wave: 0,
      status: "FAILED",
      reason: "HostStepFailedError: host 0 broke",
    });
    expect(await deps.store.getRollout(ROLLOUT_ID)).toMatchObject({
      status: "FAILED",
      error: { name: "HostsFailed", message: "60 of 61 hosts did not upgrade" },
      counts: { FAILED: 60, UPGRADED: 1 },
    });
  });

  it("releases only its own lock: a lock held by another rollout stays", async () => {
    // Prepare
    const deps = ledger(rolloutItem(), hosts(0, ["UPGRADED", "NOT_STARTED"]), "other-rollout");

    // Act
    const result = await finishRollout(deps, { rolloutId: ROLLOUT_ID, outcome: "HALTED" });

    // Assess
    expect(result).toMatchObject({ status: "HALTED", lockReleased: false, recorded: true });
    expect(await deps.store.getLock("default")).toMatchObject({ owner: "other-rollout" });
    expect(await deps.store.getRollout(ROLLOUT_ID)).toMatchObject({ status: "HALTED" });
  });

  it("writes the reason of a halt on the rollout item", async () => {
    // Prepare
    const deps = ledger(rolloutItem({ status: "RUNNING" }), hosts(0, ["UPGRADED", "NOT_STARTED"]));

    // Act
    const result = await finishRollout(deps, {
      rolloutId: ROLLOUT_ID,
      outcome: "HALTED",
      reason: 'alarm "errors" is in ALARM',
    });

    // Assess
    expect(result).toMatchObject({ status: "HALTED", recorded: true });
    expect(await deps.store.getRollout(ROLLOUT_ID)).toMatchObject({
      status: "HALTED",
      haltReason: 'alarm "errors" is in ALARM',
    });
  });

  it("keeps the halt reason EvaluateWave wrote when the finish brings none", async () => {
    // Prepare
    const deps = ledger(rolloutItem({ status: "RUNNING" }), hosts(0, ["FAILED"]));
    await evaluateWave(deps, { rolloutId: ROLLOUT_ID, wave: 0 });

    // Act
    await finishRollout(deps, { rolloutId: ROLLOUT_ID, outcome: "HALTED" });

    // Assess
    expect(await deps.store.getRollout(ROLLOUT_ID)).toMatchObject({
      status: "HALTED",
      haltReason: "1 failed host(s) exceed the failure threshold 0",
    });
  });

  it("records the failure path's error on a rollout still running", async () => {
    // Prepare
    const deps = ledger(rolloutItem({ status: "RUNNING" }), hosts(0, ["UPGRADED"]));

    // Act
    const result = await finishRollout(deps, {
      rolloutId: ROLLOUT_ID,
      outcome: "FAILED",
      error: {
        Error: "States.TaskFailed",
        Cause:
          '{"errorType":"LedgerConflictError","errorMessage":"rollout x is not in the ledger"}',
      },
    });

    // Assess
    expect(result).toMatchObject({ status: "FAILED", recorded: true, lockReleased: true });
    expect(await deps.store.getRollout(ROLLOUT_ID)).toMatchObject({
      status: "FAILED",
      error: { name: "States.TaskFailed", message: "rollout x is not in the ledger" },
      finishedAt: NOW,
    });
    expect(await deps.store.getLock("default")).toBeUndefined();
  });

  it.each(["SUCCEEDED", "HALTED", "FAILED"] as const)(
    "leaves a rollout already %s as it is on the failure path, and releases its own lock",
    async (final) => {
      // Prepare: FinishRollout wrote the final status, then the execution failed (or
      // the FAILED status-change event arrives after it).
      const deps = ledger(rolloutItem({ status: final, fleet: "eu" }), hosts(0, ["UPGRADED"]));
      const before = await deps.store.getRollout(ROLLOUT_ID);

      // Act
      const result = await finishRollout(deps, {
        rolloutId: ROLLOUT_ID,
        outcome: "FAILED",
        error: { Error: "States.DataLimitExceeded", Cause: "too big" },
      });

      // Assess
      expect(result).toMatchObject({ status: final, recorded: false, lockReleased: true });
      expect(deps.store.calls).not.toContain("finishRollout");
      expect(await deps.store.getRollout(ROLLOUT_ID)).toEqual(before);
      expect(await deps.store.getLock("eu")).toBeUndefined();
    },
  );

  it("keeps the lock of another rollout when a late failure event arrives", async () => {
    // Prepare
    const deps = ledger(rolloutItem({ status: "SUCCEEDED" }), hosts(0, ["UPGRADED"]), "other");
    const before = await deps.store.getRollout(ROLLOUT_ID);

    // Act
    const result = await finishRollout(deps, {
      rolloutId: ROLLOUT_ID,
      outcome: "FAILED",
      error: { Error: "ExecutionFailed", Cause: "late" },
    });

    // Assess
    expect(result).toMatchObject({ status: "SUCCEEDED", recorded: false, lockReleased: false });
    expect(await deps.store.getRollout(ROLLOUT_ID)).toEqual(before);
    expect(await deps.store.getLock("default")).toMatchObject({ owner: "other" });
  });

  it("writes nothing on the failure path when planning never wrote the rollout", async () => {
    // Prepare
    const deps = ledger(undefined, [], "other-rollout");

    // Act
    const result = await finishRollout(deps, {
      rolloutId: ROLLOUT_ID,
      outcome: "FAILED",
      error: { Error: "InternalServerError", Cause: "boom" },
    });

    // Assess
    expect(result).toMatchObject({ status: "FAILED", recorded: false, lockReleased: false });
    expect(deps.store.calls).toEqual(["getRollout"]);
    expect(await deps.store.getRollout(ROLLOUT_ID)).toBeUndefined();
    expect(await deps.store.getLock("default")).toMatchObject({ owner: "other-rollout" });
  });

  it.each(["DONE", "HALTED", "FAILED"] as const)(
    "releases the lock and records the end (%s) when the rollout item is corrupt, naming its key",
    async (outcome) => {
      // Prepare
      const deps = ledger(
        { ...rolloutItem({ fleet: "eu" }), hostCount: "two" as unknown as number },
        hosts(0, ["UPGRADED"]),
      );

      // Act
      const result = await finishRollout(deps, {
        rolloutId: ROLLOUT_ID,
        outcome,
        ...(outcome === "FAILED" ? { error: { Error: "InvalidLedgerItemError", Cause: "x" } } : {}),
      });

      // Assess
      expect(result).toMatchObject({
        lockReleased: true,
        recorded: true,
        corrupt: [`ROLLOUT#${ROLLOUT_ID} ROLLOUT`],
      });
      expect(await deps.store.getLock("eu")).toBeUndefined();
      expect(deps.store.item(rolloutKey(ROLLOUT_ID))).toMatchObject({
        status: { DONE: "SUCCEEDED", HALTED: "HALTED", FAILED: "FAILED" }[outcome],
        finishedAt: NOW,
      });
    },
  );

  it("releases the lock and fails the rollout when a host item is corrupt, naming its key", async () => {
    // Prepare
    const good = hosts(0, ["UPGRADED"]);
    const bad = { ...hostItem({ hostId: I3, wave: 1, order: 1 }), status: "DONE" as never };
    const deps = ledger(rolloutItem(), [...good, bad]);

    // Act
    const result = await finishRollout(deps, { rolloutId: ROLLOUT_ID, outcome: "DONE" });

    // Assess
    expect(result).toMatchObject({
      status: "FAILED",
      recorded: true,
      lockReleased: true,
      hostCount: 2,
      failedHostCount: 1,
      corrupt: [`ROLLOUT#${ROLLOUT_ID} HOST#0001#${I3}`],
    });
    expect(await deps.store.getLock("default")).toBeUndefined();
    expect(await deps.store.getRollout(ROLLOUT_ID)).toMatchObject({
      status: "FAILED",
      error: {
        name: "InvalidLedgerItemError",
        message: `1 host item(s) unreadable: ROLLOUT#${ROLLOUT_ID} HOST#0001#${I3}`,
      },
    });
  });

  it.each(["DONE", "FAILED"] as const)(
    "releases the rollout's host leases (%s), a corrupt host item's too, and no other rollout's",
    async (outcome) => {
      // Prepare
      const good = hosts(0, ["UPGRADED"]);
      const bad = { ...hostItem({ hostId: I3, wave: 1, order: 1 }), status: "DONE" as never };
      const deps = ledger(rolloutItem(), [...good, bad]);
      const goodId = good[0]?.hostId ?? "";
      await deps.store.acquireLeases({
        owner: ROLLOUT_ID,
        fleet: "default",
        hostIds: [goodId, I3],
        now: T0,
      });
      await deps.store.acquireLeases({ owner: "other", fleet: "eu", hostIds: [I1], now: T0 });

      // Act
      const result = await finishRollout(deps, {
        rolloutId: ROLLOUT_ID,
        outcome,
        ...(outcome === "FAILED" ? { error: { Error: "States.Timeout" } } : {}),
      });

      // Assess
      expect(result).toMatchObject({ leasesReleased: 2, lockReleased: true });
      expect(await deps.store.getLease(goodId)).toBeUndefined();
      expect(await deps.store.getLease(I3)).toBeUndefined();
      expect(await deps.store.getLease(I1)).toMatchObject({ owner: "other" });
    },
  );

  it("raises LedgerConflictError when finishing a rollout that does not exist", async () => {
    // Prepare
    const deps = ledger(undefined, []);

    // Act
    const result = finishRollout(deps, { rolloutId: ROLLOUT_ID, outcome: "DONE" });

    // Assess
    await expect(result).rejects.toMatchObject({ name: "LedgerConflictError" });
  });
});
