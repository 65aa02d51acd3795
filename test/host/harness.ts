/**
 * Test harness for the host scripts: real demo-agent processes in temporary host
 * roots.
 *
 * A {@link TestHost} is a directory standing for a host's `/` (`AR_HOST_ROOT`), with
 * the demo agent under `opt/demo-agent`. Its first release is put in place the way a
 * host gets it: `stage.sh` installs the release, `demo-agent/install-first.sh` (the
 * documented first-install bootstrap, also used by local mode) points `current` at
 * it, `agentctl start` starts the listener. Steps then run either directly
 * (`bash host/scripts/<step>.sh`) or through the assembled SSM document (`sh -c` of
 * its joined `runCommand` lines, as the SSM Agent runs it), with `SSM_*` variables.
 *
 * Every process a host starts carries `AR_HOST_ROOT=<root>` in its environment
 * (steps, hooks, listeners, jobs inherit it); {@link TestHost.destroy} kills them all
 * by that marker, so no listener or job outlives a test.
 */
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import {
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { createServer as createHttpServer, request, type Server } from "node:http";
import { createServer as createNetServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, afterEach, beforeAll } from "vitest";
import { parse } from "yaml";
import {
  assembleHostDocuments,
  type HostStep,
  type SsmDocumentContent,
} from "../../lib/host-documents/index.js";

/** Repository root. */
export const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));
/** Directory of the host scripts. */
export const SCRIPTS_DIR = join(REPO_ROOT, "host", "scripts");
/** Directory of the shipped profiles. */
export const PROFILES_DIR = join(REPO_ROOT, "profiles");
/** The demo agent's install root (profiles/demo.profile). */
export const DEMO_INSTALL_ROOT = "opt/demo-agent";

/** A built demo-agent release. */
export interface Artifact {
  readonly version: string;
  readonly path: string;
  readonly url: string;
  readonly sha256: string;
}

/** What a step run gave. */
export interface StepResult {
  /** Exit code of the script (or of the document's bootstrap). */
  readonly code: number;
  /** The parsed result line (the last line of stdout, after its integrity line). */
  readonly result: Record<string, unknown>;
  readonly stdout: string;
  readonly stderr: string;
}

/** How to run a step. */
export interface RunOptions {
  /** `script`: bash host/scripts/<step>.sh; `document`: sh -c of the assembled runCommand. */
  readonly via?: "script" | "document";
  /** Profiles directory for `script` runs (AR_PROFILE_DIR). @default profiles/ */
  readonly profileDir?: string;
  /** Documents to run for `document` runs. @default the demo profile's documents */
  readonly documents?: Record<HostStep, SsmDocumentContent>;
  /** Extra environment. */
  readonly env?: Readonly<Record<string, string>>;
}

/** What a finished command printed, and its exit code. */
export interface RawOutput {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a command to its end and collects what it printed (never throws on its exit code). */
export function spawnCollect(
  cmd: string,
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<RawOutput> {
  const child = spawn(cmd, args, { env, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (d: string) => {
    stdout += d;
  });
  child.stderr.setEncoding("utf8").on("data", (d: string) => {
    stderr += d;
  });
  // "close", not "exit": a daemon that kept our stdout open would hang the step in SSM
  // too, and should hang (and fail) the test.
  return new Promise<RawOutput>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code, signal) =>
      resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr }),
    );
  });
}

