/**
 * The demo kit's workload driver (docs/kits.md): a scheduler server stand-in that
 * keeps every agent at `KIT_JOBS_PER_HOST` jobs through the demo agent's HTTP
 * `POST /jobs`, and serves the suspend/resume handshake its profile hooks call
 * (`SCHEDULER_URL` in each agent's `conf/agent.env`).
 *
 * @module
 */
import { readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { SchedulerSimulation } from "./scheduler.js";

interface KitHost {
  readonly hostId: string;
  readonly agentRoot: string;
  readonly port: number;
}

const hosts = JSON.parse(readFileSync(process.env.KIT_HOSTS_FILE ?? "", "utf8")) as KitHost[];
const [min = 2, max = 6] = (process.env.KIT_JOB_SECONDS ?? "2,6").split(",").map(Number);
const drainMs = Number(process.env.KIT_DRAIN_TIMEOUT_MS ?? 20_000);

const scheduler = new SchedulerSimulation({
  agents: hosts.map((h) => ({
    hostId: h.hostId,
    port: h.port,
    jobsDir: join(h.agentRoot, "jobs"),
  })),
  jobsPerHost: Number(process.env.KIT_JOBS_PER_HOST ?? 3),
  jobSeconds: [min, max],
});
const url = await scheduler.listen();
for (const host of hosts) {
  // Points the agent's suspend/resume hooks at this scheduler, keeping its other settings.
  const file = join(host.agentRoot, "conf", "agent.env");
  const kept = readFileSync(file, "utf8")
    .split("\n")
    .filter((l) => l !== "" && !l.startsWith("SCHEDULER_URL="));
  kept.push(`SCHEDULER_URL=${scheduler.agentUrl(url, host.hostId)}`);
  writeFileSync(`${file}.tmp`, `${kept.join("\n")}\n`);
  renameSync(`${file}.tmp`, file);
}
scheduler.startSubmitting();
process.stdout.write(`${JSON.stringify({ event: "ready", url })}\n`);

let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  const s = await scheduler.drain(drainMs);
  await scheduler.close();
  process.stdout.write(
    `${JSON.stringify({
      event: "stats",
      submitted: s.submitted,
      completed: s.completed,
      lost: s.lost,
      failed: s.failed,
      failedSubmissions: s.failedDispatches,
      // The demo agent reports a job's end only through its completion record: a job
      // without one is lost, and so is its status update.
      statusUpdatesLost: s.lost,
      details: { queued: s.queued, suspensions: s.suspensions },
    })}\n`,
  );
  process.exit(0);
};
createInterface({ input: process.stdin }).on("line", (line) => {
  if (line.trim() === "stop") void stop();
});
process.stdin.on("end", () => void stop());
