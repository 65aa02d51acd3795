// fta-agent.mjs: one FTA-like agent daemon (a channel agent or a VO agent).
//
// Usage: node fta-agent.mjs <agentName>, with FTA_ROOT = the node's install root.
// Reads etc/transfer-agents.d/<agentName>.conf ("Key = value": PollIntervalMs,
// AgentVersion) and polls queue/<agentName>/ for transfer requests (JSON files
// {"id","src","dst","seconds"} the client drops there). A request is claimed by
// renaming it into claimed/, then copied by transfer.sh of this version, started in its
// own session: a transfer outlives the daemon's restart. Records in
// var/log/<agentName>.polls "start <ms>" at its first poll and "stop <ms>" at its last:
// the time between them across a restart is the agent's missed time.
import { spawn } from "node:child_process";
import {
  appendFileSync,
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  writeFileSync,
} from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const lib = dirname(fileURLToPath(import.meta.url));
const root = process.env.FTA_ROOT;
const name = process.argv[2];
const version = readFileSync(join(lib, "VERSION"), "utf8").trim();
const conf = {};
for (const line of readFileSync(
  join(root, "etc", "transfer-agents.d", `${name}.conf`),
  "utf8",
).split("\n")) {
  const m = /^(\w+)\s*=\s*(.*)$/.exec(line.trim());
  if (m) conf[m[1]] = m[2];
}
const pollMs = Number(conf.PollIntervalMs ?? 100);
const queue = join(root, "queue", name);
const claimed = join(root, "claimed");
const polls = join(root, "var", "log", `${name}.polls`);
for (const d of [queue, claimed, join(root, "var", "log"), join(root, "run")])
  mkdirSync(d, { recursive: true });

let lastPoll = 0;
let first = true;
function poll() {
  lastPoll = Date.now();
  if (first) {
    appendFileSync(polls, `start ${lastPoll} ${version}\n`);
    first = false;
  }
  for (const file of readdirSync(queue)) {
    if (!file.endsWith(".json")) continue;
    const mine = join(claimed, file);
    try {
      renameSync(join(queue, file), mine);
    } catch {
      continue; // another daemon took it
    }
    const req = JSON.parse(readFileSync(mine, "utf8"));
    const log = openSync(join(root, "var", "log", "transfers.log"), "a");
    const child = spawn(
      "bash",
      [join(lib, "transfer.sh"), req.id, req.src, req.dst, String(req.seconds)],
      {
        cwd: root,
        detached: true,
        stdio: ["ignore", log, log],
        env: { ...process.env, FTA_ROOT: root, FTA_AGENT: name, FTA_VERSION: version },
      },
    );
    closeSync(log);
    child.on("error", () => {});
    child.unref();
    writeFileSync(join(root, "run", "transfers", `${req.id}.pid`), `${child.pid}\n`);
  }
}
mkdirSync(join(root, "run", "transfers"), { recursive: true });
const timer = setInterval(poll, pollMs);
poll();
// Ready once it polls; a release built --bad-health never says so.
if (!existsSync(join(lib, "BAD_HEALTH")))
  writeFileSync(join(root, "run", `${name}.ready`), `${version} ${process.pid}\n`);
process.on("SIGTERM", () => {
  clearInterval(timer);
  appendFileSync(polls, `stop ${lastPoll} ${version}\n`);
  process.exit(0);
});