/** Runs a command to completion; throws with its output when it fails. */
export async function run(
  cmd: string,
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<string> {
  const { code, stdout, stderr } = await spawnCollect(cmd, args, env);
  if (code !== 0) throw new Error(`${cmd} ${args.join(" ")} exited ${code}\n${stdout}\n${stderr}`);
  return stdout;
}

/**
 * Builds demo-agent releases into `dir` (build-release.sh), e.g.
 * `[{ version: "1.0.0" }, { version: "3.0.0-bad", badHealth: true }]`.
 */
export async function buildArtifacts(
  dir: string,
  specs: readonly { version: string; badHealth?: boolean }[],
): Promise<Record<string, Artifact>> {
  const built: Record<string, Artifact> = {};
  for (const { version, badHealth } of specs) {
    const out = await run("bash", [
      join(REPO_ROOT, "demo-agent", "build-release.sh"),
      version,
      dir,
      ...(badHealth ? ["--bad-health"] : []),
    ]);
    const path = join(dir, `demo-agent-${version}.tar.gz`);
    built[version] = { version, path, url: `file://${path}`, sha256: out.trim() };
  }
  return built;
}

/** What {@link hostSuite} gives a test file; filled in by its `beforeAll`. */
export interface HostSuite {
  /** The file's work directory (artifacts, profiles, host roots). */
  work: string;
  /** The releases built for the file. */
  artifacts: Record<string, Artifact>;
  /** A new host on `version` (default 1.0.0), destroyed after the test. */
  newHost(options?: Omit<TestHostOptions, "artifacts" | "parentDir">): Promise<TestHost>;
}

/**
 * Registers the hooks every host test file needs: a work directory with `releases`
 * built once, every host a test created destroyed after it, the directory removed
 * at the end. Register file-specific `beforeAll` hooks after calling it.
 */
export function hostSuite(
  prefix: string,
  releases: readonly { version: string; badHealth?: boolean }[] = [
    { version: "1.0.0" },
    { version: "2.0.0" },
  ],
): HostSuite {
  const hosts: TestHost[] = [];
  const suite: HostSuite = {
    work: "",
    artifacts: {},
    async newHost(options) {
      const host = await TestHost.create({
        ...options,
        artifacts: suite.artifacts,
        parentDir: suite.work,
      });
      hosts.push(host);
      return host;
    },
  };
  beforeAll(async () => {
    suite.work = mkdtempSync(join(tmpdir(), prefix));
    suite.artifacts = await buildArtifacts(join(suite.work, "artifacts"), releases);
  });
  afterEach(async () => {
    await Promise.all(hosts.splice(0).map((h) => h.destroy()));
  });
  afterAll(() => {
    rmSync(suite.work, { recursive: true, force: true });
  });
  return suite;
}

/** A free TCP port on 127.0.0.1 (bound by the agent later). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createNetServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** sha256 of a file, hex. */
export function sha256File(path: string): string {
  return createHash("sha256").update(readFileSync(path)).digest("hex");
}

/** Start time (field 22 of /proc/<pid>/stat) of a live process. */
export function startTicks(pid: number): string {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticks = fields[19];
  if (ticks === undefined) throw new Error(`cannot parse /proc/${pid}/stat`);
  return ticks;
}

/** Adds (or with no line, removes) the demo agent's local-mode fault lines in agent.env. */
export function setAgentFaults(host: TestHost, ...lines: string[]): void {
  const file = host.path("conf", "agent.env");
  const kept = readFileSync(file, "utf8")
    .split("\n")
    .filter((l) => l !== "" && !l.startsWith("HANG_START_VERSIONS=") && !l.startsWith("FAIL_"));
  writeFileSync(file, `${[...kept, ...lines].join("\n")}\n`);
}

/**
 * Writes `<dir>/<name>.profile`: `from` (profiles/demo.profile by default) with some
 * keys replaced, for tests that need another health timeout or hook.
 */
export function deriveProfile(
  dir: string,
  name: string,
  overrides: Readonly<Record<string, string>>,
  from = join(PROFILES_DIR, "demo.profile"),
): void {
  const lines = readFileSync(from, "utf8").split("\n");
  const left = new Map(Object.entries(overrides));
  const out = lines.map((line) => {
    const key = line.slice(0, line.indexOf("="));
    const value = left.get(key);
    if (line.startsWith("#") || value === undefined) return line;
    left.delete(key);
    return `${key}=${value}`;
  });
  for (const [key, value] of left) out.push(`${key}=${value}`);
  writeFileSync(join(dir, `${name}.profile`), out.join("\n"));
}

/**
 * The scheduler server the demo agent's suspend/resume hooks call
 * (`SCHEDULER_URL`): counts calls, answers 200.
 */
export class FakeScheduler {
  suspends = 0;
  resumes = 0;
  /** `suspend`/`resume` in call order. */
  readonly calls: string[] = [];
  private constructor(
    private readonly server: Server,
    /** Base URL to put in agent.env. */
    readonly url: string,
  ) {}

  static async start(): Promise<FakeScheduler> {
    let scheduler: FakeScheduler | undefined;
    const server = createHttpServer((req, res) => {
      if (req.method === "POST" && (req.url === "/suspend" || req.url === "/resume")) {
        if (req.url === "/suspend" && scheduler) scheduler.suspends++;
        if (req.url === "/resume" && scheduler) scheduler.resumes++;
        scheduler?.calls.push(req.url.slice(1));
        res.writeHead(200).end("{}");
        return;
      }
      res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const address = server.address();
    const port = typeof address === "object" && address ? address.port : 0;
    scheduler = new FakeScheduler(server, `http://127.0.0.1:${port}`);
    return scheduler;
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.closeAllConnections();
      this.server.close(() => resolve());
    });
  }
}

/** A plain HTTP request to the agent. */
function http(
  port: number,
  method: string,
  path: string,
  body?: string,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: "127.0.0.1", port, method, path, headers: { "content-type": "application/json" } },
      (res) => {
        let text = "";
        res.setEncoding("utf8").on("data", (d: string) => {
          text += d;
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text }));
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

/** What a finished demo job wrote to `jobs/<id>.done`. */
export interface JobDone {
  readonly id: string;
  readonly exitCode: number;
  readonly finishedMs: number;
  readonly version: string;
}

/** Options of {@link TestHost.create}. */
export interface TestHostOptions {
  /** Built releases; `version` must be among them. */
  readonly artifacts: Readonly<Record<string, Artifact>>;
  /** First release. @default "1.0.0" */
  readonly version?: string;
  /** Directory the host root is created in. @default os.tmpdir() */
  readonly parentDir?: string;
  /**
   * Profiles of the first stage (AR_PROFILE_DIR). A `demo` profile with
   * `switch_mode=overlap` gets the socket holder installed, and the first listener
   * starts on it. @default profiles/
   */
  readonly profileDir?: string;
}

/** Documents assembled for each set of allowed artifact directories. */
const cachedDocuments = new Map<string, Record<HostStep, SsmDocumentContent>>();

/**
 * The `SSM_*` variables a step's command runs with, as SSM sets them: `params`, and
 * every parameter the command leaves out at the default its document declares.
 *
 * @param document - the step's document, or its step name (the document as shipped)
 */
export function ssmVariables(
  params: Readonly<Record<string, string>>,
  document: HostStep | SsmDocumentContent,
): Record<string, string> {
  const declared =
    typeof document === "string"
      ? (parse(readFileSync(join(REPO_ROOT, "host", "documents", `${document}.yaml`), "utf8")) as {
          parameters: SsmDocumentContent["parameters"];
        })
      : document;
  const defaults = Object.entries(declared.parameters).flatMap(([name, p]) =>
    p.default === undefined ? [] : [[name, String(p.default)] as const],
  );
  return Object.fromEntries(
    [...defaults, ...Object.entries(params)].map(([k, v]) => [`SSM_${k}`, v]),
  );
}

/** A host root with the demo agent installed and its listener running. */
export class TestHost {
  private constructor(
    /** The host's `/` (AR_HOST_ROOT). */
    readonly root: string,
    /** `$AR_ROOT` of the demo agent. */
    readonly agentRoot: string,
    /** The agent's port. */
    readonly port: number,
    readonly scheduler: FakeScheduler,
    private readonly parentOwned: boolean,
  ) {}

  /** Directories file:// artifacts may come from (`AR_ARTIFACT_DIRS`): the built artifacts'. */
  artifactDirs: string[] = [];

  /** Creates the host, stages and installs the first release, starts the listener. */
  static async create(opts: TestHostOptions): Promise<TestHost> {
    const version = opts.version ?? "1.0.0";
    const artifact = opts.artifacts[version];
    if (!artifact) throw new Error(`no artifact for ${version}`);
    const root = mkdtempSync(join(opts.parentDir ?? tmpdir(), "ar-host-"));
    const agentRoot = join(root, DEMO_INSTALL_ROOT);
    const port = await freePort();
    const scheduler = await FakeScheduler.start();
    const host = new TestHost(root, agentRoot, port, scheduler, opts.parentDir === undefined);
    host.artifactDirs = [...new Set(Object.values(opts.artifacts).map((a) => dirname(a.path)))];
    await mkdir(join(agentRoot, "conf"), { recursive: true });
    await writeFile(
      join(agentRoot, "conf", "agent.env"),
      `AGENT_PORT=${port}\nHOST_ID=${root.slice(-6)}\nSCHEDULER_URL=${scheduler.url}\n`,
    );
    const staged = await host.runStep(
      "stage",
      {
        profile: "demo",
        targetVersion: version,
        artifactUrl: artifact.url,
        artifactSha256: artifact.sha256,
        rolloutId: "bootstrap",
      },
      { profileDir: opts.profileDir },
    );
    if (staged.result.status !== "STAGED")
      throw new Error(`bootstrap stage: ${staged.stdout}${staged.stderr}`);
    await run(
      "bash",
      [join(REPO_ROOT, "demo-agent", "install-first.sh"), agentRoot, version, artifact.path],
      host.env(),
    );
    await run("bash", [join(agentRoot, "current", "bin", "agentctl"), "start"], host.env());
    await host.waitHealthy(version);
    return host;
  }

  /** Environment of everything this host runs: the kill marker and a plain PATH. */
  env(extra: Readonly<Record<string, string>> = {}): NodeJS.ProcessEnv {
    return { PATH: process.env.PATH ?? "/usr/bin:/bin", AR_HOST_ROOT: this.root, ...extra };
  }

  /** Runs a step and returns its raw output ({@link runStep} parses it). */
  startStep(
    step: HostStep,
    params: Readonly<Record<string, string>>,
    opts: RunOptions = {},
  ): Promise<RawOutput> {
    const key = this.artifactDirs.join(":");
    let documents = cachedDocuments.get(key);
    if (documents === undefined) {
      // As the stack deploys them: one set per profile, the demo profile's here.
      documents = assembleHostDocuments({ artifactDirs: this.artifactDirs, profiles: ["demo"] });
      cachedDocuments.set(key, documents);
    }
    const document = (opts.documents ?? documents)[step];
    const ssm = ssmVariables(params, document);
    if ((opts.via ?? "script") === "script") {
      const env = this.env({
        AR_PROFILE_DIR: opts.profileDir ?? PROFILES_DIR,
        AR_ARTIFACT_DIRS: this.artifactDirs.join(":"),
        ...ssm,
        ...opts.env,
      });
      return spawnCollect("bash", [join(SCRIPTS_DIR, `${step}.sh`)], env);
    }
    const script = `${document.mainSteps[0].inputs.runCommand.join("\n")}\n`;
    return spawnCollect("sh", ["-c", script], this.env({ ...ssm, ...opts.env }));
  }

  /** Runs a step to completion and parses its result line. */
  async runStep(
    step: HostStep,
    params: Readonly<Record<string, string>>,
    opts: RunOptions = {},
  ): Promise<StepResult> {
    return parseStep(await this.startStep(step, params, opts));
  }

  /** Absolute path under the agent root. */
  path(...parts: string[]): string {
    return join(this.agentRoot, ...parts);
  }

  /** Target of a link in the agent root, or null. */
  link(name: string): string | null {
    try {
      return readlinkSync(this.path(name));
    } catch {
      return null;
    }
  }

  /** GET /health: status and served version. */
  async health(): Promise<{ status: number; version?: string }> {
    const res = await http(this.port, "GET", "/health");
    return { status: res.status, version: (JSON.parse(res.body) as { version?: string }).version };
  }

  /** Polls /health until it serves `version`. */
  async waitHealthy(version: string, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        const h = await this.health();
        if (h.status === 200 && h.version === version) return;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline)
        throw new Error(`listener did not serve ${version} in ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** POST /jobs. */
  async submitJob(
    id: string,
    seconds: number,
    exitCode = 0,
  ): Promise<{ status: number; body: string }> {
    return http(this.port, "POST", "/jobs", JSON.stringify({ id, seconds, exitCode }));
  }

  /** Raw POST /jobs body (for bad requests). */
  async postJobs(body: string): Promise<{ status: number; body: string }> {
    return http(this.port, "POST", "/jobs", body);
  }

  /** The listener's pid (run/listener.pid). */
  listenerPid(): number {
    return Number(readFileSync(this.path("run", "listener.pid"), "utf8").trim());
  }

  /** pid a job recorded in jobs/<id>.pid. */
  jobPid(id: string): number {
    return Number(readFileSync(this.path("jobs", `${id}.pid`), "utf8").trim());
  }

  /** jobs/<id>.done, or undefined while the job runs. */
  jobDone(id: string): JobDone | undefined {
    const file = this.path("jobs", `${id}.done`);
    return existsSync(file) ? (JSON.parse(readFileSync(file, "utf8")) as JobDone) : undefined;
  }

  /** Waits until every job in `ids` has its .done file; returns them in order. */
  async waitForJobs(ids: readonly string[], timeoutMs = 20_000): Promise<JobDone[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const done = ids.map((id) => this.jobDone(id));
      if (done.every((d) => d !== undefined)) return done as JobDone[];
      if (Date.now() > deadline) {
        throw new Error(`jobs not done: ${ids.filter((_, i) => done[i] === undefined).join(", ")}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** A process that lives until the host is destroyed (counts as one of its processes). */
  spawnSleeper(seconds = 600): number {
    const child = spawn("sleep", [String(seconds)], {
      env: this.env(),
      detached: true,
      stdio: "ignore",
    });
    child.unref();
    if (child.pid === undefined) throw new Error("cannot spawn sleep");
    return child.pid;
  }

  /**
   * The agent root as a comparable listing: path, type and link target or content
   * hash of every entry (mtimes left out: taking and releasing the lock touches
   * directories without changing what is in them).
   */
  tree(): string[] {
    const out: string[] = [];
    const walk = (dir: string, rel: string): void => {
      for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) =>
        a.name.localeCompare(b.name),
      )) {
        const path = join(dir, entry.name);
        const name = rel ? `${rel}/${entry.name}` : entry.name;
        if (entry.isSymbolicLink()) out.push(`${name} -> ${readlinkSync(path)}`);
        else if (entry.isSocket() || entry.isFIFO()) out.push(`${name} (socket or FIFO)`);
        else if (entry.isDirectory()) {
          out.push(`${name}/`);
          walk(path, name);
        } else out.push(`${name} ${sha256File(path)}`);
      }
    };
    walk(this.agentRoot, "");
    return out;
  }

  /** Kills every process of this host, closes the scheduler, removes the root. */
  async destroy(): Promise<void> {
    await killMarked(this.root);
    await this.scheduler.close();
    if (this.parentOwned) rmSync(this.root, { recursive: true, force: true });
  }
}

