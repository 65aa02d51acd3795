import type { CleanupReport } from "./cleanup.js";
import type { FleetHost } from "./fleet.js";
import type { LedgerHost } from "./ledger-view.js";
import type { RunMetric } from "./run-metrics.js";
import type { RolloutReport } from "./runner.js";

/** How the ledger's host statuses read on the console. */
export const STATUS_WORDS: Record<string, string> = {
  PENDING: "waiting",
  PREFLIGHT: "checking",
  STAGING: "staging",
  SWITCHING: "switching",
  UPGRADED: "done",
  SKIPPED: "already on target",
  ROLLED_BACK: "rolled back",
  FAILED: "failed",
  NOT_STARTED: "not started (rollout halted)",
};

/**
 * The word for a host's status; a SKIPPED host with an error is one a whole-rollout
 * rollback left alone (`LeftAlone`), not one already on the target.
 */
export function statusWord(status: string, error?: unknown): string {
  if (status === "SKIPPED" && error != null && error !== "") return "left alone";
  return STATUS_WORDS[status] ?? status.toLowerCase();
}

/** Host names as progress lines need them (a `Fleet`, or names the CLI knows). */
export interface HostNames {
  readonly hosts: ReadonlyArray<Pick<FleetHost, "instanceId" | "computerName">>;
}

/** One progress line: elapsed time, host, what it is doing now. */
export function formatProgress(host: LedgerHost, elapsedMs: number, fleet: HostNames): string {
  const name = fleet.hosts.find((h) => h.instanceId === host.hostId)?.computerName ?? host.hostId;
  const word = statusWord(host.status, host.error);
  const timing =
    host.status === "UPGRADED" && host.suspendMs !== undefined
      ? ` (suspended ${host.suspendMs} ms, listener gap ${host.listenerGapMs ?? "?"} ms)`
      : "";
  const error =
    host.error && ["FAILED", "ROLLED_BACK", "SKIPPED"].includes(host.status)
      ? `: ${host.error}`
      : "";
  return `${(elapsedMs / 1000).toFixed(1).padStart(7)}s  ${name.padEnd(8)} wave ${host.wave}  ${word}${timing}${error}`;
}

/** Renders rows as an aligned text table: header, dashes, rows; numbers as `String` writes them. */
export function table(
  header: readonly string[],
  rows: ReadonlyArray<ReadonlyArray<string | number>>,
): string {
  const cells = rows.map((row) => row.map(String));
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((r) => (r[i] ?? "").length)));
  const line = (row: readonly string[]) =>
    row
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join("  ")
      .trimEnd();
  return [line(header), line(widths.map((w) => "-".repeat(w))), ...cells.map(line)].join("\n");
}

/** The end-of-run summary: one row per host, then the jobs. */
export function formatSummary(report: RolloutReport): string {
  const rows = report.hosts.map((h) => [
    h.computerName,
    h.hostId,
    h.fromVersion ?? "-",
    h.runningVersion ?? "-",
    statusWord(h.status, h.error),
    h.suspendMs === null ? "-" : String(h.suspendMs),
    h.listenerGapMs === null ? "-" : String(h.listenerGapMs),
    h.unservedMs === null ? "-" : String(h.unservedMs),
    h.error ?? "",
  ]);
  const j = report.jobs;
  return [
    table(
      [
        "host",
        "instance",
        "from",
        "running",
        "status",
        "suspend ms",
        "gap ms",
        "unserved ms",
        "error",
      ],
      rows,
    ),
    "",
    `Jobs (counted by the kit's workload driver): ${j.submitted} submitted, ${j.completed} completed, ` +
      `${j.lost} lost, ${j.failed} failed, ${j.failedSubmissions} failed submissions, ` +
      `${j.statusUpdatesLost} status updates lost, ${j.runningAtSwitch} running at switch time` +
      queuedPart(j.details),
    ...(j.details ? [`Agent figures: ${JSON.stringify(j.details)}`] : []),
    `Rollout ${report.rolloutId}` +
      (report.rollbackOf ? ` (rollback of ${report.rollbackOf})` : "") +
      `: ${report.status} in ${(report.durationMs / 1000).toFixed(1)} s` +
      (report.error ? ` — ${report.error}` : ""),
  ].join("\n");
}

/** The cleanup result: what was deleted, what was kept and why. */
export function formatCleanup(report: CleanupReport): string {
  const rows = [
    ...report.deleted.map((e) => ["deleted", e.hostId, e.release ?? "-", e.reason ?? ""]),
    ...report.kept.map((e) => ["kept", e.hostId, e.release ?? "-", e.reason ?? ""]),
    ...report.failed.map((e) => ["failed", e.hostId, e.release ?? "-", e.reason ?? ""]),
  ];
  return [
    `Nightly cleanup: ${report.checked} pending snapshot(s) checked`,
    rows.length > 0 ? table(["result", "host", "old release", "why"], rows) : "nothing to clean up",
  ].join("\n");
}

/**
 * The run's metrics, as the functions emitted them (EMF objects in the log file): one
 * row per metric and dimensions, with the sum for counts and min/max for timings.
 */
export function formatMetrics(metrics: readonly RunMetric[]): string {
  if (metrics.length === 0) return "Metrics: none emitted";
  const rows = metrics.map((m) => [
    m.name,
    m.dimensions,
    m.unit,
    m.samples,
    m.sum,
    m.unit === "Count" ? "-" : m.min,
    m.unit === "Count" ? "-" : m.max,
  ]);
  return [
    "Metrics (namespace AgentRollout, as emitted):",
    table(["metric", "dimensions", "unit", "samples", "sum", "min", "max"], rows),
  ].join("\n");
}

/** `, N queued` when the kit's driver reports queued jobs (the demo kit does), else nothing. */
function queuedPart(details: Readonly<Record<string, unknown>> | undefined): string {
  const queued = details?.queued;
  return typeof queued === "number" ? `, ${queued} queued` : "";
}

/**
 * Why a run's jobs make it fail although the rollout may have succeeded: a job lost,
 * a submission the agent refused or did not answer, a status update that never came.
 * Empty when the agents did all the work they were given.
 */
export function jobProblems(jobs: RolloutReport["jobs"]): string[] {
  return [
    ...(jobs.lost > 0 ? [`${jobs.lost} job(s) lost`] : []),
    ...(jobs.failedSubmissions > 0 ? [`${jobs.failedSubmissions} failed submission(s)`] : []),
    ...(jobs.statusUpdatesLost > 0 ? [`${jobs.statusUpdatesLost} status update(s) lost`] : []),
  ];
}

/**
 * The CLI's exit status for a finished run: 0 only when the rollout SUCCEEDED and no
 * job was lost, no submission failed and no status update was lost; 1 otherwise.
 */
export function exitStatus(report: Pick<RolloutReport, "status" | "jobs">): 0 | 1 {
  return report.status === "SUCCEEDED" && jobProblems(report.jobs).length === 0 ? 0 : 1;
}
