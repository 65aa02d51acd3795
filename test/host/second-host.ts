/**
 * A host root with the second test agent (test/host/second-agent/) installed and its
 * listener running: the counterpart of {@link TestHost} for an agent built unlike the
 * demo one (bin-<version> releases in its home, `active` links, a file-based listener,
 * server-side suspend, configuration in etc/ outside the releases).
 */
import { mkdtempSync, readFileSync, readlinkSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import type { HostStep } from "../../lib/host-documents/index.js";
import {
  type Artifact,
  killMarked,
  parseStep,
  type RawOutput,
  REPO_ROOT,
  run,
  SCRIPTS_DIR,
  type StepResult,
  spawnCollect,
  ssmVariables,
} from "./harness.js";

/** The second agent's sources, profile included. */
export const SECOND_AGENT_DIR = join(REPO_ROOT, "test", "host", "second-agent");
/** The second agent's install root (second.profile). */
export const SECOND_INSTALL_ROOT = "srv/second";
/** Where the scheduler server keeps its record of the agent, under the host root. */
const SERVER_STATE = "var/scheduler/second.state";

/** Builds second-agent releases into `dir`. */
export async function buildSecondArtifacts(
  dir: string,
  versions: readonly string[],
): Promise<Record<string, Artifact>> {
  const built: Record<string, Artifact> = {};
  for (const version of versions) {
    const out = await run("bash", [join(SECOND_AGENT_DIR, "build-release.sh"), version, dir]);
    const path = join(dir, `second-agent-${version}.tar.gz`);
    built[version] = { version, path, url: `file://${path}`, sha256: out.trim() };
  }
  return built;
}

/** Options of {@link SecondHost.create}. */
export interface SecondHostOptions {
  readonly artifacts: Readonly<Record<string, Artifact>>;
  /** Directory holding `second.profile` (AR_PROFILE_DIR). */
  readonly profileDir: string;
  /** Directory the host root is created in. @default os.tmpdir() */
  readonly parentDir?: string;
  /** First release. @default "1.0.0" */
  readonly version?: string;
}

/** A host root with the second agent on its first release, serving. */
export class SecondHost {
  private constructor(
    /** The host's `/` (AR_HOST_ROOT). */
    readonly root: string,
    /** `$AR_ROOT` of the agent (its home). */
    readonly agentRoot: string,
    private readonly profileDir: string,
    private readonly artifactDirs: string,
  ) {}

  static async create(opts: SecondHostOptions): Promise<SecondHost> {
    const version = opts.version ?? "1.0.0";
    const artifact = opts.artifacts[version];
    if (!artifact) throw new Error(`no artifact for ${version}`);
    const root = mkdtempSync(join(opts.parentDir ?? tmpdir(), "ar-second-"));
    const dirs = [...new Set(Object.values(opts.artifacts).map((a) => dirname(a.path)))];
    const host = new SecondHost(
      root,
      join(root, SECOND_INSTALL_ROOT),
      opts.profileDir,
      dirs.join(":"),
    );
    const staged = await host.runStep("stage", {
      profile: "second",
      targetVersion: version,
      artifactUrl: artifact.url,
      artifactSha256: artifact.sha256,
      rolloutId: "bootstrap",
    });
    if (staged.result.status !== "STAGED")
      throw new Error(`bootstrap stage: ${staged.stdout}${staged.stderr}`);
    await run(
      "bash",
      [
        join(SECOND_AGENT_DIR, "install-first.sh"),
        host.agentRoot,
        version,
        artifact.path,
        join(root, SERVER_STATE),
      ],
      host.env(),
    );
    await host.ctl("start");
    await host.waitHealthy(version);
    return host;
  }

  /** Polls `secondctl health` until the listener answers with `version`. */
  async waitHealthy(version: string, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        await this.ctl("health", version);
        return;
      } catch (error) {
        // Not started yet: the listener's process is still becoming `secondctl listen`.
        if (Date.now() > deadline) throw error;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Environment of everything this host runs: the kill marker and a plain PATH. */
  env(extra: Readonly<Record<string, string>> = {}): NodeJS.ProcessEnv {
    return { PATH: process.env.PATH ?? "/usr/bin:/bin", AR_HOST_ROOT: this.root, ...extra };
  }

  /** Runs `active/secondctl ARGS`; throws when it fails. */
  ctl(...args: string[]): Promise<string> {
    return run("bash", [this.path("active", "secondctl"), ...args], this.env());
  }

  /** The environment and command line of a step run by its script. */
  stepCommand(
    step: HostStep,
    params: Readonly<Record<string, string>>,
    env: Readonly<Record<string, string>> = {},
  ): { command: string; args: string[]; env: NodeJS.ProcessEnv } {
    const ssm = ssmVariables(params, step);
    return {
      command: "bash",
      args: [join(SCRIPTS_DIR, `${step}.sh`)],
      env: this.env({
        AR_PROFILE_DIR: this.profileDir,
        AR_ARTIFACT_DIRS: this.artifactDirs,
        ...ssm,
        ...env,
      }),
    };
  }

  /** Runs a step to completion and parses its result line. */
  async runStep(
    step: HostStep,
    params: Readonly<Record<string, string>>,
    env: Readonly<Record<string, string>> = {},
  ): Promise<StepResult> {
    const { command, args, env: full } = this.stepCommand(step, params, env);
    const out: RawOutput = await spawnCollect(command, args, full);
    return parseStep(out);
  }

  /** Absolute path under the agent's home. */
  path(...parts: string[]): string {
    return join(this.agentRoot, ...parts);
  }

  /** Target of a link in the home, or null. */
  link(name: string): string | null {
    try {
      return readlinkSync(this.path(name));
    } catch {
      return null;
    }
  }

  /** The scheduler server's record of the agent: "Available", "Suspended", or null. */
  serverState(): string | null {
    try {
      return readFileSync(join(this.root, SERVER_STATE), "utf8").trim();
    } catch {
      return null;
    }
  }

  /** Kills every process of this host and removes its root. */
  async destroy(): Promise<void> {
    await killMarked(this.root);
    rmSync(this.root, { recursive: true, force: true });
  }
}
