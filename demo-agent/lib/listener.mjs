// Demo agent listener: the long-running daemon of one release.
//
// Serves HTTP on 127.0.0.1:$AGENT_PORT (from $AGENT_ROOT/conf/agent.env):
//   GET  /health  200 {"status":"ok","version"} (500 in a release built --bad-health)
//   POST /jobs    {"id","seconds","exitCode"} -> 202; the job runs lib/job.sh of this
//                 release as a detached process that outlives this listener
//   GET  /jobs    every job known under $AGENT_ROOT/jobs with its state
//   GET  /download?ms=N  a response streamed over N ms (at most 60 s): a long request
// Takes its listening socket from its parent when given one (fd 3, LISTEN_FDS=1,
// LISTEN_PID = its pid: agent-rollout's socket holder); on SIGTERM it then stops
// accepting at once, marks run/draining.<pid> and exits once its requests in flight
// are done (at most 20 s): the holder keeps the socket, the next listener serves it.
// Otherwise it binds 127.0.0.1:$AGENT_PORT and exits at once on SIGTERM.
// On a held socket it also serves on a port of its own (run/health.<pid>.port): the
// shared one may hand a health check to the other release's listener.
// While $AGENT_ROOT/run/suspended exists new jobs are refused (503): a job accepted
// after the switch's snapshot would run unrecorded from a release that cleanup may
// delete.
import { spawn } from "node:child_process";
import {
  closeSync,
  existsSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { createServer } from "node:http";
import { Server as NetServer } from "node:net";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const release = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const root = process.env.AGENT_ROOT ?? resolve(release, "..", "..");
const jobsDir = join(root, "jobs");
const version = readFileSync(join(release, "VERSION"), "utf8").trim();
const JOB_ID_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const MAX_BODY = 4096;
const DRAIN_MS = 20_000;
const inherited = process.env.LISTEN_FDS === "1" && process.env.LISTEN_PID === String(process.pid);
const drainingMarker = join(root, "run", `draining.${process.pid}`);
const healthPortFile = join(root, "run", `health.${process.pid}.port`);
let draining = false;
// Connection -> requests in progress, and whether it has served one: draining closes
// a kept-alive connection between requests, never one whose first request is on its way.
const connections = new Map();

function readConf() {
  const conf = {};
  for (const line of readFileSync(join(root, "conf", "agent.env"), "utf8").split("\n")) {
    const eq = line.indexOf("=");
    if (eq > 0 && !line.startsWith("#")) conf[line.slice(0, eq).trim()] = line.slice(eq + 1).trim();
  }
  return conf;
}

const conf = readConf();
const port = Number(conf.AGENT_PORT);
// Unhealthy when built --bad-health, or when this host lists the version in
// FAIL_HEALTH_VERSIONS (a host-specific fault in local mode).
const badHealth =
  existsSync(join(release, "BAD_HEALTH")) ||
  (conf.FAIL_HEALTH_VERSIONS ?? "").split(",").includes(version);

function send(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(text),
  });
  res.end(text);
}

function isAlive(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    return state !== "Z" && state !== "X";
  } catch {
    return false;
  }
}

function readJob(id) {
  const read = (suffix) => {
    try {
      return readFileSync(join(jobsDir, `${id}.${suffix}`), "utf8").trim();
    } catch {
      return undefined;
    }
  };
  const pid = Number(read("pid") ?? Number.NaN);
  const done = read("done");
  if (done !== undefined) return { id, pid, state: "done", ...JSON.parse(done) };
  return { id, pid, state: Number.isInteger(pid) && isAlive(pid) ? "running" : "lost" };
}

function listJobs(res) {
  const ids = readdirSync(jobsDir)
    .filter((f) => f.endsWith(".job"))
    .map((f) => f.slice(0, -4))
    .sort();
  send(res, 200, { jobs: ids.map(readJob) });
}

