import { formatProgress } from "../../local/format.js";
import type { Backend } from "../backend.js";
import { CliError, EXIT } from "../errors.js";
import { describeError, FINAL_ROLLOUT_STATUSES, hostNames, toLedgerHost } from "../view.js";
import type { CommandIo } from "./io.js";

/** Options of {@link watchRollout}. */
export interface WatchOptions {
  /** Between two reads of the ledger. */
  readonly intervalMs: number;
  /** How long a rollout may be absent from the ledger before it is called unknown. */
  readonly appearWithinMs?: number;
}

/**
 * `watch [ROLLOUT]`: one progress line (local mode's shape) per host status change,
 * reading the ledger until the rollout ends. 0 when it SUCCEEDED, 1 otherwise.
 */
export async function watchRollout(
  backend: Backend,
  rolloutId: string,
  io: CommandIo,
  options: WatchOptions,
): Promise<number> {
  const names = hostNames(backend.hostNames);
  const seen = new Map<string, string>();
  const began = io.now();
  for (;;) {
    // The execution first: one that has ended wrote its final status before it did.
    const state = await backend.executionState(rolloutId);
    const rollout = await backend.store.getRollout(rolloutId);
    if (rollout === undefined) {
      // PlanRollout writes the rollout item: a just-started execution may not have yet.
      if (state !== "RUNNING" && state !== "NOT_FOUND") {
        io.out(`Rollout ${rolloutId}: the execution ended ${state} before planning the rollout`);
        return EXIT.FAILED;
      }
      if (io.now() - began > (options.appearWithinMs ?? 60_000)) {
        throw new CliError(`unknown rollout ${rolloutId} in ${backend.where}`, EXIT.NOT_FOUND);
      }
    } else {
      const started = Date.parse(rollout.createdAt);
      for (const host of await backend.store.listHosts(rolloutId)) {
        if (seen.get(host.hostId) === host.status) continue;
        seen.set(host.hostId, host.status);
        const at = Date.parse(host.updatedAt) - started;
        io.out(formatProgress(toLedgerHost(host), at, names));
      }
      if (FINAL_ROLLOUT_STATUSES.includes(rollout.status)) {
        const took =
          rollout.finishedAt === undefined
            ? ""
            : ` in ${((Date.parse(rollout.finishedAt) - started) / 1000).toFixed(1)} s`;
        const error = describeError(rollout.error);
        io.out(`Rollout ${rolloutId}: ${rollout.status}${took}${error ? ` — ${error}` : ""}`);
        return rollout.status === "SUCCEEDED" ? EXIT.OK : EXIT.FAILED;
      }
      if (state !== "RUNNING") {
        const ended =
          state === "NOT_FOUND" ? "no execution runs it" : `its execution ended ${state}`;
        io.out(`Rollout ${rolloutId}: the ledger says ${rollout.status} but ${ended}`);
        return EXIT.FAILED;
      }
    }
    await io.sleep(options.intervalMs);
  }
}