/**
 * Parses a finished step. Part of the contract: stdout is exactly two lines, the
 * integrity line `result-sha256 <hex>` and the JSON result line whose sha256 it is.
 */
export function parseStep(out: RawOutput): StepResult {
  const lines = out.stdout.split("\n").filter((l) => l !== "");
  const [integrity, last] = lines;
  if (lines.length !== 2 || integrity === undefined || last === undefined) {
    throw new Error(
      `expected an integrity line and one result line on stdout, got ${lines.length} lines:\n${out.stdout}\nstderr:\n${out.stderr}`,
    );
  }
  const digest = createHash("sha256").update(last, "utf8").digest("hex");
  if (integrity !== `result-sha256 ${digest}`) {
    throw new Error(
      `integrity line "${integrity}" is not the sha256 of the result line (${digest}):\n${out.stdout}`,
    );
  }
  let result: Record<string, unknown>;
  try {
    result = JSON.parse(last) as Record<string, unknown>;
  } catch {
    throw new Error(`result line is not JSON: ${last}\nstderr:\n${out.stderr}`);
  }
  return { code: out.code, result, stdout: out.stdout, stderr: out.stderr };
}

/** pids of the live processes whose environment holds AR_HOST_ROOT=<root>. */
export function markedProcesses(root: string): number[] {
  const needle = `AR_HOST_ROOT=${root}`;
  const found: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      if (stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) === "Z") continue;
      if (readFileSync(`/proc/${entry}/environ`, "latin1").split("\0").includes(needle))
        found.push(Number(entry));
    } catch {
      // gone, or not readable
    }
  }
  return found;
}

