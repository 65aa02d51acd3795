/**
 * The behaviour every {@link LedgerStore} shares, as one suite: `ledgerContract` runs
 * it against a store built fresh for each test. It runs against `DynamoLedgerStore` on
 * dynalite (store.dynalite.test.ts) and against the in-memory store the domain tests
 * use (memory-ledger-store.test.ts), which proves the two behave alike.
 */
import { beforeEach, describe, expect, it } from "vitest";
import type { LedgerStore, NewSnapshot } from "../../lambdas/common/ledger/index.js";
import { recordHost } from "../../lambdas/record-host/record-host.js";
import {
  fakeClock,
  hostItem,
  I1,
  I2,
  I3,
  jobs,
  ROLLOUT_ID,
  rolloutItem,
  snapshotItem,
  storedInput,
  T0,
} from "./helpers.js";
import type { RawItem } from "./memory-ledger-store.js";

/** A fresh store, and a way to put a raw item (valid or not) under its key. */
export interface ContractFixture {
  readonly store: LedgerStore;
  seed(item: RawItem): Promise<void>;
}

const NOW = new Date(T0).toISOString();
const KEY = { rolloutId: ROLLOUT_ID, wave: 1, hostId: I1 };
const later = (ms: number) => new Date(T0 + ms).toISOString();

function newSnapshot(hostId: string, overrides: Partial<NewSnapshot> = {}): NewSnapshot {
  const { items, sha256 } = jobs(2);
  return {
    hostId,
    rolloutId: ROLLOUT_ID,
    instanceId: hostId,
    profile: "demo",
    oldVersion: "1.0.0",
    oldRelease: "/opt/agent/releases/1.0.0",
    jobs: items,
    jobsSha256: sha256,
    now: T0,
    ...overrides,
  };
}

/** A lock item that fails its schema (`acquiredAt` is not a time) but has an owner and expiry. */
function corruptLock(fields: { owner: string; expiresAt: number }): RawItem {
  return {
    pk: "LOCK#default",
    sk: "LOCK",
    kind: "lock",
    schemaVersion: 1,
    fleet: "default",
    acquiredAt: "yesterday",
    ...fields,
  };
}

