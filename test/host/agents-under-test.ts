/**
 * The agents the invariant tests run against, behind one interface: the demo agent
 * (profiles/demo.profile) and the second test agent (test/host/second-agent/), each
 * with a profile derived for the tests: short timeouts, and every hook wrapped in the
 * fault points of test/host/hook-fault.sh, so that a test can make any hook fail, hang
 * or have the step killed around it.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import type { HostStep } from "../../lib/host-documents/index.js";
import {
  type Artifact,
  buildArtifacts,
  deriveProfile,
  markedProcesses,
  PROFILES_DIR,
  parseStep,
  REPO_ROOT,
  SCRIPTS_DIR,
  type StepResult,
  spawnCollect,
  ssmVariables,
  TestHost,
} from "./harness.js";
import { buildSecondArtifacts, SECOND_AGENT_DIR, SecondHost } from "./second-host.js";

/** Hooks a fault can be set on. */
export type HookName =
  | "preflight"
  | "install"
  | "version"
  | "endpoint"
  | "suspend"
  | "listJobs"
  | "stopListener"
  | "configure"
  | "startListener"
  | "health"
  | "resume";

/** What a fault file holds (test/host/hook-fault.sh). */
export type HookFault = "fails" | "hangs" | "killed-before" | "killed-after";

/** Where an agent keeps its releases and links (its profile's layout keys). */
export interface Layout {
  /** `releases_dir`. */
  readonly releasesDir: string;
  /** `release_name` before `{version}`. */
  readonly releasePrefix: string;
  /** `link_name`. */
  readonly link: string;
  /** `previous_link_name`. */
  readonly previousLink: string;
}

/** One host with an agent on it, as the invariant check sees it. */
export interface HostUnderTest {
  /** The host's `/` (AR_HOST_ROOT). */
  readonly root: string;
  /** `$AR_ROOT`. */
  readonly agentRoot: string;
  readonly layout: Layout;
  /** How to run a step by its script (for a run killed mid-way). */
  stepCommand(
    step: HostStep,
    params: Readonly<Record<string, string>>,
  ): { command: string; args: string[]; env: NodeJS.ProcessEnv };
  runStep(step: HostStep, params: Readonly<Record<string, string>>): Promise<StepResult>;
  /** Starts a long job on the running release. */
  submitJob(id: string): Promise<void>;
  /** pid of a job started by {@link submitJob}. */
  jobPid(id: string): number;
  /** Release directories (absolute) of the listener processes alive on the host. */
  listenerReleases(): string[];
  /** The version the agent's listener answers a client with, or null. */
  servedVersion(): Promise<string | null>;
  /** The agent is suspended (its scheduler dispatches nothing to it). */
  suspended(): boolean;
  /** Why the host's configuration is not that of `version`, or undefined when it is. */
  configProblem(version: string): string | undefined;
  /** Kills every process of the host and removes its root. */
  destroy(): Promise<void>;
}

/** An agent under test: its profile, releases, and the hooks each step runs, in order. */
export interface AgentUnderTest {
  readonly name: string;
  /** Profile name (the steps' `profile` parameter). */
  readonly profile: string;
  /** The artifacts of 1.0.0 and 2.0.0. */
  readonly artifacts: Readonly<Record<string, Artifact>>;
  /** Hooks each step runs, in the order it runs them (from a healthy host). */
  readonly phases: Phases;
  /** A new host on 1.0.0, serving, under `parentDir`. */
  newHost(parentDir: string): Promise<HostUnderTest>;
}

/** Hooks a step runs, in the order it runs them (from a healthy host). */
export type Phases = Readonly<Record<"stage" | "switch" | "rollback", readonly HookName[]>>;

/** The demo agent's phases (switch_mode=overlap: the old listener stops last). */
export const DEMO_PHASES: Phases = {
  stage: ["install"],
  switch: [
    "version",
    "endpoint",
    "suspend",
    "listJobs",
    "configure",
    "startListener",
    "health",
    "stopListener",
    "resume",
  ],
  rollback: ["version", "endpoint", "suspend", "startListener", "health", "stopListener", "resume"],
};

