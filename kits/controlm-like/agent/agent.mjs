// Control-M/Agent-like daemons of one release (exe_<version>/agent.mjs).
//
//   node agent.mjs listener  HTTP on 127.0.0.1:AGENT_PORT (data/CONFIG.dat):
//     GET  /ping    200 {"version"} (500 in a release built --bad-health, or when
//                   FAIL_HEALTH_VERSIONS in CONFIG.dat names this version)
//     POST /submit  {"jobId","seconds","exitCode"} -> 202: starts one job monitor
//                   (monitor.sh of this release) in its own session, so that it
//                   outlives this listener; 409 for a job id already submitted
//   node agent.mjs tracker   the tracking process: every 200 ms records in
//                   proc/tracker.status how many job monitors run.
// The monitors, not these daemons, report a job's end to the server: stopping the
// listener and the tracker (upgrade step 7) leaves running jobs untouched.
import { spawn } from "node:child_process";
import { closeSync, existsSync, openSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const release = dirname(fileURLToPath(import.meta.url));
const root = process.env.CTM_ROOT ?? resolve(release, "..");
const version = readFileSync(join(release, "VERSION"), "utf8").trim();
const jobs = join(root, "data", "jobs");
const ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

function config() {
  const conf = {};
  for (const line of readFileSync(join(root, "data", "CONFIG.dat"), "utf8").split("\n")) {
    const m = /^([A-Z_]+)\s+(.*)$/.exec(line.trim());
    if (m) conf[m[1]] = m[2];
  }
  return conf;
}

function alive(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return !"ZX".includes(stat[stat.lastIndexOf(")") + 2]);
  } catch {
    return false;
  }
}

function send(res, status, body) {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
}

function listener() {
  const conf = config();
  const bad =
    existsSync(join(release, "BAD_HEALTH")) ||
    (conf.FAIL_HEALTH_VERSIONS ?? "").split(",").includes(version);
  const server = createServer((req, res) => {
    if (req.method === "GET" && req.url === "/ping") {
      return send(res, bad ? 500 : 200, { version, pid: process.pid });
    }
    if (req.method !== "POST" || req.url !== "/submit") return send(res, 404, {});
    let raw = "";
    req.setEncoding("utf8");
    req.on("data", (c) => {
      raw += c;
    });
    req.on("end", () => {
      let job;
      try {
        job = JSON.parse(raw);
      } catch {
        return send(res, 400, { error: "not JSON" });
      }
      const { jobId, seconds, exitCode = 0 } = job ?? {};
      if (typeof jobId !== "string" || !ID.test(jobId)) return send(res, 400, { error: "jobId" });
      if (typeof seconds !== "number" || !(seconds >= 0 && seconds <= 86_400))
        return send(res, 400, { error: "seconds" });
      if (!Number.isInteger(exitCode) || exitCode < 0 || exitCode > 255)
        return send(res, 400, { error: "exitCode" });
      try {
        writeFileSync(join(jobs, `${jobId}.job`), `${JSON.stringify({ jobId, version })}\n`, {
          flag: "wx",
        });
      } catch (err) {
        if (err.code === "EEXIST") return send(res, 409, { error: "exists" });
        return send(res, 500, { error: String(err) });
      }
      const log = openSync(join(jobs, `${jobId}.log`), "a");
      const child = spawn(
        "bash",
        [join(release, "monitor.sh"), jobId, String(seconds), String(exitCode)],
        {
          cwd: root,
          detached: true,
          stdio: ["ignore", log, log],
          env: { ...process.env, CTM_ROOT: root },
        },
      );
      closeSync(log);
      child.on("error", () => {});
      child.unref();
      // Before the answer: a running-jobs list taken right after the 202 sees the job.
      writeFileSync(join(jobs, `${jobId}.pid`), `${child.pid}\n`);
      send(res, 202, { jobId, pid: child.pid, version });
    });
  });
  const stop = () => {
    server.close();
    server.closeAllConnections();
    process.exit(0);
  };
  process.on("SIGTERM", stop);
  server.on("error", (e) => {
    console.error(`listener ${version}: ${e.message}`);
    process.exit(1);
  });
  server.listen(Number(conf.AGENT_PORT), "127.0.0.1");
}

function tracker() {
  process.on("SIGTERM", () => process.exit(0));
  setInterval(() => {
    let running = 0;
    for (const f of readdirSync(jobs)) {
      if (!f.endsWith(".pid")) continue;
      const pid = Number(readFileSync(join(jobs, f), "utf8"));
      if (alive(pid)) running++;
    }
    writeFileSync(join(root, "proc", "tracker.status"), `${version} monitors=${running}\n`);
  }, 200);
}

if (process.argv[2] === "listener") listener();
else if (process.argv[2] === "tracker") tracker();
else {
  console.error("usage: agent.mjs listener|tracker");
  process.exit(2);
}
