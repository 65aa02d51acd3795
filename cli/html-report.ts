/**
 * The HTML report of one rollout: a single self-contained file (inline CSS and SVG,
 * nothing fetched) with a per-host timeline over wall time, then the summary table
 * and the job figures.
 *
 * @module
 */
import { STATUS_WORDS } from "../local/format.js";
import { type HostTimeline, hostTimeline, type SegmentKind } from "./timeline.js";
import { describeError, type RolloutView, rollbackWindow } from "./view.js";

const esc = (text: string): string =>
  text.replace(
    /[&<>"']/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c] ?? c,
  );

const COLOURS: Record<SegmentKind, string> = {
  preflight: "#9aa9bc",
  stage: "#5b8fd6",
  switch: "#3f9e5a",
  rollback: "#8e5bb5",
  suspend: "#f0a030",
  gap: "#d03a3a",
};
const LABELS: Record<SegmentKind, string> = {
  preflight: "preflight",
  stage: "stage",
  switch: "switch",
  rollback: "rollback",
  suspend: "suspend window",
  gap: "listener gap",
};
const RESULT_COLOURS: Record<string, string> = {
  UPGRADED: "#2e8b47",
  SKIPPED: "#7a8a99",
  ROLLED_BACK: "#e07b00",
  FAILED: "#c62828",
  NOT_STARTED: "#9e9e9e",
};

const LABEL_W = 190;
const CHART_W = 900;
const ROW_H = 26;
const AXIS_H = 34;

/** Seconds as `12.3 s`. */
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** Renders the report of `view`. */
export function renderHtmlReport(view: RolloutView, generatedAt: Date): string {
  const { rollout } = view;
  const timelines = new Map<string, HostTimeline>(
    view.hosts.map((h) => [h.host.hostId, hostTimeline(h.host)]),
  );
  const t0 = Date.parse(rollout.createdAt);
  const ends = [...timelines.values()].map((t) => t.resultAt);
  if (rollout.finishedAt !== undefined) ends.push(Date.parse(rollout.finishedAt));
  const t1 = Math.max(t0 + 1000, ...ends);
  const x = (t: number) => LABEL_W + ((t - t0) / (t1 - t0)) * CHART_W;
  const height = AXIS_H + view.hosts.length * ROW_H + 10;
  // Room on the right for the last host's result word.
  const width = LABEL_W + CHART_W + 110;

  const svg: string[] = [];
  // Time axis: ten ticks over wall time since the rollout was created.
  for (let i = 0; i <= 10; i++) {
    const t = t0 + ((t1 - t0) * i) / 10;
    svg.push(
      `<line x1="${x(t)}" y1="${AXIS_H - 6}" x2="${x(t)}" y2="${height}" class="tick"/>`,
      `<text x="${x(t)}" y="${AXIS_H - 12}" text-anchor="middle" class="axis">${seconds(t - t0)}</text>`,
    );
  }
  // Waves: a band per wave, labelled where its first host started.
  let row = 0;
  const waves = [...new Set(view.hosts.map((h) => h.host.wave))];
  for (const wave of waves) {
    const members = view.hosts.filter((h) => h.host.wave === wave);
    const top = AXIS_H + row * ROW_H;
    const starts = members
      .flatMap((h) => timelines.get(h.host.hostId)?.segments ?? [])
      .map((s) => s.start);
    svg.push(
      `<rect x="0" y="${top}" width="${width}" height="${members.length * ROW_H}" class="wave wave${wave % 2}"/>`,
    );
    if (starts.length > 0) {
      const start = x(Math.min(...starts));
      svg.push(
        `<line x1="${start}" y1="${top}" x2="${start}" y2="${top + members.length * ROW_H}" class="wave-start"/>`,
      );
    }
    svg.push(
      `<text x="${LABEL_W - 8}" y="${top + 17}" text-anchor="end" class="wave-label">wave ${wave}</text>`,
    );
    for (const h of members) {
      const y = AXIS_H + row * ROW_H;
      const timeline = timelines.get(h.host.hostId);
      const status = h.host.status;
      const failed = status === "FAILED" || status === "ROLLED_BACK";
      const parts = [
        `<g data-host="${esc(h.host.hostId)}" data-status="${status}" class="host${failed ? " failed" : ""}">`,
        failed
          ? `<rect x="0" y="${y + 1}" width="${width}" height="${ROW_H - 2}" class="fail-row"/>`
          : "",
        `<text x="6" y="${y + 17}" class="name">${esc(h.name)}</text>`,
      ];
      for (const s of timeline?.segments ?? []) {
        const inner = s.kind === "suspend" || s.kind === "gap";
        const barY = inner ? y + (s.kind === "gap" ? 9 : 6) : y + 4;
        const barH = inner ? (s.kind === "gap" ? 8 : 14) : ROW_H - 8;
        const w = Math.max(1.5, x(s.end) - x(s.start));
        parts.push(
          `<rect x="${x(s.start).toFixed(1)}" y="${barY}" width="${w.toFixed(1)}" height="${barH}" fill="${COLOURS[s.kind]}" class="seg ${s.kind}"><title>${esc(`${h.name} ${LABELS[s.kind]}: ${s.end - s.start} ms`)}</title></rect>`,
        );
      }
      const at = x(timeline?.resultAt ?? t0);
      const colour = RESULT_COLOURS[status] ?? "#555";
      const word = STATUS_WORDS[status] ?? status;
      const mark =
        status === "ROLLED_BACK" || status === "FAILED"
          ? `<path d="M${at - 6} ${y + 7} l12 12 m0 -12 l-12 12" stroke="${colour}" stroke-width="3"/>`
          : `<circle cx="${at}" cy="${y + 13}" r="6" fill="${colour}"/>`;
      parts.push(
        mark,
        `<text x="${Math.min(at + 10, width - 4)}" y="${y + 17}" class="result" fill="${colour}">${esc(word)}</text>`,
        "</g>",
      );
      svg.push(parts.join(""));
      row++;
    }
  }

  const legend = (Object.keys(COLOURS) as SegmentKind[])
    .map((k) => `<span><i style="background:${COLOURS[k]}"></i>${LABELS[k]}</span>`)
    .join("");
  const rows = view.hosts
    .map((h) => {
      const host = h.host;
      const failed = host.status === "FAILED" || host.status === "ROLLED_BACK";
      const cells = [
        h.name,
        host.hostId,
        String(host.wave),
        host.fromVersion ?? "-",
        host.toVersion ?? "-",
        h.runningVersion ?? "-",
        STATUS_WORDS[host.status] ?? host.status,
        host.suspendMs === undefined ? "-" : String(host.suspendMs),
        host.listenerGapMs === undefined ? "-" : String(host.listenerGapMs),
        rollbackWindow(h.snapshot),
        describeError(host.error) ?? "",
      ];
      return `<tr data-host="${esc(host.hostId)}"${failed ? ' class="failed"' : ""}>${cells.map((c) => `<td>${esc(c)}</td>`).join("")}</tr>`;
    })
    .join("\n");
  const j = view.jobs;
  const jobs =
    j === undefined
      ? "<p>Job figures are measured by local mode only.</p>"
      : `<table class="jobs"><tr><th>submitted</th><th>completed</th><th>lost</th><th>failed</th><th>failed submissions</th><th>status updates lost</th><th>running at switch</th></tr><tr><td>${j.submitted}</td><td>${j.completed}</td><td>${j.lost}</td><td>${j.failed}</td><td>${j.failedSubmissions}</td><td>${j.statusUpdatesLost}</td><td>${j.runningAtSwitch}</td></tr></table>` +
        (j.details === undefined
          ? ""
          : `<p class="note">Agent figures: ${esc(JSON.stringify(j.details))}</p>`);
  const approximate = [...timelines.values()].some((t) => t.approximate)
    ? "<p class=\"note\">Some hosts' step times were written before the ledger recorded step ends: their steps are drawn back to back, ending at the host's last update.</p>"
    : "";
  const duration =
    rollout.finishedAt === undefined ? "running" : seconds(Date.parse(rollout.finishedAt) - t0);
  const error = describeError(rollout.error);

  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Rollout ${esc(rollout.rolloutId)}</title>
<style>
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px;color:#222;background:#fff}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:24px 0 8px}
.meta{color:#555}.status{font-weight:600}.status.SUCCEEDED{color:#2e8b47}.status.HALTED,.status.FAILED{color:#c62828}
.legend span{margin-right:14px;white-space:nowrap}.legend i{display:inline-block;width:12px;height:12px;margin-right:4px;vertical-align:-1px}
svg{border:1px solid #ddd;background:#fff}.tick{stroke:#eee}.axis{font-size:11px;fill:#666}
.wave0{fill:#fafbfd}.wave1{fill:#f1f4f8}.wave-start{stroke:#456;stroke-dasharray:4 3}.wave-label{font-size:11px;fill:#456;font-weight:600}
.fail-row{fill:#fde8e8}.name{font-size:12px;fill:#222}.result{font-size:11px;font-weight:600}
table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ddd;padding:3px 8px;text-align:left;white-space:nowrap}td:last-child{white-space:normal}th{background:#f4f6f8}
tr.failed td{background:#fde8e8}.note{color:#666;font-size:12px}
</style></head><body>
<h1>Rollout ${esc(rollout.rolloutId)}</h1>
<p class="meta"><span class="status ${rollout.status}">${rollout.status}</span> · ${esc(rollout.profile)} ${esc(rollout.targetVersion)} on fleet ${esc(rollout.fleet)} · ${rollout.hostCount} hosts in ${rollout.waveCount} waves · ${rollout.failedCount} failed (threshold ${rollout.failureThreshold}) · started ${esc(rollout.createdAt)} · ${duration}${error ? ` · ${esc(error)}` : ""}</p>
<h2>Timeline</h2>
<p class="legend">${legend}<span>● done</span><span>✕ rolled back / failed</span></p>
<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="per-host timeline">
${svg.join("\n")}
</svg>
<p class="note">Suspend window and listener gap: their lengths as the switch measured them, drawn at the end of the switch (the ledger records lengths, not start times).</p>${approximate}
<h2>Hosts</h2>
<table class="hosts"><tr><th>host</th><th>instance</th><th>wave</th><th>from</th><th>to</th><th>running</th><th>status</th><th>suspend ms</th><th>gap ms</th><th>rollback window</th><th>error</th></tr>
${rows}
</table>
<h2>Jobs</h2>
${jobs}
<p class="note">Generated ${esc(generatedAt.toISOString())} by agent-rollout.</p>
</body></html>
`;
}
