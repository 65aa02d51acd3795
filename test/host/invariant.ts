/**
 * The invariant of docs/contracts.md ("After any step ends"), checked on a host from
 * its state and the step results the ledger read:
 *
 * 1. the agent serves on exactly one release (the link's: one listener alive, the
 *    client answered by that version, no cutover record left) and the ledger knows
 *    which (the last result's `currentVersion`; stage, and a step that FAILED without
 *    naming it, change nothing that serves);
 * 2. the agent is resumed, or the last result says it is suspended and why (and the
 *    suspended marker makes the next step resume it);
 * 3. every other release on the host is recorded for cleanup with the jobs that pin
 *    it (`<rolloutId>.switch` naming it `oldRelease`, `<rolloutId>.jobs` listing its
 *    running jobs, and a result the ledger read carrying both, from which host-step
 *    writes the snapshot item), or staged for a pending switch; no half-staged or
 *    half-removed copy;
 * 4. the configuration on the host is that of the serving release.
 */
import { createHash } from "node:crypto";
import { existsSync, readFileSync, readlinkSync, statSync } from "node:fs";
import { join } from "node:path";
import { isVersion } from "../../lambdas/common/patterns.js";
import { type HostUnderTest, list } from "./agents-under-test.js";
import { type StepResult, startTicks } from "./harness.js";

/** What the check needs besides the host. */
export interface InvariantContext {
  /** The step whose runs ended. */
  readonly step: "preflight" | "stage" | "switch" | "rollback";
  /** The result of the run that ended last (the retry). */
  readonly last: StepResult;
  /** Every result the ledger read (runs that printed one, setup included). */
  readonly ledgerResults: readonly StepResult[];
  /**
   * The faulty run's own result is checked, before any retry: (3) waits for the retry
   * (whether a release left by a failed switch is still to be switched to is the
   * rollout's to say).
   */
  readonly beforeRetry?: boolean;
  /**
   * The version serving before the step: stage must not change it, nor a step that
   * failed without naming `currentVersion` (the ledger keeps what it knew).
   */
  readonly versionBefore: string;
  /** A version staged for a switch still to come (preflight and stage), if any. */
  readonly pendingVersion?: string;
  /** Jobs the test started, by the release directory they run from. */
  readonly jobsOn: ReadonlyMap<string, readonly StartedJob[]>;
}

/** A job the test started: its id, pid and start ticks (pids are reused). */
export interface StartedJob {
  readonly id: string;
  readonly pid: number;
  readonly ticks: string;
}

const sha256 = (path: string) => createHash("sha256").update(readFileSync(path)).digest("hex");

/** Absolute release directory of `version` on the host. */
export function releaseDir(host: HostUnderTest, version: string): string {
  return join(host.agentRoot, host.layout.releasesDir, `${host.layout.releasePrefix}${version}`);
}

/** Version of the release the link points at, or null. */
export function linkedVersion(host: HostUnderTest, link = host.layout.link): string | null {
  let target: string;
  try {
    target = readlinkSync(join(host.agentRoot, link));
  } catch {
    return null;
  }
  const prefix = host.layout.releasesDir === "." ? "" : `${host.layout.releasesDir}/`;
  const name = target.startsWith(prefix) ? target.slice(prefix.length) : "";
  const version = name.startsWith(host.layout.releasePrefix)
    ? name.slice(host.layout.releasePrefix.length)
    : "";
  return isVersion(version) ? version : null;
}

/** The job still runs: its pid is alive, not a zombie, and has its start ticks. */
function stillRuns(job: StartedJob): boolean {
  try {
    const stat = readFileSync(`/proc/${job.pid}/stat`, "utf8");
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    return state !== "Z" && state !== "X" && startTicks(job.pid) === job.ticks;
  } catch {
    return false;
  }
}

/** Release directories on the host, and copies a stage or cleanup left half done. */
function releasesOnHost(host: HostUnderTest): { releases: string[]; leftovers: string[] } {
  const parent = join(host.agentRoot, host.layout.releasesDir);
  const releases: string[] = [];
  const leftovers: string[] = [];
  for (const name of list(parent)) {
    const path = join(parent, name);
    if (name.startsWith(".ar-stage.") || name.startsWith(".ar-gone.")) leftovers.push(path);
    else if (
      name.startsWith(host.layout.releasePrefix) &&
      isVersion(name.slice(host.layout.releasePrefix.length)) &&
      statSync(path).isDirectory()
    )
      releases.push(path);
  }
  return { releases, leftovers };
}

/** The host's switch records: `<rolloutId>.switch` by the release it names `oldRelease`. */
function switchRecords(host: HostUnderTest): Map<string, string[]> {
  const dir = join(host.agentRoot, ".agent-rollout", "snapshots");
  const byRelease = new Map<string, string[]>();
  for (const name of list(dir).filter((n) => n.endsWith(".switch"))) {
    const old = readFileSync(join(dir, name), "utf8")
      .split("\n")
      .find((l) => l.startsWith("oldRelease="))
      ?.slice("oldRelease=".length);
    if (old) byRelease.set(old, [...(byRelease.get(old) ?? []), name.slice(0, -".switch".length)]);
  }
  return byRelease;
}

