// fta-client.mjs: the FTA-like kit's workload driver (docs/kits.md): a transfer
// client that keeps KIT_JOBS_PER_HOST transfers in flight on every node, submitted
// through the agents' own protocol: a request file dropped in queue/<agent>/, which a
// channel or VO agent daemon claims and runs as a long copy between local directories.
// Nothing is suspended during an upgrade (the procedure says not to mark the node for
// maintenance): requests wait in the queue while the daemons restart and the new
// daemons pick them up.
// On "stop" it submits one last short transfer per agent, so the daemons serving at
// the end (the new release's after a rollout) always carry work, then drains.
// Counts: a transfer is completed when its done record arrived, failed when the copy's
// sha256 differs from the source's, lost when neither the record nor the copy exists,
// a status update lost when the copy arrived but its record did not. Per agent, the
// missed time is the longest time between an old daemon's last poll and the first
// poll of the daemon that replaced it (var/log/<agent>.polls), counting replacements
// since this driver started only (a kept fleet's logs hold the runs before, and the
// stop that ended the last run).
// Transfer ids are unique across runs: a kept fleet's nodes still hold the done
// records of the runs before.
// Protocol with local mode: KIT_HOSTS_FILE, KIT_JOBS_PER_HOST, KIT_JOB_SECONDS,
// KIT_DRAIN_TIMEOUT_MS; prints {"event":"ready"}, and after "stop" {"event":"stats"}.
import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";

const hosts = JSON.parse(readFileSync(process.env.KIT_HOSTS_FILE, "utf8"));
const perHost = Number(process.env.KIT_JOBS_PER_HOST ?? 3);
const [minS, maxS] = (process.env.KIT_JOB_SECONDS ?? "2,6").split(",").map(Number);
const drainMs = Number(process.env.KIT_DRAIN_TIMEOUT_MS ?? 20_000);
const totals = { submitted: 0, completed: 0, failed: 0, failedSubmissions: 0 };
const byVersion = {};
const startedAt = Date.now();
const RUN = startedAt.toString(36);

const nodes = hosts.map((h) => {
  const site = readFileSync(join(h.agentRoot, "etc", "site-info.def"), "utf8");
  const list = (key) =>
    (new RegExp(`^${key}="([^"]*)"`, "m").exec(site)?.[1] ?? "").split(/\s+/).filter(Boolean);
  const agents = [
    ...list("CHANNELS").map((c) => `channel-${c}`),
    ...list("VOS").map((v) => `vo-${v}`),
  ];
  return { ...h, agents, inFlight: new Map(), seq: 1, next: 0 };
});

function sha(file) {
  return createHash("sha256").update(readFileSync(file)).digest("hex");
}

let submitting = true;
function tick() {
  for (const n of nodes) {
    for (const [id, t] of n.inFlight) {
      const record = join(n.agentRoot, "done", `${id}.json`);
      if (!existsSync(record)) continue;
      n.inFlight.delete(id);
      totals.completed++;
      const done = JSON.parse(readFileSync(record, "utf8"));
      if (done.exitCode !== 0 || done.sha256 !== t.sha256) totals.failed++;
      byVersion[done.version] = (byVersion[done.version] ?? 0) + 1;
    }
    while (submitting && n.inFlight.size < perHost && n.agents.length > 0) {
      const seconds = Math.round((minS + Math.random() * (maxS - minS)) * 10) / 10;
      submit(n, n.agents[n.next++ % n.agents.length], seconds);
    }
  }
}

function submit(n, agent, seconds) {
  const id = `${n.computerName}-${RUN}-tr${String(n.seq++).padStart(5, "0")}`;
  const src = join(n.agentRoot, "data", "src", id);
  const dst = join(n.agentRoot, "data", "dst", id);
  totals.submitted++;
  try {
    mkdirSync(join(n.agentRoot, "data", "src"), { recursive: true });
    writeFileSync(src, randomBytes(64 * 1024));
    const queue = join(n.agentRoot, "queue", agent);
    mkdirSync(queue, { recursive: true });
    writeFileSync(join(queue, `.${id}.tmp`), JSON.stringify({ id, src, dst, seconds }));
    renameSync(join(queue, `.${id}.tmp`), join(queue, `${id}.json`));
  } catch {
    totals.failedSubmissions++;
    return;
  }
  n.inFlight.set(id, { sha256: sha(src), dst });
}
const timer = setInterval(tick, 50);
tick();
process.stdout.write(`${JSON.stringify({ event: "ready" })}\n`);

function missedMs(n) {
  const out = {};
  for (const agent of n.agents) {
    let lastStop = null;
    let worst = null;
    const file = join(n.agentRoot, "var", "log", `${agent}.polls`);
    const lines = existsSync(file) ? readFileSync(file, "utf8").split("\n") : [];
    for (const line of lines) {
      const [what, ms] = line.split(" ");
      if (what === "stop") lastStop = Number(ms);
      if (what === "start" && lastStop !== null && Number(ms) >= startedAt) {
        worst = Math.max(worst ?? 0, Number(ms) - lastStop);
        lastStop = null;
      }
    }
    out[agent] = worst;
  }
  return out;
}

let stopping = false;
async function stop() {
  if (stopping) return;
  stopping = true;
  submitting = false;
  // One last short transfer per agent: whichever daemons serve the node now (the new
  // release's, after a rollout) must pick it up, however the rollout's timing fell.
  for (const n of nodes) for (const agent of n.agents) submit(n, agent, minS);
  const deadline = Date.now() + drainMs;
  while (Date.now() < deadline && nodes.some((n) => n.inFlight.size > 0)) {
    await new Promise((r) => setTimeout(r, 50));
  }
  clearInterval(timer);
  tick();
  let lost = 0;
  let statusUpdatesLost = 0;
  for (const n of nodes) {
    for (const t of n.inFlight.values()) {
      if (existsSync(t.dst) && sha(t.dst) === t.sha256) statusUpdatesLost++;
      else lost++;
    }
  }
  const details = { transfersByVersion: byVersion, missedMsPerAgent: {} };
  for (const n of nodes) details.missedMsPerAgent[n.computerName] = missedMs(n);
  process.stdout.write(
    `${JSON.stringify({ event: "stats", ...totals, lost, statusUpdatesLost, details })}\n`,
  );
  process.exit(0);
}
createInterface({ input: process.stdin }).on("line", (l) => {
  if (l.trim() === "stop") void stop();
});
process.stdin.on("end", () => void stop());
