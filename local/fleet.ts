import { execFile } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { mkdir, readFile, readlink, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { basename, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { UsageError } from "./usage-error.js";

const run = promisify(execFile);
const repoRoot = resolve(fileURLToPath(new URL("..", import.meta.url)));
const buildScript = join(repoRoot, "demo-agent", "build-release.sh");

/** Where the demo agent lives inside a host root (its profile's `install_root`). */
export const DEMO_INSTALL_ROOT = "opt/demo-agent";

/** Kinds of fault the local fleet can be given (see `--fault` in local/cli.ts). */
export const FAULT_KINDS = ["bad-release", "host-offline", "undeliverable", "hang"] as const;

/** A fault the local fleet can be given. */
export interface Fault {
  /**
   * - `bad-release`: the new release fails its health check (everywhere, or on `hosts`);
   * - `host-offline`: the hosts' SSM agent is not connected (commands time out undelivered);
   * - `undeliverable`: SSM cannot deliver commands to the hosts at all;
   * - `hang`: on the hosts, starting the new release's listener never returns, so the
   *   switch hangs after flipping the link (until its SSM execution timeout kills it,
   *   or the profile's hook timeout ends the hook and the switch rolls back).
   */
  readonly kind: (typeof FAULT_KINDS)[number];
  /** 1-based host numbers; absent = the fault is in the release itself (bad-release only). */
  readonly hosts?: readonly number[];
}

/** One simulated host. */
export interface FleetHost {
  readonly instanceId: string;
  readonly computerName: string;
  /** The host-root prefix: the host's `/` on this machine. */
  readonly hostRoot: string;
  /** `$AR_ROOT` of the demo agent on this host. */
  readonly agentRoot: string;
  readonly jobsDir: string;
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
  readonly hosts: FleetHost[];
  /** Versions built so that their health check fails on every host. */
  readonly badVersions: string[];
}

/** Parses `--fault KIND[:HOSTS]`, e.g. `bad-release`, `host-offline:2,3`. */
export function parseFault(raw: string, hostCount: number): Fault {
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

function isFaultKind(kind: string | undefined): kind is Fault["kind"] {
  return (FAULT_KINDS as readonly (string | undefined)[]).includes(kind);
}

/** True when `workDir` holds a fleet a previous run created. */
export function fleetExists(workDir: string): boolean {
  return existsSync(join(workDir, "fleet.json"));
}

/** Options of {@link createFleet}. */
export interface CreateFleetOptions {
  readonly hosts: number;
  readonly fromVersion: string;
  /** Versions to build now (the others are built when first asked for). */
  readonly versions: readonly string[];
  readonly faults: readonly Fault[];
}

/**
 * Creates a fleet of demo-agent hosts in `<workDir>/fleet/host-NN`, each with the
 * `fromVersion` release installed and its listener running.
 */
export async function createFleet(workDir: string, options: CreateFleetOptions): Promise<Fleet> {
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
    const agentRoot = join(hostRoot, DEMO_INSTALL_ROOT);
    hosts.push({
      instanceId: `mi-${i.toString(16).padStart(17, "0")}`,
      computerName,
      hostRoot,
      agentRoot,
      jobsDir: join(agentRoot, "jobs"),
      agentPort: await freePort(),
      tags: { "agent-rollout:managed": "true", Name: computerName },
      state: offline.has(i) ? "offline" : undeliverable.has(i) ? "undeliverable" : "online",
      failHealthVersions: badOn.has(i) ? targetVersions : [],
      hangStartVersions: hangOn.has(i) ? targetVersions : [],
    });
  }
  const file: FleetFile = {
    schemaVersion: 1,
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

/** Opens the fleet a previous run left in `workDir`. */
export async function openFleet(workDir: string): Promise<Fleet> {
  const file = JSON.parse(await readFile(join(workDir, "fleet.json"), "utf8")) as FleetFile;
  return new Fleet(resolve(workDir), file);
}

/** The local fleet: its hosts, their release artifacts and their listeners. */
export class Fleet {
  readonly hosts: readonly FleetHost[];
  private readonly artifactsDir: string;
  /** Scheduler URL each agent was last pointed at, kept when its config is rewritten. */
  private readonly schedulerUrls = new Map<string, string>();

  constructor(
    readonly workDir: string,
    private readonly file: FleetFile,
  ) {
    this.hosts = file.hosts;
    this.artifactsDir = join(workDir, "artifacts");
  }

  /** The host with this instance id. */
  host(instanceId: string): FleetHost {
    const host = this.hosts.find((h) => h.instanceId === instanceId);
    if (!host) throw new Error(`no host ${instanceId} in the local fleet`);
    return host;
  }

  /**
   * The artifact of a version: a demo-agent release tarball built on first use,
   * served as a `file://` URL with its sha256, like a release on an artifact store.
   */
  async artifact(version: string): Promise<Artifact> {
    const bad = this.file.badVersions.includes(version);
    const tarball = join(this.artifactsDir, `demo-agent-${version}.tar.gz`);
    const shaFile = `${tarball}.sha256`;
    if (!existsSync(shaFile)) {
      await mkdir(this.artifactsDir, { recursive: true });
      const args = [buildScript, version, this.artifactsDir, ...(bad ? ["--bad-health"] : [])];
      const { stdout } = await run("bash", args);
      const sha256 = stdout.trim().split(/\s+/).pop() ?? "";
      if (!/^[a-f0-9]{64}$/.test(sha256))
        throw new Error(`building ${version} printed no sha256: ${stdout}`);
      await writeFile(shaFile, `${sha256}  ${basename(tarball)}\n`);
    }
    const sha256 = readFileSync(shaFile, "utf8").split(/\s+/)[0] ?? "";
    return { url: `file://${tarball}`, sha256 };
  }

  /** Points every agent's suspend/resume hooks at the scheduler simulation. */
  async connectScheduler(urlOf: (hostId: string) => string): Promise<void> {
    await Promise.all(
      this.hosts.map((host) => {
        const url = urlOf(host.instanceId);
        this.schedulerUrls.set(host.instanceId, url);
        return this.writeAgentConfig(host, url);
      }),
    );
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
    await this.writeAgentConfig(fixed, this.schedulerUrls.get(instanceId));
  }

  /** Version the host's `current` link points to, read on the host. */
  async runningVersion(instanceId: string): Promise<string | null> {
    try {
      return basename(await readlink(join(this.host(instanceId).agentRoot, "current")));
    } catch {
      return null;
    }
  }

  /** Starts every host's listener that is not running (a kept fleet after a restart). */
  async boot(): Promise<void> {
    await Promise.all(this.hosts.map((host) => this.startListener(host)));
  }

  /** Installs `version` on a new host and starts its listener, as a host's first install. */
  async install(host: FleetHost, version: string): Promise<void> {
    await mkdir(host.jobsDir, { recursive: true });
    await this.writeAgentConfig(host);
    const artifact = await this.artifact(version);
    await run(
      "bash",
      [
        join(repoRoot, "demo-agent", "install-first.sh"),
        host.agentRoot,
        version,
        artifact.url.slice("file://".length),
      ],
      {
        env: { ...process.env, AR_HOST_ROOT: host.hostRoot },
      },
    );
    await this.startListener(host);
  }

  private async startListener(host: FleetHost): Promise<void> {
    await run("bash", [join(host.agentRoot, "current", "bin", "agentctl"), "start"], {
      env: {
        ...process.env,
        AR_HOST_ROOT: host.hostRoot,
        AR_ROOT: host.agentRoot,
        AR_RELEASE: join(host.agentRoot, "current"),
      },
    });
  }

  private async writeAgentConfig(host: FleetHost, schedulerUrl?: string): Promise<void> {
    await mkdir(join(host.agentRoot, "conf"), { recursive: true });
    const lines = [`AGENT_PORT=${host.agentPort}`, `HOST_ID=${host.instanceId}`];
    if (schedulerUrl) lines.push(`SCHEDULER_URL=${schedulerUrl}`);
    if (host.failHealthVersions.length > 0)
      lines.push(`FAIL_HEALTH_VERSIONS=${host.failHealthVersions.join(",")}`);
    if ((host.hangStartVersions ?? []).length > 0)
      lines.push(`HANG_START_VERSIONS=${host.hangStartVersions?.join(",")}`);
    await writeFile(join(host.agentRoot, "conf", "agent.env"), `${lines.join("\n")}\n`);
  }
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