/** Polls the listeners until exactly one runs (one may still be draining), for up to 2 s. */
async function settledListeners(host: HostUnderTest): Promise<string[]> {
  const deadline = Date.now() + 2000;
  for (;;) {
    const found = host.listenerReleases();
    if (found.length === 1 || Date.now() > deadline) return found;
    await new Promise((r) => setTimeout(r, 50));
  }
}

const reasonOf = (r: StepResult) =>
  `${String(r.result.error ?? "")} ${String(r.result.reason ?? "")}`.trim();

/** Checks (1)-(4); returns the violations, each prefixed with its number. */
export async function invariantViolations(
  host: HostUnderTest,
  ctx: InvariantContext,
): Promise<string[]> {
  const v: string[] = [];
  const state = join(host.agentRoot, ".agent-rollout");

  // (1) exactly one release serves, and the ledger knows which.
  const serving = linkedVersion(host);
  if (serving === null) v.push(`(1) ${host.layout.link} points at no release`);
  const servingDir = serving === null ? null : releaseDir(host, serving);
  const listeners = await settledListeners(host);
  if (listeners.length !== 1 || listeners[0] !== servingDir)
    v.push(`(1) listeners alive: [${listeners.join(", ")}], want the one of ${servingDir}`);
  const answered = await host.servedVersion();
  if (answered !== serving)
    v.push(`(1) a client is answered by ${answered}, the link is on ${serving}`);
  if (existsSync(join(state, "cutover")))
    v.push("(1) a cutover record is left: the host is between two releases");
  if (ctx.step === "stage") {
    if (serving !== ctx.versionBefore)
      v.push(`(1) stage moved the agent from ${ctx.versionBefore} to ${serving}`);
  } else if (ctx.last.result.status === "FAILED" && ctx.last.result.currentVersion === undefined) {
    if (serving !== ctx.versionBefore)
      v.push(
        `(1) the step FAILED without naming currentVersion, and moved the agent from ${ctx.versionBefore} to ${serving}: ${reasonOf(ctx.last)}`,
      );
  } else if (ctx.last.result.currentVersion !== serving) {
    v.push(
      `(1) the last result (${String(ctx.last.result.status)}) says currentVersion ${String(ctx.last.result.currentVersion)}, the host serves ${serving}: ${reasonOf(ctx.last)}`,
    );
  }

  // (2) resumed, or the result says suspended and why.
  if (host.suspended()) {
    const says = /suspend|resum/i.test(reasonOf(ctx.last));
    if (!says || !existsSync(join(state, "suspended")))
      v.push(
        `(2) the agent is left suspended; the last result (${String(ctx.last.result.status)}) ${says ? "says so but no suspended marker is left for the next step" : `does not say so: ${reasonOf(ctx.last) || "no reason"}`}`,
      );
  }

  // (3) every other release recorded for cleanup with its jobs, or pending.
  const { releases, leftovers } = ctx.beforeRetry
    ? { releases: [], leftovers: [] }
    : releasesOnHost(host);
  for (const path of leftovers) v.push(`(3) ${path} is a copy left half staged or half removed`);
  const records = switchRecords(host);
  for (const release of releases) {
    if (release === servingDir) continue;
    if (
      ctx.pendingVersion !== undefined &&
      release === releaseDir(host, ctx.pendingVersion) &&
      readFileSync(join(state, "staged", ctx.pendingVersion), "utf8").startsWith("staged ")
    )
      continue;
    const rollouts = (records.get(release) ?? []).filter((r) =>
      existsSync(join(state, "snapshots", `${r}.jobs`)),
    );
    if (rollouts.length === 0) {
      v.push(
        `(3) ${release} is neither serving, nor recorded for cleanup (no <rolloutId>.switch naming it oldRelease with its .jobs), nor staged for a pending switch`,
      );
      continue;
    }
    const sums = rollouts.map((r) => sha256(join(state, "snapshots", `${r}.jobs`)));
    const inLedger = ctx.ledgerResults.some((r) => {
      const jobs = r.result.jobs as { sha256?: unknown } | undefined;
      return (
        r.result.oldRelease === release &&
        // UNCHANGED: a repeat reporting the cutover an earlier run of its rollout did,
        // which host-step records as it does a SWITCHED or ROLLED_BACK one.
        ["SWITCHED", "ROLLED_BACK", "UNCHANGED"].includes(String(r.result.status)) &&
        sums.includes(String(jobs?.sha256))
      );
    });
    if (!inLedger)
      v.push(
        `(3) ${release} is recorded on the host (${rollouts.join(", ")}) but no result the ledger read names it with that snapshot`,
      );
    const listed = new Set(
      rollouts.flatMap((r) =>
        readFileSync(join(state, "snapshots", `${r}.jobs`), "utf8")
          .split("\n")
          .map((l) => l.split(" ")[0]),
      ),
    );
    for (const job of ctx.jobsOn.get(release) ?? []) {
      if (stillRuns(job) && !listed.has(job.id))
        v.push(
          `(3) job ${job.id} still runs from ${release} but no snapshot recording it lists it`,
        );
    }
  }

  // (4) the configuration is the serving release's.
  if (serving !== null) {
    const problem = host.configProblem(serving);
    if (problem) v.push(`(4) ${problem}`);
  }
  return v;
}
