/**
 * The `listener-dies:HOSTS` fault: the listener of each of these hosts is killed
 * (SIGKILL) right after its switch was recorded UPGRADED, as a listener that crashes
 * once the new release is in place; `listener-dies-in-bake:HOSTS` kills it once its
 * wave passed its first verification and starts its bake (EvaluateWave said BAKE), as
 * a listener that dies between waves. Nothing restarts it: the wave's verification
 * must find the host not serving, count it failed and roll it back.
 *
 * The listener is the process of the host that holds a listening TCP socket on the
 * host's agent port, the socket holder excepted (host/scripts/socket-holder.py keeps
 * the port open across switches; a dead listener with a live holder leaves the port
 * open but unanswered, what a hung or crashed agent looks like to a client). Jobs
 * are separate processes and keep running.
 *
 * @module
 */
import { readdir, readFile, readlink } from "node:fs/promises";
import type { FleetHost } from "./fleet.js";

/** The task state that records a host's upgrade. */
const HOST_RECORDED_STATE = "RecordHostResult";
/** The task state whose BAKE decision starts a wave's bake. */
const WAVE_EVALUATED_STATE = "EvaluateWave";

/** What {@link withListenerFault} needs. */
export interface ListenerFault {
  /** Hosts whose listener dies after their switch. */
  readonly hosts: readonly FleetHost[];
  /** Right after the switch, or once the host's wave starts its bake. @default "switch" */
  readonly when?: "switch" | "bake";
  /** Told of each kill: the host and the pids killed. */
  readonly onKill?: (host: FleetHost, pids: readonly number[]) => void;
}

type Handlers = Readonly<Record<string, (input: unknown) => Promise<unknown>>>;

/**
 * `handlers` with the listener of each fault host killed once it is recorded UPGRADED,
 * or (`when: "bake"`) once its wave's evaluation decides to bake.
 */
export function withListenerFault(handlers: Handlers, fault: ListenerFault): Handlers {
  const record = handlers[HOST_RECORDED_STATE];
  const evaluate = handlers[WAVE_EVALUATED_STATE];
  if (record === undefined || evaluate === undefined) return handlers;
  const pending = new Map(fault.hosts.map((host) => [host.instanceId, host]));
  const upgraded: FleetHost[] = [];
  const kill = async (host: FleetHost) => fault.onKill?.(host, await killListener(host));
  return {
    ...handlers,
    [HOST_RECORDED_STATE]: async (input) => {
      const result = (await record(input)) as { hostId?: string; status?: string } | undefined;
      const host = result?.hostId === undefined ? undefined : pending.get(result.hostId);
      if (host !== undefined && result?.status === "UPGRADED") {
        pending.delete(host.instanceId);
        if (fault.when === "bake") upgraded.push(host);
        else await kill(host);
      }
      return result;
    },
    [WAVE_EVALUATED_STATE]: async (input) => {
      const result = (await evaluate(input)) as { decision?: string } | undefined;
      if (result?.decision === "BAKE") {
        for (const host of upgraded.splice(0)) await kill(host);
      }
      return result;
    },
  };
}

/** Kills the processes of `host` listening on its agent port, the socket holder excepted. */
export async function killListener(host: FleetHost): Promise<number[]> {
  const inodes = await listeningInodes(host.agentPort);
  const killed: number[] = [];
  for (const pid of await hostProcesses(host.hostRoot)) {
    const cmdline = await readFile(`/proc/${pid}/cmdline`, "latin1").catch(() => "");
    if (cmdline.includes("socket-holder")) continue;
    if (!(await holdsSocket(pid, inodes))) continue;
    try {
      process.kill(pid, "SIGKILL");
      killed.push(pid);
    } catch {
      // gone already
    }
  }
  return killed;
}

/** Inodes of the sockets listening on `port` (IPv4 and IPv6), from /proc/net. */
async function listeningInodes(port: number): Promise<Set<string>> {
  const inodes = new Set<string>();
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    const text = await readFile(table, "latin1").catch(() => "");
    for (const line of text.split("\n").slice(1)) {
      const fields = line.trim().split(/\s+/);
      const local = fields[1];
      // st 0A is TCP_LISTEN; the inode is the tenth field.
      if (local === undefined || fields[3] !== "0A") continue;
      if (Number.parseInt(local.split(":").at(-1) ?? "", 16) !== port) continue;
      if (fields[9] !== undefined) inodes.add(fields[9]);
    }
  }
  return inodes;
}

/** Live processes started on the host (they carry its `AR_HOST_ROOT`). */
async function hostProcesses(hostRoot: string): Promise<number[]> {
  const needle = `AR_HOST_ROOT=${hostRoot}`;
  const found: number[] = [];
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    const environ = await readFile(`/proc/${entry}/environ`, "latin1").catch(() => "");
    if (environ.split("\0").includes(needle)) found.push(Number(entry));
  }
  return found;
}

async function holdsSocket(pid: number, inodes: ReadonlySet<string>): Promise<boolean> {
  const fds = await readdir(`/proc/${pid}/fd`).catch(() => [] as string[]);
  for (const fd of fds) {
    const target = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => "");
    const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
    if (inode !== undefined && inodes.has(inode)) return true;
  }
  return false;
}