/** Declares the shared suite for the stores `fresh` builds. */
export function ledgerContract(name: string, fresh: () => Promise<ContractFixture>): void {
  let store: LedgerStore;
  let seed: ContractFixture["seed"];

  beforeEach(async () => {
    ({ store, seed } = await fresh());
  });

  describe(`${name}: fleet lock`, () => {
    it("refuses a held lock, and takes it once expired, by its owner again, or with breakLock", async () => {
      // Prepare
      const first = await store.acquireLock({
        fleet: "default",
        owner: "r-a",
        now: T0,
        ttlSeconds: 600,
      });

      // Act
      const held = await store
        .acquireLock({ fleet: "default", owner: "r-b", now: T0 + 1000, ttlSeconds: 600 })
        .catch((error: unknown) => error);
      const retry = await store.acquireLock({
        fleet: "default",
        owner: "r-a",
        now: T0 + 2000,
        ttlSeconds: 600,
      });
      const broken = await store.acquireLock({
        fleet: "default",
        owner: "r-c",
        now: T0 + 3000,
        ttlSeconds: 600,
        breakLock: "r-a",
      });
      const afterExpiry = await store.acquireLock({
        fleet: "default",
        owner: "r-d",
        now: T0 + 3000 + 600_000,
        ttlSeconds: 600,
      });

      // Assess
      expect(first).toEqual({
        fleet: "default",
        owner: "r-a",
        acquiredAt: NOW,
        expiresAt: Math.floor(T0 / 1000) + 600,
      });
      expect(held).toMatchObject({
        name: "FleetLockedError",
        owner: "r-a",
        expiresAt: Math.floor(T0 / 1000) + 600,
        message:
          'fleet "default" is locked by rollout r-a until 2025-03-01T02:10:00.000Z; wait for it, or pass breakLock: "r-a" if that rollout is dead',
      });
      expect(retry.owner).toBe("r-a");
      expect(broken.owner).toBe("r-c");
      expect(afterExpiry.owner).toBe("r-d");
      expect(await store.getLock("default")).toEqual({
        fleet: "default",
        owner: "r-d",
        acquiredAt: later(603_000),
        expiresAt: Math.floor((T0 + 603_000) / 1000) + 600,
      });
    });

    it("does not break a lock whose owner is not the one named in breakLock", async () => {
      // Prepare
      await store.acquireLock({ fleet: "default", owner: "r-a", now: T0, ttlSeconds: 600 });

      // Act
      const result = store.acquireLock({
        fleet: "default",
        owner: "r-b",
        now: T0,
        ttlSeconds: 600,
        breakLock: "r-x",
      });

      // Assess
      await expect(result).rejects.toMatchObject({ name: "FleetLockedError", owner: "r-a" });
      expect((await store.getLock("default"))?.owner).toBe("r-a");
    });

    it("refuses a corrupt lock in the way with FleetLockedError naming its raw owner and key", async () => {
      // Prepare
      await seed(corruptLock({ owner: "r-a", expiresAt: Math.floor(T0 / 1000) + 600 }));

      // Act
      const result = store.acquireLock({
        fleet: "default",
        owner: "r-b",
        now: T0,
        ttlSeconds: 60,
      });

      // Assess
      await expect(result).rejects.toMatchObject({
        name: "FleetLockedError",
        owner: "r-a",
        message: expect.stringContaining("(corrupt lock item LOCK#default LOCK"),
      });
    });

    it("breaks a corrupt lock by its raw owner, or once its raw expiresAt has passed", async () => {
      // Prepare
      await seed(corruptLock({ owner: "r-a", expiresAt: Math.floor(T0 / 1000) + 600 }));

      // Act
      const broken = await store.acquireLock({
        fleet: "default",
        owner: "r-b",
        now: T0,
        ttlSeconds: 60,
        breakLock: "r-a",
      });
      await seed(corruptLock({ owner: "r-b", expiresAt: Math.floor(T0 / 1000) + 60 }));
      const expired = await store.acquireLock({
        fleet: "default",
        owner: "r-c",
        now: T0 + 61_000,
        ttlSeconds: 60,
      });

      // Assess
      expect(broken.owner).toBe("r-b");
      expect(expired.owner).toBe("r-c");
      expect(await store.getLock("default")).toMatchObject({ owner: "r-c" });
    });

    it("refreshes and releases only its own lock", async () => {
      // Prepare
      await store.acquireLock({ fleet: "default", owner: "r-a", now: T0, ttlSeconds: 600 });

      // Act
      const foreignRefresh = await store.refreshLock({
        fleet: "default",
        owner: "r-b",
        now: T0,
        ttlSeconds: 900,
      });
      const ownRefresh = await store.refreshLock({
        fleet: "default",
        owner: "r-a",
        now: T0 + 1000,
        ttlSeconds: 900,
      });
      const refreshed = await store.getLock("default");
      const foreignRelease = await store.releaseLock("default", "r-b");
      const ownRelease = await store.releaseLock("default", "r-a");
      const absentRelease = await store.releaseLock("default", "r-a");
      const absentRefresh = await store.refreshLock({
        fleet: "default",
        owner: "r-a",
        now: T0,
        ttlSeconds: 900,
      });

      // Assess
      expect([foreignRefresh, ownRefresh, foreignRelease, ownRelease]).toEqual([
        false,
        true,
        false,
        true,
      ]);
      expect([absentRelease, absentRefresh]).toEqual([false, false]);
      expect(refreshed?.expiresAt).toBe(Math.floor((T0 + 1000) / 1000) + 900);
      expect(await store.getLock("default")).toBeUndefined();
    });
  });

  describe(`${name}: host leases`, () => {
    const lock = (fleet: string, owner: string, now = T0) =>
      store.acquireLock({ fleet, owner, now, ttlSeconds: 600 });

    it("takes a fleet's lock whatever the case of its name", async () => {
      // Prepare
      await lock("prod", "r-a");

      // Act
      const result = lock("PROD", "r-b");

      // Assess
      await expect(result).rejects.toMatchObject({ name: "FleetLockedError", owner: "r-a" });
      expect(await store.getLock("Prod")).toMatchObject({ fleet: "prod", owner: "r-a" });
    });

    it("leases a host to one running rollout, whatever its fleet; a retry keeps its own", async () => {
      // Prepare
      await lock("prod", "r-a");
      await store.acquireLeases({ owner: "r-a", fleet: "prod", hostIds: [I1, I2], now: T0 });
      await lock("canary", "r-b");

      // Act
      const retry = await store.acquireLeases({
        owner: "r-a",
        fleet: "prod",
        hostIds: [I1, I2],
        now: T0 + 1000,
      });
      const refused = await store
        .acquireLeases({ owner: "r-b", fleet: "canary", hostIds: [I3, I2], now: T0 + 1000 })
        .catch((error: unknown) => error);

      // Assess
      expect(retry).toBeUndefined();
      expect(refused).toMatchObject({
        name: "FleetLockedError",
        owner: "r-a",
        message: expect.stringMatching(
          new RegExp(`^host ${I2} is in running rollout r-a \\(fleet "prod"\\)`),
        ),
      });
      // The refused plan keeps nothing it took.
      expect(await store.getLease(I3)).toBeUndefined();
      expect(await store.getLease(I2)).toMatchObject({ owner: "r-a", fleet: "prod" });
    });

    it("takes over the lease of a rollout whose lock is gone, expired, or named by breakLock", async () => {
      // Prepare
      await lock("prod", "r-a");
      await store.acquireLeases({ owner: "r-a", fleet: "prod", hostIds: [I1], now: T0 });
      await lock("eu", "r-c");
      await store.acquireLeases({ owner: "r-c", fleet: "eu", hostIds: [I2], now: T0 });
      await lock("us", "r-e");
      await store.acquireLeases({ owner: "r-e", fleet: "us", hostIds: [I3], now: T0 });
      await store.releaseLock("prod", "r-a");

      // Act: r-a's lock is gone, r-c's expired, r-e is named by breakLock
      await lock("other", "r-b", T0 + 601_000);
      await store.acquireLeases({
        owner: "r-b",
        fleet: "other",
        hostIds: [I1, I2, I3],
        now: T0 + 601_000,
        breakLock: "r-e",
      });

      // Assess
      for (const host of [I1, I2, I3]) {
        expect(await store.getLease(host)).toMatchObject({ owner: "r-b", fleet: "other" });
      }
    });

    it("releases only its own leases", async () => {
      // Prepare
      await store.acquireLeases({ owner: "r-a", fleet: "prod", hostIds: [I1, I2], now: T0 });

      // Act
      const foreign = await store.releaseLeases("r-b", [I1, I2]);
      const own = await store.releaseLeases("r-a", [I1, I2, I3]);

      // Assess
      expect([foreign, own]).toEqual([0, 2]);
      expect(await store.getLease(I1)).toBeUndefined();
    });

    it("lists a rollout's host ids from their keys, even when an item is corrupt", async () => {
      // Prepare
      await seed(hostItem({ hostId: I1, wave: 0 }));
      await seed({ ...hostItem({ hostId: I2, wave: 1 }), status: "DONE" });

      // Act
      const ids = await store.listHostIds(ROLLOUT_ID);

      // Assess
      expect(ids.sort()).toEqual([I1, I2].sort());
    });
  });

  describe(`${name}: rollouts`, () => {
    it("creates a PLANNED rollout from its input once; a second create finds it", async () => {
      // Prepare
      const input = storedInput({ fleet: "eu", failureThreshold: 3 });
      const rollout = { rolloutId: "r-1", input, hostCount: 7, waveCount: 3, now: T0 };

      // Act
      const first = await store.createRollout(rollout);
      const second = await store.createRollout({ ...rollout, hostCount: 1, now: T0 + 1000 });

      // Assess
      expect([first, second]).toEqual(["created", "exists"]);
      expect(await store.getRollout("r-1")).toEqual({
        rolloutId: "r-1",
        status: "PLANNED",
        input,
        fleet: "eu",
        profile: "demo",
        targetVersion: "2.0.0",
        hostCount: 7,
        waveCount: 3,
        failureThreshold: 3,
        failedCount: 0,
        createdAt: NOW,
        updatedAt: NOW,
      });
      expect(await store.getRollout("r-2")).toBeUndefined();
    });

    it("keeps what a whole-rollout rollback plans: the rollout it undoes, each host's versions", async () => {
      // Prepare
      const input = storedInput({ targetVersion: "1.0.0", hosts: { instanceIds: [I1, I2] } });

      // Act
      await store.createRollout({
        rolloutId: "r-back",
        input,
        hostCount: 2,
        waveCount: 1,
        rollbackOf: "r-up",
        now: T0,
      });
      await store.putHosts(
        "r-back",
        [
          {
            hostId: I1,
            instanceId: I1,
            wave: 0,
            order: 0,
            fromVersion: "2.0.0",
            toVersion: "1.0.0",
          },
          {
            hostId: I2,
            instanceId: I2,
            wave: 0,
            order: 1,
            fromVersion: "2.0.0",
            toVersion: "1.5.0",
          },
        ],
        T0,
      );

      // Assess
      expect(await store.getRollout("r-back")).toMatchObject({
        rollbackOf: "r-up",
        targetVersion: "1.0.0",
      });
      expect((await store.listRollouts(5))[0]).toMatchObject({
        rolloutId: "r-back",
        rollbackOf: "r-up",
      });
      expect(
        (await store.listHosts("r-back")).map((h) => [
          h.hostId,
          h.status,
          h.fromVersion,
          h.toVersion,
        ]),
      ).toEqual([
        [I1, "PENDING", "2.0.0", "1.0.0"],
        [I2, "PENDING", "2.0.0", "1.5.0"],
      ]);
    });

    it("lists rollouts newest first, without their input, up to the limit", async () => {
      // Prepare: three rollouts, the oldest first; an item of another kind in the index.
      for (const [i, rolloutId] of ["r-a", "r-b", "r-c"].entries()) {
        const input = storedInput({ fleet: `f${i}` });
        await store.createRollout({
          rolloutId,
          input,
          hostCount: i + 1,
          waveCount: 1,
          now: T0 + i,
        });
      }
      await store.putSnapshot(newSnapshot(I1));
      await store.markRolloutRunning("r-b", T0 + 10);

      // Act
      const two = await store.listRollouts(2);
      const all = await store.listRollouts(50);

      // Assess
      expect(two.map((r) => r.rolloutId)).toEqual(["r-c", "r-b"]);
      expect(all.map((r) => [r.rolloutId, r.status, r.fleet, r.hostCount])).toEqual([
        ["r-c", "PLANNED", "f2", 3],
        ["r-b", "RUNNING", "f1", 2],
        ["r-a", "PLANNED", "f0", 1],
      ]);
      expect(all[2]).toEqual({
        rolloutId: "r-a",
        status: "PLANNED",
        fleet: "f0",
        profile: "demo",
        targetVersion: "2.0.0",
        hostCount: 1,
        waveCount: 1,
        failureThreshold: 0,
        failedCount: 0,
        createdAt: NOW,
        updatedAt: NOW,
      });
    });

    it("marks a PLANNED rollout RUNNING, and leaves any other status alone", async () => {
      // Prepare
      await store.createRollout({
        rolloutId: ROLLOUT_ID,
        input: storedInput(),
        hostCount: 1,
        waveCount: 1,
        now: T0,
      });
      await seed(rolloutItem({ rolloutId: "r-halted", status: "HALTED", pk: "ROLLOUT#r-halted" }));

      // Act
      await store.markRolloutRunning(ROLLOUT_ID, T0 + 1000);
      await store.markRolloutRunning(ROLLOUT_ID, T0 + 2000);
      await store.markRolloutRunning("r-halted", T0 + 1000);
      await store.markRolloutRunning("r-absent", T0 + 1000);

      // Assess
      expect(await store.getRollout(ROLLOUT_ID)).toMatchObject({
        status: "RUNNING",
        updatedAt: later(1000),
      });
      expect(await store.getRollout("r-halted")).toMatchObject({
        status: "HALTED",
        updatedAt: NOW,
      });
      expect(await store.getRollout("r-absent")).toBeUndefined();
    });

    it("adds to failedCount, raises it only upwards, and refuses to count for an absent rollout", async () => {
      // Prepare
      await seed(rolloutItem({ failedCount: 3 }));

      // Act
      await store.raiseFailedCount(ROLLOUT_ID, 2, T0 + 1000);
      const unchanged = await store.getRollout(ROLLOUT_ID);
      await store.raiseFailedCount(ROLLOUT_ID, 5, T0 + 2000);
      await store.incrementFailedCount(ROLLOUT_ID, T0 + 3000);
      await store.raiseFailedCount("r-absent", 5, T0);
      const absent = await store
        .incrementFailedCount("r-absent", T0)
        .catch((error: unknown) => error);

      // Assess
      expect(unchanged).toMatchObject({ failedCount: 3, updatedAt: NOW });
      expect(await store.getRollout(ROLLOUT_ID)).toMatchObject({
        failedCount: 6,
        updatedAt: later(3000),
      });
      expect(absent).toMatchObject({ name: "ConditionalCheckFailedException" });
      expect(await store.getRollout("r-absent")).toBeUndefined();
    });

    it("reads the preflight gate's live fields only", async () => {
      // Prepare
      await seed(rolloutItem({ status: "RUNNING", failedCount: 2 }));

      // Act
      const gate = await store.getRolloutGate(ROLLOUT_ID);
      const missing = await store.getRolloutGate("rollout-2");

      // Assess
      expect(gate).toEqual({ status: "RUNNING", failedCount: 2, failureThreshold: 0 });
      expect(missing).toBeUndefined();
    });

    it("records an approval request on a RUNNING rollout only", async () => {
      // Prepare
      await seed(rolloutItem({ status: "RUNNING" }));

      // Act
      const recorded = await store.recordApprovalRequest(
        ROLLOUT_ID,
        { wave: 0, taskToken: "token-1" },
        T0 + 1000,
      );
      const absent = await store.recordApprovalRequest(
        "r-absent",
        { wave: 0, taskToken: "token-2" },
        T0 + 1000,
      );

      // Assess
      expect([recorded, absent]).toEqual([true, false]);
      expect((await store.getRollout(ROLLOUT_ID))?.approval).toEqual({
        wave: 0,
        taskToken: "token-1",
        requestedAt: later(1000),
      });
    });

    it("writes a halt's reason as haltReason, cut to 1024 characters", async () => {
      // Prepare
      await seed(rolloutItem({ status: "RUNNING" }));

      // Act
      const recorded = await store.finishRollout({
        rolloutId: ROLLOUT_ID,
        status: "HALTED",
        counts: { UPGRADED: 1 },
        haltReason: `approval after wave 0 was rejected: ${"x".repeat(2000)}`,
        now: T0 + 1000,
        from: ["PLANNED", "RUNNING"],
      });

      // Assess
      const rollout = await store.getRollout(ROLLOUT_ID);
      expect(recorded).toBe(true);
      expect(rollout).toMatchObject({ status: "HALTED" });
      expect(rollout?.haltReason).toMatch(/^approval after wave 0 was rejected: x+$/);
      expect(rollout?.haltReason).toHaveLength(1024);
    });

    it("finishes a rollout from RUNNING, and again with the same status, but not with another", async () => {
      // Prepare
      await seed(rolloutItem({ status: "RUNNING" }));
      const args = {
        rolloutId: ROLLOUT_ID,
        counts: { UPGRADED: 2 },
        now: T0 + 1000,
        from: ["PLANNED", "RUNNING"] as const,
      };

      // Act
      const first = await store.finishRollout({ ...args, status: "SUCCEEDED" });
      const repeat = await store.finishRollout({ ...args, status: "SUCCEEDED" });
      const other = await store.finishRollout({ ...args, status: "HALTED" });
      const afterSuccess = await store.getRollout(ROLLOUT_ID);
      const failure = await store.finishRollout({
        ...args,
        status: "FAILED",
        from: "any",
        error: { name: "X", message: "y" },
        now: T0 + 2000,
      });
      const absent = await store.finishRollout({
        ...args,
        rolloutId: "r-absent",
        from: "any",
        status: "FAILED",
      });

      // Assess
      expect([first, repeat, other, failure, absent]).toEqual([true, true, false, true, false]);
      expect(afterSuccess).toMatchObject({
        status: "SUCCEEDED",
        counts: { UPGRADED: 2 },
        finishedAt: later(1000),
        updatedAt: later(1000),
      });
      expect(afterSuccess?.error).toBeUndefined();
      expect(await store.getRollout(ROLLOUT_ID)).toMatchObject({
        status: "FAILED",
        error: { name: "X", message: "y" },
        counts: { UPGRADED: 2 },
        finishedAt: later(2000),
      });
      expect(await store.getRollout("r-absent")).toBeUndefined();
    });
  });

  describe(`${name}: hosts`, () => {
    it("writes PENDING hosts and lists a wave, or the rollout, in order", async () => {
      // Prepare: 30 hosts (more than one batch), given out of order
      const hosts = Array.from({ length: 30 }, (_, n) => ({
        hostId: `i-${String(n).padStart(17, "0")}`,
        instanceId: `i-${String(n).padStart(17, "0")}`,
        wave: n < 2 ? 0 : 1 + (n % 2),
        order: 29 - n,
      })).reverse();

      // Act
      await store.putHosts(ROLLOUT_ID, hosts, T0);
      const wave1 = await store.listWaveHosts(ROLLOUT_ID, 1);
      const all = await store.listHosts(ROLLOUT_ID);
      const one = await store.getHost({
        rolloutId: ROLLOUT_ID,
        wave: 0,
        hostId: hosts[29]?.hostId ?? "",
      });

      // Assess
      expect(wave1.map((h) => h.order)).toEqual([
        1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27,
      ]);
      expect(all).toHaveLength(30);
      expect(all.map((h) => [h.wave, h.order])).toEqual(
        [...all.map((h) => [h.wave, h.order])].sort(
          ([wa = 0, oa = 0], [wb = 0, ob = 0]) => wa - wb || oa - ob,
        ),
      );
      expect(one).toEqual({
        rolloutId: ROLLOUT_ID,
        hostId: "i-00000000000000000",
        instanceId: "i-00000000000000000",
        wave: 0,
        order: 29,
        status: "PENDING",
        commands: {},
        stepMs: {},
        updatedAt: NOW,
      });
      expect(await store.listWaveHosts(ROLLOUT_ID, 7)).toEqual([]);
      expect(await store.listHosts("r-other")).toEqual([]);
    });

    it("places a waiting host in another wave with its job count, finishing an interrupted move", async () => {
      // Prepare: I1 and I2 in wave 0, I3 in wave 1; I3 also left in wave 0 by an
      // interrupted placement (its new copy written, the old one not yet deleted)
      const hosts = [I1, I2, I3].map((hostId, order) => ({
        hostId,
        instanceId: hostId,
        wave: order === 2 ? 1 : 0,
        order,
      }));
      await store.putHosts(ROLLOUT_ID, hosts, T0);
      await store.placeHost({
        rolloutId: ROLLOUT_ID,
        hostId: I3,
        fromWaves: [1],
        toWave: 0,
        order: 1,
        jobCount: 0,
        now: T0,
      });
      await store.recordCommand({
        key: { rolloutId: ROLLOUT_ID, wave: 0, hostId: I1 },
        step: "preflight",
        commandId: "cmd-1",
        status: "PREFLIGHT",
        from: ["PENDING"],
        now: T0,
      });

      // Act: I2 moves out to wave 1; I3 stays in wave 0 with its move finished; I1,
      // started, stays where it is
      await store.placeHost({
        rolloutId: ROLLOUT_ID,
        hostId: I2,
        fromWaves: [0],
        toWave: 1,
        order: 2,
        jobCountReason: "did not answer in time",
        now: T0 + 1000,
      });
      await store.placeHost({
        rolloutId: ROLLOUT_ID,
        hostId: I3,
        fromWaves: [0, 1],
        toWave: 0,
        order: 1,
        jobCount: 0,
        now: T0 + 1000,
      });
      await store.placeHost({
        rolloutId: ROLLOUT_ID,
        hostId: I1,
        fromWaves: [0],
        toWave: 1,
        order: 5,
        jobCount: 9,
        now: T0 + 1000,
      });

      // Assess
      const placed = (await store.listHosts(ROLLOUT_ID)).map((h) => [
        h.hostId,
        h.wave,
        h.order,
        h.jobCount ?? h.jobCountReason ?? null,
      ]);
      expect(placed).toEqual([
        [I1, 0, 0, null],
        [I3, 0, 1, 0],
        [I2, 1, 2, "did not answer in time"],
      ]);
      expect(await store.getHost({ rolloutId: ROLLOUT_ID, wave: 1, hostId: I2 })).toMatchObject({
        status: "PENDING",
        updatedAt: later(1000),
      });
    });

    it("refuses a host it cannot store, naming the field", async () => {
      // Act
      const result = store.putHosts(
        ROLLOUT_ID,
        [{ hostId: "web-1", instanceId: "web-1", wave: 0, order: 0 }],
        T0,
      );

      // Assess
      await expect(result).rejects.toMatchObject({
        name: "InvalidLedgerItemError",
        message: expect.stringContaining("hostId:"),
      });
      expect(await store.listHosts(ROLLOUT_ID)).toEqual([]);
    });

    it("records a step's command once and reports the first one to a second attempt", async () => {
      // Prepare
      await seed(hostItem({ wave: 1 }));

      // Act
      const first = await store.recordCommand({
        key: KEY,
        step: "preflight",
        commandId: "c-1",
        status: "PREFLIGHT",
        from: ["PENDING"],
        now: T0 + 1000,
      });
      const second = await store.recordCommand({
        key: KEY,
        step: "preflight",
        commandId: "c-2",
        status: "PREFLIGHT",
        from: ["PENDING"],
        now: T0 + 2000,
      });
      await store.recordStepResult({
        key: KEY,
        step: "preflight",
        commandId: "c-1",
        fields: { stepMs: 800, fromVersion: "1.0.0" },
        now: T0 + 3000,
      });
      const wrongCommand = await store
        .recordStepResult({
          key: KEY,
          step: "preflight",
          commandId: "c-2",
          fields: { stepMs: 1 },
          now: T0,
        })
        .catch((error: unknown) => error);

      // Assess
      expect(first).toEqual({ recorded: true, commandId: "c-1" });
      expect(second).toEqual({ recorded: false, commandId: "c-1" });
      expect(wrongCommand).toMatchObject({
        name: "LedgerConflictError",
        message: `host ${I1}: preflight command c-2 is not the one recorded`,
      });
      expect(await store.getHost(KEY)).toEqual({
        ...hostItem({ wave: 1 }),
        pk: undefined,
        sk: undefined,
        kind: undefined,
        schemaVersion: undefined,
        status: "PREFLIGHT",
        commands: { preflight: "c-1" },
        stepMs: { preflight: 800 },
        fromVersion: "1.0.0",
        preflightEndedAt: later(3000),
        updatedAt: later(3000),
      });
    });

    it("records what a preflight and a failed step add: the rollout to adopt, the version served", async () => {
      // Prepare
      await seed(
        hostItem({
          wave: 1,
          status: "SWITCHING",
          commands: { preflight: "c0", stage: "c1", switch: "c2" },
        }),
      );

      // Act
      await store.recordStepResult({
        key: KEY,
        step: "preflight",
        commandId: "c0",
        fields: { stepMs: 10, fromVersion: "2.0.0", adoptRolloutId: "r-lost" },
        now: T0 + 500,
      });
      await store.recordStepResult({
        key: KEY,
        step: "switch",
        commandId: "c2",
        fields: { stepMs: 4200, runningVersion: "2.0.0" },
        now: T0 + 1000,
      });

      // Assess
      expect(await store.getHost(KEY)).toMatchObject({
        status: "SWITCHING",
        stepMs: { preflight: 10, switch: 4200 },
        fromVersion: "2.0.0",
        adoptRolloutId: "r-lost",
        runningVersion: "2.0.0",
        switchEndedAt: later(1000),
      });
    });

    it("records all of a switch's result fields", async () => {
      // Prepare
      await seed(
        hostItem({
          wave: 1,
          status: "SWITCHING",
          commands: { preflight: "c0", stage: "c1", switch: "c2" },
          stepMs: { preflight: 10, stage: 20 },
        }),
      );

      // Act
      await store.recordStepResult({
        key: KEY,
        step: "switch",
        commandId: "c2",
        fields: {
          stepMs: 4200,
          fromVersion: "1.0.0",
          toVersion: "2.0.0",
          suspendMs: 900,
          listenerGapMs: 350,
        },
        now: T0 + 1000,
      });

      // Assess
      expect(await store.getHost(KEY)).toMatchObject({
        status: "SWITCHING",
        stepMs: { preflight: 10, stage: 20, switch: 4200 },
        fromVersion: "1.0.0",
        toVersion: "2.0.0",
        suspendMs: 900,
        listenerGapMs: 350,
        switchEndedAt: later(1000),
        updatedAt: later(1000),
      });
    });

    it("raises LedgerConflictError for a command on a host in another status, or absent", async () => {
      // Prepare
      await seed(hostItem({ wave: 1, status: "FAILED" }));
      const args = {
        step: "stage" as const,
        commandId: "cmd-1",
        status: "STAGING" as const,
        from: ["PREFLIGHT" as const],
        now: T0,
      };

      // Act
      const failed = await store
        .recordCommand({ ...args, key: KEY })
        .catch((error: unknown) => error);
      const absent = await store
        .recordCommand({ ...args, key: { ...KEY, hostId: I2 } })
        .catch((error: unknown) => error);
      const absentResult = await store
        .recordStepResult({
          key: { ...KEY, hostId: I2 },
          step: "stage",
          commandId: "cmd-1",
          fields: { stepMs: 1 },
          now: T0,
        })
        .catch((error: unknown) => error);

      // Assess
      expect(failed).toMatchObject({
        name: "LedgerConflictError",
        message: `host ${I1} is FAILED; stage expects PREFLIGHT`,
      });
      expect(absent).toMatchObject({
        name: "LedgerConflictError",
        message: `host ${I2} of rollout ${ROLLOUT_ID} is not in the ledger`,
      });
      expect(absentResult).toMatchObject({ name: "LedgerConflictError" });
      expect(await store.getHost(KEY)).toMatchObject({ status: "FAILED", commands: {} });
    });

    it("finalizes a host only from an active status, reporting the status it found", async () => {
      // Prepare
      await seed(hostItem({ wave: 1, status: "STAGING" }));
      const error = { name: "HostStepFailedError", message: "disk full" };

      // Act
      const first = await store.finalizeHost({ key: KEY, status: "FAILED", error, now: T0 + 1000 });
      const again = await store.finalizeHost({ key: KEY, status: "UPGRADED", now: T0 + 2000 });
      const absent = await store
        .finalizeHost({ key: { ...KEY, hostId: I3 }, status: "FAILED", now: T0 })
        .catch((error: unknown) => error);

      // Assess
      expect(first).toEqual({ transitioned: true, status: "FAILED" });
      expect(again).toEqual({ transitioned: false, status: "FAILED" });
      expect(absent).toMatchObject({ name: "LedgerConflictError" });
      expect(await store.getHost(KEY)).toMatchObject({
        status: "FAILED",
        error,
        updatedAt: later(1000),
      });
    });

    it("fails an upgraded host that stopped serving only from UPGRADED, with the version it runs", async () => {
      // Prepare
      await seed(hostItem({ wave: 1, status: "UPGRADED", toVersion: "2.0.0" }));
      await seed(hostItem({ wave: 1, hostId: I2, order: 1, status: "SWITCHING" }));
      const error = { name: "StoppedServing", message: "stopped serving after the switch: down" };

      // Act
      const first = await store.failUpgradedHost({
        key: KEY,
        status: "ROLLED_BACK",
        error,
        runningVersion: "1.0.0",
        now: T0 + 1000,
      });
      const again = await store.failUpgradedHost({
        key: KEY,
        status: "FAILED",
        error,
        now: T0 + 2000,
      });
      const active = await store.failUpgradedHost({
        key: { ...KEY, hostId: I2 },
        status: "FAILED",
        error,
        now: T0,
      });
      const absent = await store
        .failUpgradedHost({ key: { ...KEY, hostId: I3 }, status: "FAILED", error, now: T0 })
        .catch((error: unknown) => error);

      // Assess
      expect(first).toEqual({ transitioned: true, status: "ROLLED_BACK" });
      expect(again).toEqual({ transitioned: false, status: "ROLLED_BACK" });
      expect(active).toEqual({ transitioned: false, status: "SWITCHING" });
      expect(absent).toMatchObject({ name: "LedgerConflictError" });
      expect(await store.getHost(KEY)).toMatchObject({
        status: "ROLLED_BACK",
        toVersion: "2.0.0",
        runningVersion: "1.0.0",
        error,
        updatedAt: later(1000),
      });
    });

    it("record-host counts a failure once across two identical calls", async () => {
      // Prepare
      await seed(rolloutItem({ failedCount: 0 }));
      await seed(hostItem({ status: "STAGING" }));
      await seed(hostItem({ hostId: I2, order: 1, status: "SWITCHING" }));
      const deps = { store, clock: fakeClock(), config: {} } as never;
      const host = { rolloutId: ROLLOUT_ID, wave: 0, hostId: I1, instanceId: I1 };
      const event = {
        outcome: "failure" as const,
        host,
        error: {
          Error: "HostStepFailedError",
          Cause: JSON.stringify({
            errorType: "HostStepFailedError",
            errorMessage: "stage failed on i-1: no space",
            trace: ["x"],
          }),
        },
      };

      // Act
      const first = await recordHost(deps, event);
      const second = await recordHost(deps, event);
      const rolledBack = await recordHost(deps, {
        outcome: "result",
        host: { ...host, hostId: I2, instanceId: I2 },
        switch: {
          step: "switch",
          commandId: "c",
          done: true,
          waitSeconds: 0,
          status: "ROLLED_BACK",
          summary: { reason: "health failed" },
        },
      });

      // Assess
      expect(first).toEqual({ hostId: I1, status: "FAILED" });
      expect(second).toEqual({ hostId: I1, status: "FAILED" });
      expect(rolledBack).toEqual({ hostId: I2, status: "ROLLED_BACK" });
      expect((await store.getRollout(ROLLOUT_ID))?.failedCount).toBe(2);
      expect(await store.getHost({ rolloutId: ROLLOUT_ID, wave: 0, hostId: I1 })).toMatchObject({
        status: "FAILED",
        error: { name: "HostStepFailedError", message: "stage failed on i-1: no space" },
      });
    });
  });

  describe(`${name}: snapshots`, () => {
    it("writes a snapshot once: the same jobs again are a repeat, other jobs a conflict", async () => {
      // Act
      const first = await store.putSnapshot(newSnapshot(I1));
      const again = await store.putSnapshot(newSnapshot(I1, { now: T0 + 300_000 }));
      const other = store.putSnapshot(
        newSnapshot(I1, { jobs: jobs(3).items, jobsSha256: jobs(3).sha256 }),
      );

      // Assess
      expect([first, again]).toEqual(["created", "exists"]);
      await expect(other).rejects.toMatchObject({
        name: "LedgerConflictError",
        message: `snapshot of host ${I1} for rollout ${ROLLOUT_ID} already exists with other jobs`,
      });
      expect(await store.getSnapshot(I1, ROLLOUT_ID)).toEqual({
        hostId: I1,
        rolloutId: ROLLOUT_ID,
        instanceId: I1,
        profile: "demo",
        oldVersion: "1.0.0",
        oldRelease: "/opt/agent/releases/1.0.0",
        jobCount: 2,
        jobsSha256: jobs(2).sha256,
        chunkCount: 1,
        cleanup: "PENDING",
        attempts: 0,
        createdAt: NOW,
      });
    });

    it("records the release a rolled-back switch abandoned: an empty snapshot, pending cleanup", async () => {
      // Act
      await store.putSnapshot(
        newSnapshot(I1, {
          oldVersion: "2.0.0",
          oldRelease: "/opt/agent/releases/2.0.0",
          abandoned: true,
          jobs: [],
          jobsSha256: jobs(0).sha256,
        }),
      );

      // Assess
      expect(await store.getSnapshot(I1, ROLLOUT_ID)).toMatchObject({
        oldVersion: "2.0.0",
        oldRelease: "/opt/agent/releases/2.0.0",
        abandoned: true,
        jobCount: 0,
        chunkCount: 0,
        cleanup: "PENDING",
      });
      expect((await store.listPendingCleanups()).items).toMatchObject([
        { hostId: I1, abandoned: true },
      ]);
    });

    it("counts 2,500 jobs in 3 chunks, and a snapshot without jobs in none", async () => {
      // Prepare
      const many = jobs(2500);

      // Act
      await store.putSnapshot(newSnapshot(I1, { jobs: many.items, jobsSha256: many.sha256 }));
      await store.putSnapshot(newSnapshot(I2, { jobs: [], jobsSha256: "e".repeat(64) }));

      // Assess
      expect(await store.getSnapshot(I1, ROLLOUT_ID)).toMatchObject({
        jobCount: 2500,
        chunkCount: 3,
      });
      expect(await store.getSnapshot(I2, ROLLOUT_ID)).toMatchObject({ jobCount: 0, chunkCount: 0 });
    });

    it("lists pending snapshots oldest first; a done cleanup leaves the list", async () => {
      // Prepare
      await store.putSnapshot(newSnapshot(I2, { now: T0 - 3_600_000 }));
      await store.putSnapshot(newSnapshot(I1));
      await store.putSnapshot(newSnapshot(I3, { now: T0 - 60_000 }));

      // Act
      const before = await store.listPendingCleanups();
      const kept = await store.recordCleanupAttempt({
        hostId: I1,
        rolloutId: ROLLOUT_ID,
        result: { status: "KEPT", alive: 1 },
        now: T0 + 1000,
      });
      const done = await store.completeCleanup({
        hostId: I2,
        rolloutId: ROLLOUT_ID,
        result: { status: "DELETED" },
        now: T0 + 2000,
      });
      const doneAgain = await store.completeCleanup({
        hostId: I2,
        rolloutId: ROLLOUT_ID,
        result: { status: "DELETED" },
        now: T0 + 3000,
      });
      const attemptOnDone = await store.recordCleanupAttempt({
        hostId: I2,
        rolloutId: ROLLOUT_ID,
        result: { status: "KEPT" },
        now: T0 + 3000,
      });
      const absent = await store.completeCleanup({
        hostId: I1,
        rolloutId: "r-absent",
        result: { status: "DELETED" },
        now: T0,
      });
      const after = await store.listPendingCleanups();

      // Assess
      expect(before.items.map((s) => s.hostId)).toEqual([I2, I3, I1]);
      expect(before.corrupt).toEqual([]);
      expect([kept, done, doneAgain, attemptOnDone, absent]).toEqual([
        true,
        true,
        false,
        false,
        false,
      ]);
      expect(after.items.map((s) => s.hostId)).toEqual([I3, I1]);
      expect(after.items[1]).toMatchObject({
        hostId: I1,
        cleanup: "PENDING",
        attempts: 1,
        lastCheckedAt: later(1000),
        lastResult: { status: "KEPT", alive: 1 },
      });
      expect(await store.getSnapshot(I2, ROLLOUT_ID)).toMatchObject({
        cleanup: "DONE",
        attempts: 1,
        lastCheckedAt: later(2000),
        lastResult: { status: "DELETED" },
      });
      expect(await store.getSnapshot(I1, "r-absent")).toBeUndefined();
    });
  });

  describe(`${name}: reading past corrupt items`, () => {
    it("lists the readable pending snapshots and the keys of the corrupt ones", async () => {
      // Prepare
      await store.putSnapshot(newSnapshot(I1));
      await seed({ ...snapshotItem(I2, ROLLOUT_ID), jobCount: "2" });
      await store.putSnapshot(newSnapshot(I3, { now: T0 - 60_000 }));

      // Act
      const pending = await store.listPendingCleanups();

      // Assess
      expect(pending.items.map((s) => s.hostId)).toEqual([I3, I1]);
      expect(pending.corrupt).toEqual([`HOST#${I2} SNAPSHOT#${ROLLOUT_ID}`]);
    });

    it("lists a rollout's readable hosts and the keys of the corrupt ones", async () => {
      // Prepare
      await seed(hostItem({ hostId: I1, wave: 0, order: 0 }));
      await seed({ ...hostItem({ hostId: I2, wave: 0, order: 1 }), status: "DONE" });
      await seed(hostItem({ hostId: I3, wave: 1, order: 2 }));

      // Act
      const listing = await store.listHostsSkippingCorrupt(ROLLOUT_ID);

      // Assess
      expect(listing.items.map((h) => h.hostId)).toEqual([I1, I3]);
      expect(listing.corrupt).toEqual([`ROLLOUT#${ROLLOUT_ID} HOST#0000#${I2}`]);
    });

    it("reads the fleet of a rollout whose item is otherwise corrupt", async () => {
      // Prepare
      await seed({ ...rolloutItem({ fleet: "eu" }), hostCount: "many" });

      // Act
      const fleet = await store.getRolloutFleet(ROLLOUT_ID);
      const absent = await store.getRolloutFleet("r-absent");

      // Assess
      await expect(store.getRollout(ROLLOUT_ID)).rejects.toMatchObject({
        name: "InvalidLedgerItemError",
      });
      expect(fleet).toBe("eu");
      expect(absent).toBeUndefined();
    });

    it("records the end of a corrupt rollout", async () => {
      // Prepare
      await seed({ ...rolloutItem({ status: "RUNNING" }), hostCount: "many" });

      // Act
      const recorded = await store.finishRollout({
        rolloutId: ROLLOUT_ID,
        status: "FAILED",
        counts: {},
        now: T0,
        from: ["PLANNED", "RUNNING"],
      });

      // Assess
      expect(recorded).toBe(true);
    });
  });

  describe(`${name}: corrupt items`, () => {
    it.each([
      [
        "a rollout of another schemaVersion",
        () => seed({ ...rolloutItem(), schemaVersion: 2 }),
        () => store.getRollout(ROLLOUT_ID),
        `ROLLOUT#${ROLLOUT_ID} ROLLOUT`,
        "schemaVersion",
      ],
      [
        "a rollout with an unknown field",
        () => seed({ ...rolloutItem(), extra: 1 }),
        () => store.getRollout(ROLLOUT_ID),
        `ROLLOUT#${ROLLOUT_ID} ROLLOUT`,
        "extra",
      ],
      [
        "a gate with a negative failedCount",
        () => seed(rolloutItem({ failedCount: -1 })),
        () => store.getRolloutGate(ROLLOUT_ID),
        `ROLLOUT#${ROLLOUT_ID} ROLLOUT`,
        "failedCount",
      ],
      [
        "a rollout whose counts carry a constructor key",
        () => seed({ ...rolloutItem({ status: "SUCCEEDED" }), counts: { constructor: 1 } }),
        () => store.getRollout(ROLLOUT_ID),
        `ROLLOUT#${ROLLOUT_ID} ROLLOUT`,
        "counts",
      ],
      [
        "a host with an unknown status",
        () => seed({ ...hostItem(), status: "DONE" }),
        () => store.listHosts(ROLLOUT_ID),
        `ROLLOUT#${ROLLOUT_ID} HOST#0000#${I1}`,
        "status",
      ],
      [
        "a host in a wave listing",
        () => seed({ ...hostItem({ wave: 2 }), order: "1" }),
        () => store.listWaveHosts(ROLLOUT_ID, 2),
        `ROLLOUT#${ROLLOUT_ID} HOST#0002#${I1}`,
        "order",
      ],
      [
        "a host read by its key",
        () => seed({ ...hostItem({ wave: 1 }), commands: [] }),
        () => store.getHost(KEY),
        `ROLLOUT#${ROLLOUT_ID} HOST#0001#${I1}`,
        "commands",
      ],
      [
        "a lock without an expiry",
        () =>
          seed({
            pk: "LOCK#default",
            sk: "LOCK",
            kind: "lock",
            schemaVersion: 1,
            fleet: "default",
            owner: "r-a",
            acquiredAt: NOW,
          }),
        () => store.getLock("default"),
        "LOCK#default LOCK",
        "expiresAt",
      ],
      [
        "a snapshot read by its key",
        () => seed({ ...snapshotItem(I1, ROLLOUT_ID), cleanup: "MAYBE" }),
        () => store.getSnapshot(I1, ROLLOUT_ID),
        `HOST#${I1} SNAPSHOT#${ROLLOUT_ID}`,
        "cleanup",
      ],
      [
        "a snapshot in the way of a repeat",
        () => seed({ ...snapshotItem(I1, ROLLOUT_ID), kind: "snap" }),
        () => store.putSnapshot(newSnapshot(I1)),
        `HOST#${I1} SNAPSHOT#${ROLLOUT_ID}`,
        "kind",
      ],
    ] as const)(
      "raises InvalidLedgerItemError naming the key of %s",
      async (_, prepare, act, key, field) => {
        // Prepare
        await prepare();

        // Act
        const result = act();

        // Assess
        await expect(result).rejects.toMatchObject({
          name: "InvalidLedgerItemError",
          key,
          message: expect.stringMatching(new RegExp(`^ledger item ${key}: .*${field}`)),
        });
      },
    );
  });
}
