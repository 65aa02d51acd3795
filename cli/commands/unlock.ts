import { iso, type Lock } from "../../lambdas/common/ledger/items.js";
import { INSTANCE_ID_PATTERN } from "../../lambdas/common/schemas.js";
import type { Backend, ExecutionState } from "../backend.js";
import { CliError, EXIT } from "../errors.js";
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

/** `unlock FLEET`: frees a fleet's lock when {@link decideUnlock} allows it; 1 when refused. */
export async function unlockCommand(
  backend: Backend,
  target: string,
  io: CommandIo,
): Promise<number> {
  if (INSTANCE_ID_PATTERN.test(target)) {
    throw new CliError(
      `${target} is a host: this ledger holds fleet locks only (unlock FLEET)`,
      EXIT.NOT_FOUND,
    );
  }
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
