/**
 * `unlock HOST` on the in-memory ledger: a host's lease is freed when its owner no
 * longer runs or no longer holds its fleet's lock, refused while the owner runs.
 */
import { describe, expect, it } from "vitest";
import type { ExecutionState } from "../../cli/backend.js";
import { decideLeaseUnlock, unlockCommand } from "../../cli/commands/unlock.js";
import { EXIT } from "../../cli/errors.js";
import { I1, I2, T0 } from "../lambdas/helpers.js";
import { memoryBackend, recordingIo } from "./helpers.js";

const OWNER = "r-owner";

/** I1 and I2 leased to OWNER, which holds fleet "blue" for 10 minutes from T0. */
async function leased(state: ExecutionState) {
  const backend = memoryBackend({ states: { [OWNER]: state } });
  await backend.store.acquireLock({ fleet: "blue", owner: OWNER, now: T0, ttlSeconds: 600 });
  await backend.store.acquireLeases({ owner: OWNER, fleet: "blue", hostIds: [I1, I2], now: T0 });
  return backend;
}

describe("unlock HOST", () => {
  it("refuses while the owner runs and holds its fleet's lock, naming the owner; exit 1", async () => {
    // Prepare
    const backend = await leased("RUNNING");
    const io = recordingIo(T0 + 1000);

    // Act
    const code = await unlockCommand(backend, I1, io);

    // Assess
    expect(code).toBe(EXIT.FAILED);
    expect(io.lines).toEqual([
      `refused: host ${I1} stays leased: its owner, rollout ${OWNER}, is still running ` +
        "(the lock expires at 2025-03-01T02:10:00.000Z)",
    ]);
    expect(await backend.store.getLease(I1)).toMatchObject({ owner: OWNER });
  });

  it.each([
    ["ended", "FAILED", T0, `its owner, rollout ${OWNER}, ended FAILED`],
    ["has no execution", "NOT_FOUND", T0, `its owner, rollout ${OWNER}, has no execution`],
    ["runs past its lock's expiry", "RUNNING", T0 + 601_000, "it expired at"],
  ] as const)(
    "frees the lease of an owner that %s; only that host, not the lock",
    async (_, state, now, reason) => {
      // Prepare
      const backend = await leased(state);
      const io = recordingIo(now);

      // Act
      const code = await unlockCommand(backend, I1, io);

      // Assess
      expect(code).toBe(EXIT.OK);
      expect(io.lines[0]).toMatch(
        new RegExp(`^host ${I1} unleased \\(was leased to rollout ${OWNER}\\): `),
      );
      expect(io.lines[0]).toContain(reason);
      expect(await backend.store.getLease(I1)).toBeUndefined();
      expect(await backend.store.getLease(I2)).toMatchObject({ owner: OWNER });
      expect(await backend.store.getLock("blue")).toMatchObject({ owner: OWNER });
    },
  );

  it("frees a lease whose owner no longer holds its fleet's lock, even while it runs", async () => {
    const backend = await leased("RUNNING");
    await backend.store.releaseLock("blue", OWNER);
    const io = recordingIo(T0);

    const code = await unlockCommand(backend, I2, io);

    expect(code).toBe(EXIT.OK);
    expect(io.lines).toEqual([
      `host ${I2} unleased (was leased to rollout ${OWNER}): its owner, rollout ${OWNER}, ` +
        "no longer holds the lock of fleet blue",
    ]);
    expect(await backend.store.getLease(I2)).toBeUndefined();
  });

  it("says a host without a lease is not leased, exit 0", async () => {
    const backend = memoryBackend();
    const io = recordingIo(T0);

    expect(await unlockCommand(backend, I1, io)).toBe(EXIT.OK);
    expect(io.lines).toEqual([`host ${I1} is not leased`]);
  });

  it("judges a lease by its own fleet's lock: another rollout's lock frees nothing", () => {
    const lease = {
      hostId: I1,
      owner: OWNER,
      fleet: "blue",
      acquiredAt: "2025-03-01T02:00:00.000Z",
    };
    const other = {
      fleet: "blue",
      owner: "r-other",
      acquiredAt: lease.acquiredAt,
      expiresAt: T0 / 1000 + 60,
    };
    expect(decideLeaseUnlock(lease, other, "RUNNING", T0)).toMatchObject({ free: true });
    const own = { ...other, owner: OWNER };
    expect(decideLeaseUnlock(lease, own, "RUNNING", T0)).toMatchObject({ free: false });
  });
});