/** The second agent's phases (switch_mode=stop-start). */
export const SECOND_PHASES: Phases = {
  stage: ["install"],
  switch: [
    "version",
    "suspend",
    "listJobs",
    "stopListener",
    "configure",
    "startListener",
    "health",
    "resume",
  ],
  rollback: ["version", "suspend", "stopListener", "startListener", "health", "resume"],
};

/** The fault points' script. */
export const HOOK_FAULT = join(REPO_ROOT, "test", "host", "hook-fault.sh");

/**
 * Writes `<dir>/<name>.profile`: the profile `from` with hook_timeout_s=2,
 * health_timeout_s=2 and every hook (but those declared none) wrapped between the two
 * fault points of hook-fault.sh, which cost nothing while no faults/<hook> file exists.
 */
export function deriveFaultProfile(from: string, dir: string, name: string): void {
  const overrides: Record<string, string> = { hook_timeout_s: "2", health_timeout_s: "2" };
  for (const line of readFileSync(from, "utf8").split("\n")) {
    const match = /^hook\.([A-Za-z]+)=(.*)$/.exec(line);
    if (!match || match[2] === "none") continue;
    const [, hook, command] = match;
    const point = (at: string) =>
      `{ [[ ! -e faults/${hook} ]] || bash '${HOOK_FAULT}' ${hook} ${at}; }`;
    overrides[`hook.${hook}`] = `${point("before")} && { ${command}; } && ${point("after")}`;
  }
  mkdirSync(dir, { recursive: true });
  deriveProfile(dir, name, overrides, from);
}

/** Sets (or with no fault, clears) the fault of `hook` on the host. */
export function setHookFault(
  host: HostUnderTest,
  hook: HookName,
  fault?: HookFault,
  onlyVersion?: string,
): void {
  const dir = join(host.agentRoot, "faults");
  if (fault === undefined) {
    rmSync(join(dir, hook), { force: true });
    rmSync(join(dir, `${hook}.reached`), { force: true });
    return;
  }
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, hook), `${fault}${onlyVersion ? ` ${onlyVersion}` : ""}\n`);
}

/** The step reached the fault point of `hook` (killed-before, killed-after). */
export function hookReached(host: HostUnderTest, hook: HookName): boolean {
  return existsSync(join(host.agentRoot, "faults", `${hook}.reached`));
}

/** argv of a live process, or []. */
function argv(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
  } catch {
    return [];
  }
}

function stepEnv(
  host: { env(extra?: Readonly<Record<string, string>>): NodeJS.ProcessEnv; root: string },
  profileDir: string,
  artifactDirs: string,
  step: HostStep,
  params: Readonly<Record<string, string>>,
): NodeJS.ProcessEnv {
  return host.env({
    AR_PROFILE_DIR: profileDir,
    AR_ARTIFACT_DIRS: artifactDirs,
    // The step's scratch directories stay in the host root: a killed run leaves them.
    TMPDIR: join(host.root, "tmp"),
    ...ssmVariables(params, step),
  });
}

/** Runs a step by its script and parses its result. */
async function runScript(command: {
  command: string;
  args: string[];
  env: NodeJS.ProcessEnv;
}): Promise<StepResult> {
  return parseStep(await spawnCollect(command.command, command.args, command.env));
}