function startJob(res, raw) {
  let req;
  try {
    req = JSON.parse(raw);
  } catch {
    return send(res, 400, { error: "body is not JSON" });
  }
  const { id, seconds, exitCode = 0 } = req ?? {};
  if (typeof id !== "string" || !JOB_ID_RE.test(id)) return send(res, 400, { error: "bad id" });
  if (typeof seconds !== "number" || !(seconds >= 0 && seconds <= 86_400)) {
    return send(res, 400, { error: "seconds must be a number in [0, 86400]" });
  }
  if (!Number.isInteger(exitCode) || exitCode < 0 || exitCode > 255) {
    return send(res, 400, { error: "exitCode must be an integer in [0, 255]" });
  }
  if (existsSync(join(root, "run", "suspended"))) {
    res.setHeader("retry-after", "1");
    return send(res, 503, { error: "agent suspended" });
  }
  // The .job file is the reservation of the id: created exclusively, so a duplicate
  // (even a concurrent one) gets 409.
  const reservation = join(jobsDir, `${id}.job`);
  try {
    writeFileSync(reservation, `${JSON.stringify({ id, seconds, exitCode, version })}\n`, {
      flag: "wx",
    });
  } catch (err) {
    if (err.code === "EEXIST") return send(res, 409, { error: `job ${id} exists` });
    throw err;
  }
  const log = openSync(join(jobsDir, `${id}.log`), "a");
  let child;
  try {
    child = spawn("bash", [join(release, "lib", "job.sh"), id, String(seconds), String(exitCode)], {
      cwd: root,
      detached: true,
      stdio: ["ignore", log, log],
      env: { ...process.env, AGENT_ROOT: root },
    });
  } finally {
    closeSync(log);
  }
  if (child.pid === undefined) {
    rmSync(reservation, { force: true });
    return send(res, 500, { error: "spawn failed" });
  }
  child.on("error", () => {});
  child.unref();
  // Written before answering: a snapshot taken right after the 202 must see the job.
  writeFileSync(join(jobsDir, `${id}.pid`), `${child.pid}\n`);
  send(res, 202, { id, pid: child.pid, version });
}

function download(res, ms) {
  res.writeHead(200, { "content-type": "text/plain" });
  const until = Date.now() + ms;
  const tick = setInterval(() => {
    if (Date.now() < until) return void res.write(".");
    clearInterval(tick);
    res.end(`done ${version}\n`);
  }, 50);
  res.on("close", () => clearInterval(tick));
}

function handle(req, res) {
  const conn = connections.get(req.socket);
  if (conn) conn.busy++;
  res.on("close", () => {
    if (!conn) return;
    conn.busy--;
    conn.served = true;
  });
  const url = new URL(req.url ?? "/", "http://localhost");
  // Draining: every connection closes after its response.
  if (draining) res.setHeader("connection", "close");
  if (req.method === "GET" && url.pathname === "/health") {
    return send(res, badHealth ? 500 : 200, {
      status: badHealth ? "unhealthy" : "ok",
      version,
      pid: process.pid,
    });
  }
  if (url.pathname === "/jobs" && req.method === "GET") return listJobs(res);
  if (url.pathname === "/download" && req.method === "GET") {
    return download(res, Math.min(Number(url.searchParams.get("ms")) || 0, 60_000));
  }
  if (url.pathname === "/jobs" && req.method === "POST") {
    let raw = "";
    req.setEncoding("utf8");
    req.on("data", (chunk) => {
      raw += chunk;
      if (raw.length > MAX_BODY) {
        send(res, 413, { error: "body too large" });
        req.destroy();
      }
    });
    req.on("end", () => {
      if (res.writableEnded) return;
      try {
        startJob(res, raw);
      } catch (err) {
        send(res, 500, { error: String(err) });
      }
    });
    return;
  }
  send(res, 404, { error: "not found" });
}

const server = createServer(handle);
const own = inherited ? createServer(handle) : undefined;

function shutdown() {
  if (inherited) {
    if (draining) return;
    draining = true;
    // net's close, not http's: that one would also drop accepted connections whose
    // request has not arrived yet.
    NetServer.prototype.close.call(server);
    own?.close();
    writeFileSync(drainingMarker, "");
    for (const [socket, { busy, served }] of connections) if (!busy && served) socket.destroy();
    setInterval(() => server.getConnections((_, n) => n || process.exit(0)), 20);
    setTimeout(() => process.exit(0), DRAIN_MS).unref();
    return;
  }
  // Exit at once: the port must be free for the next listener, and jobs are separate
  // processes that do not depend on us.
  server.close();
  server.closeAllConnections();
  process.exit(0);
}
process.on("SIGTERM", shutdown);
process.on("SIGINT", shutdown);
process.on("exit", () => {
  if (draining) rmSync(drainingMarker, { force: true });
  if (own) rmSync(healthPortFile, { force: true });
});

server.on("connection", (socket) => {
  connections.set(socket, { busy: 0, served: false });
  socket.on("close", () => connections.delete(socket));
});

server.on("error", (err) => {
  console.error(`listener ${version}: ${err.message}`);
  process.exit(1);
});
const listening = () =>
  console.error(
    `listener ${version} pid ${process.pid} on ${inherited ? "fd 3" : "127.0.0.1"}:${port}`,
  );
if (inherited) {
  server.listen({ fd: 3 }, () => {
    own?.listen(0, "127.0.0.1", () => {
      const address = own.address();
      writeFileSync(healthPortFile, `${typeof address === "object" ? address?.port : ""}\n`);
      listening();
    });
  });
} else server.listen(port, "127.0.0.1", listening);
