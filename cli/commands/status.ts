import { statusWord, table } from "../../local/format.js";
import type { Backend } from "../backend.js";
import { EXIT } from "../errors.js";
import {
  describeError,
  loadRollout,
  ms,
  type RolloutView,
  resolveRolloutId,
  rollbackWindow,
} from "../view.js";
import type { CommandIo } from "./io.js";

/** The rollout's header lines. */
export function formatRolloutHeader(view: RolloutView): string[] {
  const r = view.rollout;
  const error = describeError(r.error);
  return [
    `Rollout ${r.rolloutId}: ${r.status}${error ? ` — ${error}` : ""}`,
    `  ${r.profile} ${r.targetVersion} on fleet ${r.fleet}; ${r.hostCount} hosts in ${r.waveCount} waves; ` +
      `${r.failedCount} failed (threshold ${r.failureThreshold})`,
    `  created ${r.createdAt}${r.finishedAt ? `, finished ${r.finishedAt}` : ""}`,
  ];
}

/** The per-host table of `status`. */
export function formatHostTable(view: RolloutView): string {
  return table(
    [
      "host",
      "instance",
      "wave",
      "from",
      "to",
      "running",
      "status",
      "suspend ms",
      "gap ms",
      "rollback window",
      "error",
    ],
    view.hosts.map((h) => [
      h.name,
      h.host.hostId,
      h.host.wave,
      h.host.fromVersion ?? "-",
      h.host.toVersion ?? "-",
      h.runningVersion ?? "-",
      statusWord(h.host.status, h.host.error),
      ms(h.host.suspendMs),
      ms(h.host.listenerGapMs),
      rollbackWindow(h.snapshot),
      describeError(h.host.error) ?? "",
    ]),
  );
}

/** `status [ROLLOUT]`: the rollout (default the latest) and its hosts. Exits 0 once printed. */
export async function statusCommand(
  backend: Backend,
  named: string | undefined,
  io: CommandIo,
): Promise<number> {
  const view = await loadRollout(backend, await resolveRolloutId(backend, named));
  for (const line of formatRolloutHeader(view)) io.out(line);
  io.out("");
  io.out(formatHostTable(view));
  if (view.jobs !== undefined) {
    const j = view.jobs;
    io.out("");
    io.out(
      `Jobs: ${j.submitted} submitted, ${j.completed} completed, ${j.lost} lost, ${j.failed} failed, ` +
        `${j.failedSubmissions} failed submissions, ${j.statusUpdatesLost} status updates lost, ` +
        `${j.runningAtSwitch} running at switch time`,
    );
    if (j.details !== undefined) io.out(`Agent figures: ${JSON.stringify(j.details)}`);
  }
  return EXIT.OK;
}
