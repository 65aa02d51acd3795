// ctm-server.mjs: a Control-M/Server-like scheduler server, the kit's workload driver
// (docs/kits.md). It holds each agent's state and submits jobs to agents that are
// Available, through the agent's own protocol (POST /submit on its listener).
//
//   POST /agents/<hostId>/upgrade-started  Available -> Suspended: no new submission;
//        answers once the submissions in flight to that agent are done
//   POST /agents/<hostId>/upgrade-ended    -> Discovering: after DISCOVERY_MS the server
//        pings the agent until it answers, records its version, -> Available
//   POST /status {hostId, jobId, exitCode}  a job monitor reports a job's end; taken in
//        every state (Suspended included)
//   GET  /version, GET /agents/<hostId>
// Protocol with local mode: KIT_HOSTS_FILE, KIT_JOBS_PER_HOST, KIT_JOB_SECONDS,
// KIT_DRAIN_TIMEOUT_MS; prints {"event":"ready"}, and after "stop" on stdin
// {"event":"stats", ...}.
import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { createServer, request } from "node:http";
import { join } from "node:path";
import { createInterface } from "node:readline";

const SERVER_VERSION = "9.0.21";
const DISCOVERY_MS = 300;
const TICK_MS = 50;
const hosts = JSON.parse(readFileSync(process.env.KIT_HOSTS_FILE, "utf8"));
const jobsPerHost = Number(process.env.KIT_JOBS_PER_HOST ?? 3);
const [minS, maxS] = (process.env.KIT_JOB_SECONDS ?? "2,6").split(",").map(Number);
const drainMs = Number(process.env.KIT_DRAIN_TIMEOUT_MS ?? 20_000);

const totals = { submitted: 0, completed: 0, failed: 0, failedSubmissions: 0 };
// Order ids are unique across runs, as a server's are: a kept fleet's agents still hold
// the job files and end records of the runs before (an id they know answers 409).
const RUN = Date.now().toString(36);
const agents = new Map();
for (const h of hosts) {
  agents.set(h.hostId, {
    ...h,
    state: "Available",
    since: Date.now(),
    inFlight: 0,
    queue: [],
    running: new Map(),
    waiters: [],
    seq: 1,
    retryAfter: 0,
    timeIn: { Suspended: 0, Discovering: 0 },
    updatesWhileSuspended: 0,
    discovered: null,
  });
}

function setState(a, state) {
  if (a.state in a.timeIn) a.timeIn[a.state] += Date.now() - a.since;
  a.state = state;
  a.since = Date.now();
}

function post(port, path, body) {
  const payload = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port,
        path,
        method: "POST",
        timeout: 2000,
        headers: {
          "content-type": "application/json",
          "content-length": Buffer.byteLength(payload),
        },
      },
      (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode));
      },
    );
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", reject);
    req.end(payload);
  });
}

function ping(port) {
  return new Promise((resolve) => {
    const req = request({ host: "127.0.0.1", port, path: "/ping", timeout: 1000 }, (res) => {
      let body = "";
      res.on("data", (c) => {
        body += c;
      });
      res.on("end", () => resolve(res.statusCode === 200 ? JSON.parse(body).version : null));
    });
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve(null));
    req.end();
  });
}

