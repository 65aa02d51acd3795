/**
 * Agent kits: everything local mode needs to run one agent (docs/kits.md).
 *
 * A kit is a directory with a `kit.json` manifest naming its profile and its programs:
 * the release builder, the first install of a host, the optional host configuration
 * and host start steps, and the workload driver. Local mode knows nothing else about
 * the agent: the demo agent is a kit like any other.
 *
 * @module
 */
import { execFile, type SpawnOptions, spawn } from "node:child_process";
import { existsSync, readFileSync, statSync } from "node:fs";
import { basename, isAbsolute, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { z } from "zod";
import { UsageError } from "./usage-error.js";

const run = promisify(execFile);
const repoRoot = resolve(fileURLToPath(new URL("..", import.meta.url)));

/** Directory of the kits shipped in this repository (`--agent NAME`). */
export const KITS_DIR = join(repoRoot, "kits");

/** Host faults a kit may support on top of a bad release everywhere. */
export const KIT_HOST_FAULTS = ["bad-release", "hang"] as const;

const relativeFile = z
  .string()
  .min(1)
  .refine((p) => !isAbsolute(p), "must be relative to the kit directory");

/** The `kit.json` manifest. */
export const KitManifestSchema = z.strictObject({
  /** One line shown by the CLI. */
  description: z.string().max(200),
  /** The agent profile file (its file name, without `.profile`, is the profile name). */
  profile: relativeFile.refine((p) => p.endsWith(".profile"), "must end in .profile"),
  /** `<version> <outDir> [--bad-health]`: builds a release; last stdout line `<sha256>  <file>`. */
  buildRelease: relativeFile,
  /** First install of a host: installs `KIT_VERSION` from `KIT_ARTIFACT` and starts the agent. */
  installHost: relativeFile,
  /** Writes the host's own settings (port, faults); run before installHost and after a fault is cleared. */
  configureHost: relativeFile.optional(),
  /**
   * Starts the host's agent on its installed release if it is not running (idempotent);
   * run on every host of a kept fleet before a new run, its agents having been stopped
   * when the last run ended. Without it, a kept fleet's agents stay stopped.
   */
  startHost: relativeFile.optional(),
  /** The workload driver (see {@link WorkloadStats}). */
  workload: relativeFile,
  /** Host-specific faults the kit's configureHost/installHost honour. @default [] */
  hostFaults: z.array(z.enum(KIT_HOST_FAULTS)).default([]),
});

/** A loaded kit: its manifest with paths made absolute. */
export interface Kit {
  readonly name: string;
  readonly dir: string;
  readonly description: string;
  readonly profileFile: string;
  /** Profile name (the profile's file name without `.profile`). */
  readonly profile: string;
  /** `install_root` of the profile, without its leading `/`. */
  readonly installRoot: string;
  readonly buildRelease: string;
  readonly installHost: string;
  readonly configureHost?: string;
  readonly startHost?: string;
  readonly workload: string;
  readonly hostFaults: readonly (typeof KIT_HOST_FAULTS)[number][];
}

/**
 * Finds a kit: a plain name is a kit of this repository (`kits/<name>`), anything
 * else (a path with a `/` or `.`) is a directory holding a `kit.json`.
 */
export function loadKit(nameOrDir: string): Kit {
  const isName = /^[a-z][a-z0-9-]{0,31}$/.test(nameOrDir) && !existsSync(nameOrDir);
  const dir = isName ? join(KITS_DIR, nameOrDir) : resolve(nameOrDir);
  const manifestFile = join(dir, "kit.json");
  if (!existsSync(manifestFile)) {
    throw new UsageError(
      isName
        ? `--agent ${nameOrDir}: no such kit (kits/${nameOrDir}/kit.json); give a directory path for your own`
        : `--agent ${nameOrDir}: no kit.json in ${dir}`,
    );
  }
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(manifestFile, "utf8"));
  } catch (error) {
    throw new UsageError(`${manifestFile}: not JSON (${(error as Error).message})`);
  }
  const parsed = KitManifestSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new UsageError(
      `${manifestFile}: ${issue?.path.join(".") || "manifest"}: ${issue?.message}`,
    );
  }
  const m = parsed.data;
  const file = (p: string, what: string) => {
    const path = resolve(dir, p);
    if (!existsSync(path) || !statSync(path).isFile())
      throw new UsageError(`${manifestFile}: ${what} ${p}: no such file`);
    return path;
  };
  const profileFile = file(m.profile, "profile");
  const installRoot = /^install_root=\/(.+)$/m.exec(readFileSync(profileFile, "utf8"))?.[1];
  if (!installRoot) throw new UsageError(`${profileFile}: no absolute install_root`);
  return {
    name: basename(dir),
    dir,
    description: m.description,
    profileFile,
    profile: basename(profileFile).replace(/\.profile$/, ""),
    installRoot: installRoot.replace(/\/+$/, ""),
    buildRelease: file(m.buildRelease, "buildRelease"),
    installHost: file(m.installHost, "installHost"),
    ...(m.configureHost ? { configureHost: file(m.configureHost, "configureHost") } : {}),
    ...(m.startHost ? { startHost: file(m.startHost, "startHost") } : {}),
    workload: file(m.workload, "workload"),
    hostFaults: m.hostFaults,
  };
}

/**
 * The command line of a kit program: `.ts` runs under node with tsx (so a kit may be
 * TypeScript without building it), `.mjs`/`.js` under node, anything else directly
 * (its `#!` line; `.sh` under bash).
 */
export function kitCommand(program: string, args: readonly string[]): [string, string[]] {
  if (program.endsWith(".ts"))
    return [process.execPath, ["--import", import.meta.resolve("tsx"), program, ...args]];
  if (program.endsWith(".mjs") || program.endsWith(".js"))
    return [process.execPath, [program, ...args]];
  if (program.endsWith(".sh")) return ["bash", [program, ...args]];
  return [program, [...args]];
}

/** Runs a kit program to its end; rejects with its stderr when it fails. */
export async function runKitProgram(
  kit: Kit,
  program: string,
  args: readonly string[],
  env: Record<string, string>,
): Promise<string> {
  const [cmd, argv] = kitCommand(program, args);
  try {
    const { stdout } = await run(cmd, argv, {
      cwd: kit.dir,
      env: { ...process.env, ...env },
      timeout: 120_000,
      maxBuffer: 16 * 1024 * 1024,
    });
    return stdout;
  } catch (error) {
    const e = error as { stderr?: string; message: string };
    throw new Error(
      `kit ${kit.name}: ${basename(program)} failed: ${e.stderr?.trim() || e.message}`,
    );
  }
}

/** Spawns a long-running kit program (the workload driver). */
export function spawnKitProgram(
  kit: Kit,
  program: string,
  args: readonly string[],
  options: SpawnOptions,
) {
  const [cmd, argv] = kitCommand(program, args);
  return spawn(cmd, argv, { cwd: kit.dir, ...options });
}
