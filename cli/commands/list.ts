import { table } from "../../local/format.js";
import type { Backend } from "../backend.js";
import { EXIT } from "../errors.js";
import type { CommandIo } from "./io.js";

/** `list`: the most recent rollouts, newest first. */
export async function listCommand(backend: Backend, limit: number, io: CommandIo): Promise<number> {
  const rollouts = await backend.store.listRollouts(limit);
  if (rollouts.length === 0) {
    io.out(`no rollouts in the ledger of ${backend.where}`);
    return EXIT.OK;
  }
  io.out(
    table(
      ["rollout", "status", "fleet", "target", "hosts", "done", "failed", "started", "ended"],
      rollouts.map((r) => {
        const counts = r.counts ?? {};
        const done = r.counts === undefined ? "-" : (counts.UPGRADED ?? 0) + (counts.SKIPPED ?? 0);
        return [
          r.rolloutId,
          r.status,
          r.fleet,
          r.targetVersion,
          r.hostCount,
          done,
          r.failedCount,
          r.createdAt,
          r.finishedAt ?? "-",
        ];
      }),
    ),
  );
  return EXIT.OK;
}
