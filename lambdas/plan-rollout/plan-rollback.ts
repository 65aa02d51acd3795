/**
 * The plan of a whole-rollout rollback (`{"rollback": "<rolloutId>"}`): the hosts that
 * rollout upgraded, each with the version it must run and the one it returns to, under
 * that rollout's waves, thresholds and gates.
 *
 * @module
 */
import { InvalidInputError, NoHostsError } from "../common/errors.js";
import type { Host, LedgerStore } from "../common/ledger/index.js";
import {
  parseOrThrow,
  type RollbackInput,
  type RolloutInput,
  RolloutInputSchema,
} from "../common/schemas.js";

/** A host to roll back: the version the rollout left on it, and the one it ran before. */
export interface RollbackHost {
  readonly hostId: string;
  /** The version the rolled-back rollout switched the host to. */
  readonly fromVersion: string;
  /** The version the host ran before that rollout, which it returns to. */
  readonly toVersion: string;
}

/** What {@link planRollback} derives from the rollout it undoes. */
export interface RollbackPlan {
  /** The rollout rolled back. */
  readonly rollbackOf: string;
  /** The rolled-back rollout's input, with the hosts to roll back and their version. */
  readonly input: RolloutInput;
  readonly hosts: readonly RollbackHost[];
}

/**
 * A host the rollout moved to another release and left there: its switch recorded two
 * different versions, and it ended UPGRADED (or FAILED only by the suspend-window gate,
 * which leaves it on the new release).
 */
export function wasUpgraded(host: Host): boolean {
  return (
    host.commands.switch !== undefined &&
    (host.status === "UPGRADED" ||
      (host.status === "FAILED" && host.error?.name === "SuspendWindowExceeded")) &&
    host.fromVersion !== undefined &&
    host.toVersion !== undefined &&
    host.fromVersion !== host.toVersion
  );
}

/**
 * Reads the rollout `input.rollback` names and plans its rollback.
 *
 * @throws InvalidInputError when that rollout is unknown, still running, or itself a
 *   rollback; NoHostsError when it upgraded no host
 */
export async function planRollback(
  store: LedgerStore,
  input: RollbackInput,
): Promise<RollbackPlan> {
  const id = input.rollback;
  const original = await store.getRollout(id);
  if (original === undefined) {
    throw new InvalidInputError(`rollback: no rollout ${id} in the ledger`);
  }
  if (original.status === "PLANNED" || original.status === "RUNNING") {
    throw new InvalidInputError(
      `rollback: rollout ${id} is still ${original.status}; wait for it to end (or stop it) first`,
    );
  }
  if (original.rollbackOf !== undefined) {
    throw new InvalidInputError(
      `rollback: rollout ${id} is itself the rollback of ${original.rollbackOf}; roll out the version you want instead`,
    );
  }
  const hosts = (await store.listHosts(id)).filter(wasUpgraded).map((host) => ({
    hostId: host.hostId,
    fromVersion: host.toVersion as string,
    toVersion: host.fromVersion as string,
  }));
  const first = hosts[0];
  if (first === undefined) {
    throw new NoHostsError(
      `rollback: rollout ${id} upgraded no host; there is nothing to roll back`,
    );
  }
  const { breakLock: _ignored, ...controls } = original.input;
  const derived = parseOrThrow(
    RolloutInputSchema,
    {
      ...controls,
      targetVersion: first.toVersion,
      hosts: { instanceIds: hosts.map((host) => host.hostId) },
      dryRun: input.dryRun,
      ...(input.breakLock === undefined ? {} : { breakLock: input.breakLock }),
    },
    "rollback",
  );
  return { rollbackOf: id, input: derived, hosts };
}
