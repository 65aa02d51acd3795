import { existsSync, readFileSync } from "node:fs";
import { mkdir, readFile, readlink, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { basename, join, resolve } from "node:path";
import { decodeFilePath, encodeFilePath } from "../lambdas/common/patterns.js";
import { type Kit, loadKit, runKitProgram } from "./kit.js";
import { UsageError } from "./usage-error.js";

/** Kinds of fault the local fleet can be given (see `--fault` in local/cli.ts). */
export const FAULT_KINDS = [
  "bad-release",
  "host-offline",
  "undeliverable",
  "hang",
  "alarm",
  "listener-dies",
  "listener-dies-in-bake",
] as const;

/** A fault the local fleet can be given. */
export interface Fault {
  /**
   * - `bad-release`: the new release fails its health check (everywhere, or on `hosts`);
   * - `host-offline`: the hosts' SSM agent is not connected (commands time out undelivered);
   * - `undeliverable`: SSM cannot deliver commands to the hosts at all;
   * - `hang`: on the hosts, starting the new release's listener never returns, so the
   *   switch hangs after flipping the link (until its SSM execution timeout kills it,
   *   or the profile's hook timeout ends the hook and the switch rolls back).
   * - `alarm`: the rollout's CloudWatch alarms go to ALARM once `afterHosts` hosts have
   *   finished (local/alarm-fault.ts); not a fault of the fleet itself.
   * - `listener-dies`: on the hosts, the listener is killed right after the switch was
   *   recorded (local/listener-fault.ts); the wave's verification must catch it.
   * - `listener-dies-in-bake`: the same, once the host's wave passed its verification
   *   and starts its bake; the verification after the bake must catch it.
   */
  readonly kind: (typeof FAULT_KINDS)[number];
  /** 1-based host numbers; absent = the fault is in the release itself (bad-release only). */
  readonly hosts?: readonly number[];
  /** `alarm`: hosts that finish before the alarms fire. */
  readonly afterHosts?: number;
}

/** One simulated host. */
export interface FleetHost {
  readonly instanceId: string;
  readonly computerName: string;
  /** The host-root prefix: the host's `/` on this machine. */
  readonly hostRoot: string;
  /** `$AR_ROOT` of the agent on this host (host root + the profile's `install_root`). */
  readonly agentRoot: string;
  /** A free port on 127.0.0.1 reserved for the host's agent (the kit decides its use). */
  readonly agentPort: number;
  readonly tags: Record<string, string>;
  /** How the host's SSM agent behaves. */
  readonly state: "online" | "offline" | "undeliverable";
  /** Versions whose health check fails on this host only (host-specific fault). */
  readonly failHealthVersions: readonly string[];
  /** Versions whose listener start hangs on this host (`hang` fault; absent in older fleets). */
  readonly hangStartVersions?: readonly string[];
}

/** A built, checksummed release artifact. */
export interface Artifact {
  readonly url: string;
  readonly sha256: string;
}

interface FleetFile {
  readonly schemaVersion: 1;
  /** Directory of the agent kit the fleet runs (absent: a fleet with no agent running). */
  readonly kitDir?: string;
  readonly hosts: FleetHost[];
  /** Versions built so that their health check fails on every host. */
  readonly badVersions: string[];
}

/** Parses `--fault KIND[:HOSTS]`, e.g. `bad-release`, `host-offline:2,3`. */
export function parseFault(raw: string, hostCount: number): Fault {
  if (raw.split(":")[0] === "alarm") return parseAlarmFault(raw, hostCount);
  const [kind, list, extra] = raw.split(":");
  if (extra !== undefined) throw new UsageError(`--fault ${raw}: expected KIND[:HOSTS]`);
  if (!isFaultKind(kind)) {
    throw new UsageError(`--fault ${raw}: unknown kind "${kind}" (${FAULT_KINDS.join(", ")})`);
  }
  if (list === undefined) {
    if (kind !== "bad-release")
      throw new UsageError(`--fault ${kind} needs the hosts it applies to, e.g. ${kind}:2`);
    return { kind };
  }
  const hosts = list.split(",").map((n) => {
    if (!/^\d+$/.test(n) || Number(n) < 1 || Number(n) > hostCount) {
      throw new UsageError(
        `--fault ${raw}: "${n}" is not a host number between 1 and ${hostCount}`,
      );
    }
    return Number(n);
  });
  return { kind, hosts };
}

/** Parses `--fault alarm:AFTER_N_HOSTS`: the alarms fire once N hosts have finished. */
function parseAlarmFault(raw: string, hostCount: number): Fault {
  const [, after, extra] = raw.split(":");
  if (after === undefined || extra !== undefined) {
    throw new UsageError(`--fault ${raw}: expected alarm:AFTER_N_HOSTS, e.g. alarm:1`);
  }
  if (!/^\d+$/.test(after) || Number(after) < 1 || Number(after) > hostCount) {
    throw new UsageError(
      `--fault ${raw}: "${after}" is not a number of hosts between 1 and ${hostCount}`,
    );
  }
  return { kind: "alarm", afterHosts: Number(after) };
}

function isFaultKind(kind: string | undefined): kind is Fault["kind"] {
  return (FAULT_KINDS as readonly (string | undefined)[]).includes(kind);
}

/** Options of {@link createFleet}. */
export interface CreateFleetOptions {
  /** The agent kit: a kit name (`kits/<name>`) or a kit directory. @default "demo" */
  readonly kit?: string;
  readonly hosts: number;
  readonly fromVersion: string;
  /** Versions to build now (the others are built when first asked for). */
  readonly versions: readonly string[];
  readonly faults: readonly Fault[];
}

/**
 * Creates a fleet of hosts in `<workDir>/fleet/host-NN`, each given its first install
 * of `fromVersion` by the kit, agent running.
 */
export async function createFleet(workDir: string, options: CreateFleetOptions): Promise<Fleet> {
  const kit = loadKit(options.kit ?? "demo");
  for (const fault of options.faults) {
    const needsKit = fault.kind === "hang" || (fault.kind === "bad-release" && fault.hosts);
    if (needsKit && !kit.hostFaults.includes(fault.kind as "hang" | "bad-release")) {
      throw new UsageError(
        `--fault ${fault.kind}:${fault.hosts?.join(",")}: kit ${kit.name} does not support this host fault (kit.json hostFaults)`,
      );
    }
  }
  const hostsWith = (kind: Fault["kind"]) =>
    new Set(options.faults.filter((f) => f.kind === kind).flatMap((f) => f.hosts ?? []));
  const offline = hostsWith("host-offline");
  const undeliverable = hostsWith("undeliverable");
  const badOn = hostsWith("bad-release");
  const hangOn = hostsWith("hang");
  const targetVersions = options.versions.filter((v) => v !== options.fromVersion);
  const badEverywhere = options.faults.some((f) => f.kind === "bad-release" && !f.hosts);

  const hosts: FleetHost[] = [];
  for (let i = 1; i <= options.hosts; i++) {
    const computerName = `host-${String(i).padStart(2, "0")}`;
    const hostRoot = join(resolve(workDir), "fleet", computerName);
    hosts.push({
      instanceId: `mi-${i.toString(16).padStart(17, "0")}`,
      computerName,
      hostRoot,
      agentRoot: join(hostRoot, kit.installRoot),
      agentPort: await freePort(),
      tags: { "agent-rollout:managed": "true", Name: computerName },
      state: offline.has(i) ? "offline" : undeliverable.has(i) ? "undeliverable" : "online",
      failHealthVersions: badOn.has(i) ? targetVersions : [],
      hangStartVersions: hangOn.has(i) ? targetVersions : [],
    });
  }
  const file: FleetFile = {
    schemaVersion: 1,
    kitDir: kit.dir,
    hosts,
    badVersions: badEverywhere ? targetVersions : [],
  };
  await mkdir(join(workDir, "fleet"), { recursive: true });
  await writeFile(join(workDir, "fleet.json"), `${JSON.stringify(file, null, 2)}\n`);
  const fleet = new Fleet(resolve(workDir), file);
  for (const version of options.versions) await fleet.artifact(version);
  await Promise.all(hosts.map((host) => fleet.install(host, options.fromVersion)));
  return fleet;
}

/** True when `workDir` holds a fleet a previous run created. */
export function fleetExists(workDir: string): boolean {
  return existsSync(join(workDir, "fleet.json"));
}

/** Opens the fleet a previous run left in `workDir`. */
export async function openFleet(workDir: string): Promise<Fleet> {
  const file = JSON.parse(await readFile(join(workDir, "fleet.json"), "utf8")) as FleetFile;
  return new Fleet(resolve(workDir), file);
}

/** Hosts whose agents {@link Fleet.boot} starts at once. */
const BOOT_PARALLELISM = 8;

/** The local fleet: its hosts, the kit that runs their agent, its release artifacts. */
export class Fleet {
  readonly hosts: readonly FleetHost[];
  /** The agent kit; undefined for a fleet with no agent running (benchmarks). */
  readonly kit: Kit | undefined;
  private readonly artifactsDir: string;
  private readonly linkName: string;

  constructor(
    readonly workDir: string,
    private readonly file: FleetFile,
  ) {
    this.hosts = file.hosts;
    this.artifactsDir = join(workDir, "artifacts");
    this.kit = file.kitDir ? loadKit(file.kitDir) : undefined;
    const profile = this.kit ? readFileSync(this.kit.profileFile, "utf8") : "";
    this.linkName = /^link_name=(.+)$/m.exec(profile)?.[1] ?? "current";
  }

  /** The host with this instance id. */
  host(instanceId: string): FleetHost {
    const host = this.hosts.find((h) => h.instanceId === instanceId);
    if (!host) throw new Error(`no host ${instanceId} in the local fleet`);
    return host;
  }

  private requireKit(): Kit {
    if (!this.kit) throw new Error(`the fleet in ${this.workDir} runs no agent kit`);
    return this.kit;
  }

  /**
   * The artifact of a version: built by the kit on first use, served as a `file://`
   * URL with its sha256, like a release on an artifact store.
   */
  async artifact(version: string): Promise<Artifact> {
    const bad = this.file.badVersions.includes(version);
    const shaFile = join(this.artifactsDir, `${version}.sha256`);
    if (!existsSync(shaFile)) {
      const kit = this.requireKit();
      const outDir = join(this.artifactsDir, version);
      await mkdir(outDir, { recursive: true });
      const stdout = await runKitProgram(
        kit,
        kit.buildRelease,
        [version, outDir, ...(bad ? ["--bad-health"] : [])],
        {},
      );
      const last = stdout.trim().split("\n").pop() ?? "";
      const match = /^([a-f0-9]{64})\s+\*?(\/.+)$/.exec(last.trim());
      if (!match || !existsSync(match[2] as string))
        throw new Error(
          `kit ${kit.name}: building ${version} printed no "<sha256>  <file>": ${last}`,
        );
      await writeFile(shaFile, `${match[1]}  ${match[2]}\n`);
    }
    // "<sha256>  <path>": the path may hold spaces.
    const [, sha256 = "", path = ""] =
      /^([a-f0-9]{64}) {2}(.+)$/.exec(readFileSync(shaFile, "utf8").replace(/\n$/, "")) ?? [];
    // A file URL's path is percent-encoded: a work dir may hold a space or a '+'.
    return { url: `file://${encodeFilePath(path)}`, sha256 };
  }

  /**
   * Takes every fault off a host, as an operator who fixed it would: the agent faults
   * (`bad-release` on that host, `hang`) leave its config at once, and `fleet.json` no
   * longer marks it offline or undeliverable. A running local SSM endpoint keeps its own
   * view of the host's reachability: change it there with `LocalSsm.setHostState`.
   */
  async clearFaults(instanceId: string): Promise<void> {
    const index = this.file.hosts.findIndex((h) => h.instanceId === instanceId);
    const host = this.file.hosts[index];
    if (host === undefined) throw new Error(`no host ${instanceId} in the local fleet`);
    const fixed: FleetHost = {
      ...host,
      state: "online",
      failHealthVersions: [],
      hangStartVersions: [],
    };
    this.file.hosts[index] = fixed;
    await writeFile(join(this.workDir, "fleet.json"), `${JSON.stringify(this.file, null, 2)}\n`);
    await this.configureHost(fixed);
  }

  /** Version the host's link (the profile's `link_name`) points to, read on the host. */
  async runningVersion(instanceId: string): Promise<string | null> {
    const host = this.host(instanceId);
    let target: string;
    try {
      target = basename(await readlink(join(host.agentRoot, this.linkName)));
    } catch {
      return null;
    }
    const profile = this.kit ? readFileSync(this.kit.profileFile, "utf8") : "";
    const pattern = /^release_name=(.+)$/m.exec(profile)?.[1] ?? "{version}";
    const [before = "", after = ""] = pattern.split("{version}");
    if (!target.startsWith(before) || !target.endsWith(after)) return target;
    return target.slice(before.length, target.length - after.length);
  }

  /**
   * Starts every host's agent on its installed release, where it is not running: the
   * kit's `startHost` on each host, {@link BOOT_PARALLELISM} at a time. A kept fleet's
   * agents are stopped when the run that used it ends; a new run on it calls this
   * first. Does nothing for a fleet with no agent, or whose kit has no `startHost`.
   * Rejects, naming every host whose start failed, once all have been tried.
   */
  async boot(): Promise<void> {
    const kit = this.kit;
    const startHost = kit?.startHost;
    if (kit === undefined || startHost === undefined) return;
    const queue = [...this.hosts];
    const failures: string[] = [];
    const worker = async () => {
      for (let host = queue.shift(); host !== undefined; host = queue.shift()) {
        try {
          await runKitProgram(kit, startHost, [], hostEnv(host));
        } catch (error) {
          failures.push(`${host.computerName}: ${(error as Error).message}`);
        }
      }
    };
    await Promise.all(
      Array.from({ length: Math.min(BOOT_PARALLELISM, queue.length) }, () => worker()),
    );
    if (failures.length > 0) {
      throw new Error(
        `starting the agents of the fleet in ${this.workDir} failed on ${failures.length} host(s):\n${failures.sort().join("\n")}`,
      );
    }
  }

  /** The first install of a host: its settings, then the kit installs `version` and starts it. */
  async install(host: FleetHost, version: string): Promise<void> {
    const kit = this.requireKit();
    await this.configureHost(host);
    const artifact = await this.artifact(version);
    await runKitProgram(kit, kit.installHost, [], {
      ...hostEnv(host),
      KIT_VERSION: version,
      KIT_ARTIFACT: decodeFilePath(artifact.url.slice("file://".length)) ?? "",
    });
  }

  private async configureHost(host: FleetHost): Promise<void> {
    const kit = this.requireKit();
    await mkdir(host.agentRoot, { recursive: true });
    if (kit.configureHost) await runKitProgram(kit, kit.configureHost, [], hostEnv(host));
  }
}

/** What a kit's host programs (configureHost, installHost, startHost) get about the host. */
function hostEnv(host: FleetHost): Record<string, string> {
  return {
    // Every process started on the host carries it (local/processes.ts finds them).
    AR_HOST_ROOT: host.hostRoot,
    KIT_HOST_ROOT: host.hostRoot,
    KIT_AGENT_ROOT: host.agentRoot,
    KIT_HOST_ID: host.instanceId,
    KIT_HOST_NAME: host.computerName,
    KIT_PORT: String(host.agentPort),
    KIT_FAIL_HEALTH_VERSIONS: host.failHealthVersions.join(","),
    KIT_HANG_START_VERSIONS: (host.hangStartVersions ?? []).join(","),
  };
}

/** A free TCP port on 127.0.0.1 (the agent binds it later). */
function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}
