import { mkdir, writeFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import type { LocalEnvironment } from "../../local/environment.js";
import type { RolloutReport } from "../../local/runner.js";
import type { Backend } from "../backend.js";
import { EXIT } from "../errors.js";
import { renderHtmlReport } from "../html-report.js";
import { localEnvironmentBackend } from "../local-backend.js";
import { loadRollout } from "../view.js";
import type { CommandIo } from "./io.js";

/** Writes `html` to `file`, creating its directory. */
export async function writeHtml(file: string, html: string): Promise<void> {
  await mkdir(dirname(resolve(file)), { recursive: true });
  await writeFile(file, html);
}

/** `report ROLLOUT --html FILE`: the self-contained HTML report. */
export async function reportCommand(
  backend: Backend,
  rolloutId: string,
  file: string,
  io: CommandIo,
): Promise<number> {
  const view = await loadRollout(backend, rolloutId);
  await writeHtml(file, renderHtmlReport(view, new Date(io.now())));
  io.out(`Report of rollout ${rolloutId} (${view.hosts.length} hosts) written to ${resolve(file)}`);
  return EXIT.OK;
}

/**
 * The HTML report of a rollout local mode has just run (`npm start -- --report-html
 * FILE`), read from its environment's ledger while it is still open.
 */
export async function writeLocalRunReport(
  env: LocalEnvironment,
  report: RolloutReport,
  file: string,
): Promise<void> {
  const backend = localEnvironmentBackend(env, report);
  const view = await loadRollout(backend, report.rolloutId);
  await writeHtml(file, renderHtmlReport(view, new Date()));
}
