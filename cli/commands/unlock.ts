import { iso, type Lease, type Lock } from "../../lambdas/common/ledger/items.js";
import { INSTANCE_ID_PATTERN } from "../../lambdas/common/schemas.js";
import type { Backend, ExecutionState } from "../backend.js";
import { EXIT } from "../errors.js";
import type { CommandIo } from "./io.js";

/** Whether a lock may be freed, and why. */
export interface UnlockDecision {
  readonly free: boolean;
  readonly reason: string;
}

/**
 * The one rule for freeing a lock by hand (the rollout's own `breakLock` follows it
 * too): its owner's execution no longer runs, or the lock has expired. A lock whose
 * owner still runs and that has not expired is refused.
 */
export function decideUnlock(lock: Lock, owner: ExecutionState, nowMs: number): UnlockDecision {
  if (lock.expiresAt * 1000 <= nowMs) {
    return { free: true, reason: `it expired at ${iso(lock.expiresAt * 1000)}` };
  }
  if (owner === "RUNNING") {
    return {
      free: false,
      reason: `its owner, rollout ${lock.owner}, is still running (the lock expires at ${iso(lock.expiresAt * 1000)})`,
    };
  }
  const state = owner === "NOT_FOUND" ? "has no execution" : `ended ${owner}`;
  return { free: true, reason: `its owner, rollout ${lock.owner}, ${state}` };
}

/**
 * The rule for freeing a host's lease by hand: a lease is live while its owner holds
 * its fleet's lock, so one whose owner no longer holds that lock is stale; otherwise
 * the lock decides, by {@link decideUnlock}.
 */
export function decideLeaseUnlock(
  lease: Lease,
  lock: Lock | undefined,
  owner: ExecutionState,
  nowMs: number,
): UnlockDecision {
  if (lock?.owner !== lease.owner) {
    return {
      free: true,
      reason: `its owner, rollout ${lease.owner}, no longer holds the lock of fleet ${lease.fleet}`,
    };
  }
  return decideUnlock(lock, owner, nowMs);
}

/**
 * `unlock FLEET` frees a fleet's lock, `unlock HOST` (an instance id) a host's lease,
 * when {@link decideUnlock} / {@link decideLeaseUnlock} allow it. 0 when freed or not
 * held; 1 when refused (its owner still runs) or the item changed while checked.
 */
export async function unlockCommand(
  backend: Backend,
  target: string,
  io: CommandIo,
): Promise<number> {
  if (INSTANCE_ID_PATTERN.test(target)) return unlockHost(backend, target, io);
  const lock = await backend.store.getLock(target);
  if (lock === undefined) {
    io.out(`fleet ${target} is not locked`);
    return EXIT.OK;
  }
  const decision = decideUnlock(lock, await backend.executionState(lock.owner), io.now());
  if (!decision.free) {
    io.out(`refused: fleet ${target} stays locked: ${decision.reason}`);
    return EXIT.FAILED;
  }
  if (!(await backend.store.releaseLock(target, lock.owner))) {
    io.out(`fleet ${target}: the lock changed while it was checked; run unlock again`);
    return EXIT.FAILED;
  }
  io.out(`fleet ${target} unlocked (was held by rollout ${lock.owner}): ${decision.reason}`);
  return EXIT.OK;
}

/** `unlock HOST`: frees the host's lease; the fleet's lock, if any, is left as it is. */
async function unlockHost(backend: Backend, hostId: string, io: CommandIo): Promise<number> {
  const lease = await backend.store.getLease(hostId);
  if (lease === undefined) {
    io.out(`host ${hostId} is not leased`);
    return EXIT.OK;
  }
  const lock = await backend.store.getLock(lease.fleet);
  const decision = decideLeaseUnlock(
    lease,
    lock,
    await backend.executionState(lease.owner),
    io.now(),
  );
  if (!decision.free) {
    io.out(`refused: host ${hostId} stays leased: ${decision.reason}`);
    return EXIT.FAILED;
  }
  if ((await backend.store.releaseLeases(lease.owner, [hostId])) !== 1) {
    io.out(`host ${hostId}: the lease changed while it was checked; run unlock again`);
    return EXIT.FAILED;
  }
  io.out(`host ${hostId} unleased (was leased to rollout ${lease.owner}): ${decision.reason}`);
  return EXIT.OK;
}