async function discover(a) {
  await new Promise((r) => setTimeout(r, DISCOVERY_MS));
  while (a.state === "Discovering") {
    const version = await ping(a.port);
    if (version) {
      a.discovered = version;
      setState(a, "Available");
      return;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

let submitting = true;
async function dispatch(a) {
  while (a.state === "Available" && a.queue.length > 0 && Date.now() >= a.retryAfter) {
    const job = a.queue.shift();
    a.inFlight++;
    let ok = false;
    try {
      const status = await post(a.port, "/submit", job);
      ok = status === 202 || status === 409;
    } catch {
      ok = false;
    } finally {
      a.inFlight--;
    }
    if (!ok) {
      totals.failedSubmissions++;
      a.queue.unshift(job);
      a.retryAfter = Date.now() + 200;
      break;
    }
    a.running.set(job.jobId, job);
  }
  if (a.inFlight === 0) for (const w of a.waiters.splice(0)) w();
}

let ticking = false;
async function tick() {
  if (ticking) return;
  ticking = true;
  try {
    await Promise.all(
      [...agents.values()].map(async (a) => {
        while (submitting && a.running.size + a.queue.length + a.inFlight < jobsPerHost) {
          const seconds = Math.round((minS + Math.random() * (maxS - minS)) * 10) / 10;
          a.queue.push({
            jobId: `${a.computerName}-${RUN}-ord${String(a.seq++).padStart(5, "0")}`,
            seconds,
            exitCode: 0,
          });
          totals.submitted++;
        }
        await dispatch(a);
      }),
    );
  } finally {
    ticking = false;
  }
}

const server = createServer((req, res) => {
  let raw = "";
  req.setEncoding("utf8");
  req.on("data", (c) => {
    raw += c;
  });
  req.on("end", () => {
    const m = /^\/agents\/([^/]+)(?:\/(upgrade-started|upgrade-ended))?$/.exec(req.url);
    const a = m ? agents.get(decodeURIComponent(m[1])) : undefined;
    if (req.method === "GET" && req.url === "/version") return res.end(`${SERVER_VERSION}\n`);
    if (req.method === "GET" && a && !m[2])
      return res.end(`${JSON.stringify({ state: a.state, discovered: a.discovered })}\n`);
    if (req.method === "POST" && a && m[2] === "upgrade-started") {
      setState(a, "Suspended");
      const answer = () => res.end("Suspended\n");
      if (a.inFlight === 0) return answer();
      a.waiters.push(answer);
      return;
    }
    if (req.method === "POST" && a && m[2] === "upgrade-ended") {
      if (a.state !== "Available") {
        setState(a, "Discovering");
        void discover(a);
      }
      return res.end(`${a.state}\n`);
    }
    if (req.method === "POST" && req.url === "/status") {
      let update;
      try {
        update = JSON.parse(raw);
      } catch {
        res.statusCode = 400;
        return res.end();
      }
      const agent = agents.get(update.hostId);
      const job = agent?.running.get(update.jobId);
      if (job) {
        agent.running.delete(update.jobId);
        totals.completed++;
        if (update.exitCode !== job.exitCode) totals.failed++;
        if (agent.state === "Suspended") agent.updatesWhileSuspended++;
      }
      return res.end("ok\n");
    }
    res.statusCode = 404;
    res.end();
  });
});
await new Promise((r) => server.listen(0, "127.0.0.1", r));
const url = `http://127.0.0.1:${server.address().port}`;

// The agents learn the server's address from CONFIG.dat, as from a real installation.
for (const a of agents.values()) {
  const file = join(a.agentRoot, "data", "CONFIG.dat");
  const lines = readFileSync(file, "utf8")
    .split("\n")
    .filter((l) => l && !l.startsWith("CTMSHOST "));
  lines.push(`CTMSHOST ${url}`);
  writeFileSync(`${file}.tmp`, `${lines.sort().join("\n")}\n`);
  renameSync(`${file}.tmp`, file);
}
const timer = setInterval(() => void tick(), TICK_MS);
process.stdout.write(`${JSON.stringify({ event: "ready", url })}\n`);

let stopping = false;
async function stop() {
  if (stopping) return;
  stopping = true;
  submitting = false;
  const deadline = Date.now() + drainMs;
  while (Date.now() < deadline) {
    const pending = [...agents.values()].some((a) => a.queue.length > 0 || a.running.size > 0);
    if (!pending) break;
    await new Promise((r) => setTimeout(r, TICK_MS));
  }
  clearInterval(timer);
  let lost = 0;
  let statusUpdatesLost = 0;
  const details = {};
  for (const a of agents.values()) {
    for (const id of a.running.keys()) {
      // Ended on the agent (its monitor recorded it) but never reported: a lost status
      // update. No record at all: a lost job.
      if (existsSync(join(a.agentRoot, "data", "status", `${id}.ended`))) statusUpdatesLost++;
      else lost++;
    }
    setState(a, a.state);
    details[a.computerName] = {
      state: a.state,
      suspendedMs: a.timeIn.Suspended,
      discoveringMs: a.timeIn.Discovering,
      statusUpdatesWhileSuspended: a.updatesWhileSuspended,
      discoveredVersion: a.discovered,
    };
  }
  process.stdout.write(
    `${JSON.stringify({ event: "stats", ...totals, lost, statusUpdatesLost, details })}\n`,
  );
  server.closeAllConnections();
  server.close();
  process.exit(0);
}
createInterface({ input: process.stdin }).on("line", (l) => {
  if (l.trim() === "stop") void stop();
});
process.stdin.on("end", () => void stop());