/**
 * Runs `command args` as its own process group and SIGKILLs the group once `ready()`
 * holds, as the SSM agent kills a step on its execution timeout (no trap runs).
 * Returns once the step is dead; throws if it ended before `ready()` held.
 */
export async function killStepWhen(
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  ready: () => boolean,
  what: string,
  timeoutMs = 15_000,
): Promise<void> {
  const child = spawn(command, args, { env, detached: true, stdio: "ignore" });
  let ended = false;
  const exited = new Promise<void>((resolve) =>
    child.on("exit", () => {
      ended = true;
      resolve();
    }),
  );
  const deadline = Date.now() + timeoutMs;
  while (!ready()) {
    if (ended || Date.now() > deadline) {
      if (!ended) process.kill(-(child.pid as number), "SIGKILL");
      await exited;
      throw new Error(`${what} never reached the point to kill it at`);
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  process.kill(-(child.pid as number), "SIGKILL");
  await exited;
}

/** SIGKILLs every process of the host root `root` (its AR_HOST_ROOT marker), as a reboot would. */
export async function killMarked(root: string): Promise<void> {
  for (let round = 0; round < 50; round++) {
    const pids = markedProcesses(root);
    if (pids.length === 0) return;
    for (const pid of pids) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`processes of ${root} survive SIGKILL: ${markedProcesses(root).join(" ")}`);
}

/** What {@link loadClient} saw. */
export interface LoadOutcome {
  /** Requests answered (any HTTP status). */
  readonly ok: number;
  /** Connections refused (ECONNREFUSED): the port was closed. */
  readonly refused: number;
  /** Other failures: connection reset, no or partial answer. */
  readonly failed: number;
  /** Slowest answered request, ms. */
  readonly maxLatencyMs: number;
  /**
   * Client-seen time the port went unserved: from each first refused connection to
   * the next answered one, summed (as precise as `everyMs`).
   */
  readonly unservedMs: number;
}

/** One GET on a new connection (no keep-alive); resolves with what happened. */
function probeOnce(
  port: number,
  path: string,
  timeoutMs: number,
): Promise<{ kind: "ok" | "refused" | "failed"; at: number; ms: number; body: string }> {
  const started = performance.now();
  return new Promise((resolve) => {
    const done = (kind: "ok" | "refused" | "failed", body = "") =>
      resolve({ kind, at: started, ms: performance.now() - started, body });
    const req = request({ host: "127.0.0.1", port, path, agent: false }, (res) => {
      let body = "";
      res.setEncoding("utf8").on("data", (d: string) => {
        body += d;
      });
      res.on("end", () => done("ok", body));
      res.on("error", () => done("failed", body));
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error("timeout")));
    req.on("error", (err: NodeJS.ErrnoException) =>
      done(err.code === "ECONNREFUSED" ? "refused" : "failed"),
    );
    req.end();
  });
}

/**
 * A client on 127.0.0.1 opening a new connection every `everyMs` (GET /health) until
 * `until` resolves, bounded by `maxMs`; counts what a client of the agent would see.
 */
export async function loadClient(
  port: number,
  until: Promise<unknown>,
  { everyMs = 3, maxMs = 30_000 } = {},
): Promise<LoadOutcome> {
  let stop = false;
  void until.finally(() => {
    stop = true;
  });
  const deadline = Date.now() + maxMs;
  const pending: Promise<{ kind: string; at: number; ms: number }>[] = [];
  while (!stop && Date.now() < deadline) {
    pending.push(probeOnce(port, "/health", 10_000));
    await new Promise((r) => setTimeout(r, everyMs));
  }
  const results = await Promise.all(pending);
  const count = (kind: string) => results.filter((r) => r.kind === kind).length;
  let unservedMs = 0;
  let down: number | undefined;
  for (const r of results) {
    if (r.kind === "refused") down ??= r.at;
    else if (r.kind === "ok" && down !== undefined) {
      unservedMs += r.at - down;
      down = undefined;
    }
  }
  if (down !== undefined) unservedMs += (results.at(-1)?.at ?? down) - down;
  return {
    unservedMs: Math.round(unservedMs),
    ok: count("ok"),
    refused: count("refused"),
    failed: count("failed"),
    maxLatencyMs: Math.round(
      Math.max(0, ...results.filter((r) => r.kind === "ok").map((r) => r.ms)),
    ),
  };
}

/** A long request (GET /download?ms=N): true when it was answered in full. */
export async function longRequest(port: number, ms: number): Promise<boolean> {
  const r = await probeOnce(port, `/download?ms=${ms}`, ms + 30_000);
  return r.kind === "ok" && /done \S+\n$/.test(r.body);
}
