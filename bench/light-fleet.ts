/**
 * A fleet of lightweight simulated hosts for the scale benchmarks: host directories
 * holding a release of the benchmark profile (`bench/profiles/bench-light.profile`)
 * and nothing running, run through the benchmark kit (`bench/light-kit/`: its release
 * builder makes the artifacts; its workload driver submits nothing). Written in the `fleet.json` format of `local/fleet.ts`, so
 * `startEnvironment` opens it like any local fleet and the rollout goes through the
 * same state machine, handlers, documents and local SSM endpoint.
 *
 * @module
 */
import { mkdir, symlink, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { FleetHost } from "../local/fleet.js";

/** The benchmark profile file, deployed through `startEnvironment({ profileFile })`. */
export const LIGHT_PROFILE_FILE = fileURLToPath(
  new URL("./profiles/bench-light.profile", import.meta.url),
);

/** Same layout as {@link LIGHT_PROFILE_FILE}, hooks that sleep: steps of 0.4 to 1.1 s. */
export const SLOW_PROFILE_FILE = fileURLToPath(
  new URL("./profiles/bench-slow.profile", import.meta.url),
);

/** The benchmark kit: the light fleet's profile, release builder and (idle) workload. */
export const LIGHT_KIT_DIR = fileURLToPath(new URL("./light-kit", import.meta.url));

/** `install_root` of the benchmark profiles, relative to a host root. */
const LIGHT_INSTALL_ROOT = "opt/bench-light";

/** Hosts created concurrently (file system work only). */
const CREATE_CONCURRENCY = 32;

/** Options of {@link createLightFleet}. */
export interface LightFleetOptions {
  readonly hosts: number;
  /** Version installed on every host. */
  readonly fromVersion: string;
}

/**
 * Creates `<workDir>/fleet.json` and one host directory per host under
 * `<workDir>/fleet/`, each with `releases/<fromVersion>/VERSION` and the `current`
 * link. Instance ids follow local mode's (`mi-` + 17 hex digits).
 */
export async function createLightFleet(
  workDir: string,
  options: LightFleetOptions,
): Promise<FleetHost[]> {
  const root = resolve(workDir);
  const hosts: FleetHost[] = [];
  for (let i = 1; i <= options.hosts; i++) {
    const computerName = `light-${String(i).padStart(5, "0")}`;
    const hostRoot = join(root, "fleet", computerName);
    const agentRoot = join(hostRoot, LIGHT_INSTALL_ROOT);
    hosts.push({
      instanceId: `mi-${i.toString(16).padStart(17, "0")}`,
      computerName,
      hostRoot,
      agentRoot,
      // Nothing listens: the benchmark kit's workload submits nothing.
      agentPort: 0,
      tags: { "agent-rollout:managed": "true", Name: computerName },
      state: "online",
      failHealthVersions: [],
    });
  }
  for (let i = 0; i < hosts.length; i += CREATE_CONCURRENCY) {
    await Promise.all(
      hosts.slice(i, i + CREATE_CONCURRENCY).map((host) => install(host, options.fromVersion)),
    );
  }
  // Same shape as local/fleet.ts's fleet file, which openFleet reads.
  const file = { schemaVersion: 1, kitDir: LIGHT_KIT_DIR, hosts, badVersions: [] as string[] };
  await writeFile(join(root, "fleet.json"), `${JSON.stringify(file)}\n`);
  return hosts;
}

async function install(host: FleetHost, version: string): Promise<void> {
  const release = join(host.agentRoot, "releases", version);
  await mkdir(release, { recursive: true });
  await writeFile(join(release, "VERSION"), `${version}\n`);
  await symlink(join("releases", version), join(host.agentRoot, "current"));
}