/** The demo agent, in its shipped switch_mode (overlap, with the socket holder). */
export async function demoAgent(work: string): Promise<AgentUnderTest> {
  const artifacts = await buildArtifacts(join(work, "demo-artifacts"), [
    { version: "1.0.0" },
    { version: "2.0.0" },
  ]);
  const profileDir = join(work, "demo-profiles");
  deriveFaultProfile(join(PROFILES_DIR, "demo.profile"), profileDir, "demo");
  return {
    name: "demo",
    profile: "demo",
    artifacts,
    phases: DEMO_PHASES,
    async newHost(parentDir) {
      const host = await TestHost.create({ artifacts, parentDir, profileDir });
      mkdirSync(join(host.root, "tmp"));
      const conf = readFileSync(host.path("conf", "agent.env"), "utf8");
      const command = (step: HostStep, params: Readonly<Record<string, string>>) => ({
        command: "bash",
        args: [join(SCRIPTS_DIR, `${step}.sh`)],
        env: stepEnv(host, profileDir, host.artifactDirs.join(":"), step, params),
      });
      return {
        root: host.root,
        agentRoot: host.agentRoot,
        layout: {
          releasesDir: "releases",
          releasePrefix: "",
          link: "current",
          previousLink: "previous",
        },
        stepCommand: command,
        runStep: (step, params) => runScript(command(step, params)),
        async submitJob(id) {
          const { status, body } = await host.submitJob(id, 600);
          if (status !== 202) throw new Error(`job ${id}: ${status} ${body}`);
        },
        jobPid: (id) => host.jobPid(id),
        listenerReleases: () =>
          markedProcesses(host.root)
            .map(argv)
            .filter((a) => a[1]?.endsWith("/lib/listener.mjs"))
            .map((a) => dirname(dirname(a[1] as string))),
        async servedVersion() {
          try {
            const h = await host.health();
            return h.status === 200 ? (h.version ?? null) : null;
          } catch {
            return null;
          }
        },
        suspended: () =>
          existsSync(host.path("run", "suspended")) || host.scheduler.calls.at(-1) === "suspend",
        configProblem: () => {
          // One configuration for every release: the switch must leave it as it was.
          const now = readFileSync(host.path("conf", "agent.env"), "utf8");
          return now === conf ? undefined : `conf/agent.env changed: ${JSON.stringify(now)}`;
        },
        async destroy() {
          await host.destroy();
          rmSync(host.root, { recursive: true, force: true });
        },
      };
    },
  };
}

/** The second test agent (test/host/second-agent/). */
export async function secondAgent(work: string): Promise<AgentUnderTest> {
  const artifacts = await buildSecondArtifacts(join(work, "second-artifacts"), ["1.0.0", "2.0.0"]);
  const profileDir = join(work, "second-profiles");
  deriveFaultProfile(join(SECOND_AGENT_DIR, "second.profile"), profileDir, "second");
  return {
    name: "second",
    profile: "second",
    artifacts,
    phases: SECOND_PHASES,
    async newHost(parentDir) {
      const host = await SecondHost.create({ artifacts, profileDir, parentDir });
      mkdirSync(join(host.root, "tmp"));
      // The step's scratch directories stay in the host root: a killed run leaves them.
      const command = (step: HostStep, params: Readonly<Record<string, string>>) =>
        host.stepCommand(step, params, { TMPDIR: join(host.root, "tmp") });
      return {
        root: host.root,
        agentRoot: host.agentRoot,
        layout: {
          releasesDir: ".",
          releasePrefix: "bin-",
          link: "active",
          previousLink: "active.prev",
        },
        stepCommand: command,
        runStep: (step, params) => runScript(command(step, params)),
        async submitJob(id) {
          await host.ctl("submit", id, "600");
        },
        jobPid: (id) => Number(readFileSync(host.path("jobs", `${id}.pid`), "utf8").trim()),
        listenerReleases: () =>
          markedProcesses(host.root)
            .map(argv)
            .filter((a) => a[1]?.endsWith("/secondctl") && a[2] === "listen")
            .map((a) => dirname(a[1] as string)),
        async servedVersion() {
          // A client's ping: run/ping/<n>, answered in run/pong/<n> with "<version> <pid>".
          const name = `client.${process.pid}.${Math.random().toString(36).slice(2)}`;
          try {
            writeFileSync(host.path("run", "ping", name), "");
          } catch {
            return null;
          }
          const pong = host.path("run", "pong", name);
          const deadline = Date.now() + 1000;
          while (Date.now() < deadline) {
            if (existsSync(pong)) {
              const answer = readFileSync(pong, "utf8").trim().split(" ")[0] ?? "";
              rmSync(pong, { force: true });
              if (answer !== "") return answer;
            }
            await new Promise((r) => setTimeout(r, 10));
          }
          rmSync(host.path("run", "ping", name), { force: true });
          return null;
        },
        suspended: () => host.serverState() !== "Available",
        configProblem(version) {
          const conf = readFileSync(host.path("etc", "agent.conf"), "utf8");
          return conf.split("\n").includes(`version=${version}`)
            ? undefined
            : `etc/agent.conf is not ${version}'s: ${JSON.stringify(conf)}`;
        },
        destroy: () => host.destroy(),
      };
    },
  };
}

/** Lists `dir`, or [] when it does not exist. */
export function list(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}
