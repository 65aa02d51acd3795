import { readdir, readFile } from "node:fs/promises";

/**
 * Finds every live process whose environment carries `AR_HOST_ROOT` under `fleetDir`.
 *
 * The local SSM endpoint runs each command with `AR_HOST_ROOT` set, and hooks,
 * listeners and jobs inherit it, so this finds everything the local fleet started —
 * including a job's children that no pid file names.
 */
export async function fleetProcesses(fleetDir: string): Promise<number[]> {
  const needle = `AR_HOST_ROOT=${fleetDir}`;
  const found: number[] = [];
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid === process.pid) continue;
    let environ: string;
    try {
      environ = await readFile(`/proc/${entry}/environ`, "latin1");
    } catch {
      continue; // gone already, or not ours to read
    }
    if (environ.split("\0").some((v) => v.startsWith(needle))) found.push(pid);
  }
  return found;
}

/**
 * Stops every process of the local fleet: SIGTERM first, SIGKILL for those still
 * alive after `graceMs`. Returns how many were found.
 */
export async function stopFleetProcesses(fleetDir: string, graceMs = 1_000): Promise<number> {
  const pids = await fleetProcesses(fleetDir);
  signalAll(pids, "SIGTERM");
  const deadline = Date.now() + graceMs;
  let alive = pids;
  while (alive.length > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 25));
    alive = alive.filter(isAlive);
  }
  signalAll(alive, "SIGKILL");
  return pids.length;
}

function signalAll(pids: number[], signal: NodeJS.Signals): void {
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
