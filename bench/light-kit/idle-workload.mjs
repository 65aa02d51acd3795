// The benchmark kit's workload driver (docs/kits.md): the benchmark fleet runs no
// agent, so it submits nothing. It follows the driver protocol and reports zeros.
import { createInterface } from "node:readline";

const stats = {
  event: "stats",
  submitted: 0,
  completed: 0,
  lost: 0,
  failed: 0,
  failedSubmissions: 0,
  statusUpdatesLost: 0,
  details: { note: "benchmark fleet: no workload" },
};
process.stdout.write(`${JSON.stringify({ event: "ready" })}\n`);
const finish = () => {
  process.stdout.write(`${JSON.stringify(stats)}\n`);
  process.exit(0);
};
const lines = createInterface({ input: process.stdin });
lines.on("line", (line) => {
  if (line.trim() === "stop") finish();
});
lines.on("close", finish);
