/**
 * The cases of the invariant test (test/host/invariant.test.ts) and how one runs: a
 * host on 1.0.0 with a job running, the step under test run with a fault (a hook that
 * fails, hangs, or during which the step is killed; the step killed as a hook starts,
 * with or without the rest of the host's processes, as a reboot), then the fault
 * cleared and the same step run again, as a retry would; then the invariant
 * (invariant.ts) is checked.
 */

import {
  type AgentUnderTest,
  type HookFault,
  type HookName,
  type HostUnderTest,
  hookReached,
  type Phases,
  setHookFault,
} from "./agents-under-test.js";
import { killMarked, killStepWhen, type StepResult, startTicks } from "./harness.js";
import { invariantViolations, linkedVersion, releaseDir, type StartedJob } from "./invariant.js";

/** How the faulty run goes wrong. */
export type CaseFault =
  /** The hook exits 1 without doing anything. */
  | "fails"
  /** The hook hangs until hook_timeout_s ends it. */
  | "hangs"
  /** The hook did its work; the step is SIGKILLed before it sees the hook end. */
  | "killed mid-way"
  /** The step is SIGKILLed as the hook starts (the phase before it is done). */
  | "killed at the phase"
  /** As "killed at the phase", and every process of the host with it (a reboot). */
  | "rebooted at the phase";

/** One row of the table. */
export interface InvariantCase {
  readonly step: "preflight" | "stage" | "switch" | "rollback";
  readonly hook: HookName;
  readonly fault: CaseFault;
}

/** The hooks of issue #11's table, and the step each is tested in. */
const HOOK_STEP: ReadonlyArray<readonly [HookName, InvariantCase["step"]]> = [
  ["preflight", "preflight"],
  ["install", "stage"],
  ["version", "switch"],
  ["suspend", "switch"],
  ["listJobs", "switch"],
  ["stopListener", "switch"],
  ["configure", "switch"],
  ["startListener", "switch"],
  ["health", "switch"],
  ["resume", "switch"],
];

/**
 * Every hook x {fails, hangs, killed mid-way}; every step (stage, switch, rollback)
 * killed at each of its phases (as each hook it runs starts); the switch with the host
 * rebooted at each phase.
 */
export function invariantCases(phases: Phases): InvariantCase[] {
  const cases: InvariantCase[] = [];
  for (const [hook, step] of HOOK_STEP)
    for (const fault of ["fails", "hangs", "killed mid-way"] as const)
      cases.push({ step, hook, fault });
  for (const step of ["stage", "switch", "rollback"] as const)
    for (const hook of phases[step]) cases.push({ step, hook, fault: "killed at the phase" });
  for (const hook of phases.switch)
    cases.push({ step: "switch", hook, fault: "rebooted at the phase" });
  return cases;
}

/** Hooks about the new release: their failure is the new release's, not every release's. */
const NEW_RELEASE_HOOKS: ReadonlySet<HookName> = new Set([
  "install",
  "configure",
  "startListener",
  "health",
]);

const HOOK_FAULT: Record<CaseFault, HookFault> = {
  fails: "fails",
  hangs: "hangs",
  "killed mid-way": "killed-after",
  "killed at the phase": "killed-before",
  "rebooted at the phase": "killed-before",
};

/** What one case gave: the invariant's violations, and what happened, for the message. */
export interface CaseOutcome {
  readonly violations: string[];
  readonly story: string;
}

const brief = (r: StepResult) =>
  `${String(r.result.status)}${r.result.error ? ` (${String(r.result.error)})` : ""}${r.result.reason ? ` (${String(r.result.reason)})` : ""}`;

function expectStatus(r: StepResult, status: string, what: string): void {
  if (r.result.status !== status) throw new Error(`${what}: ${r.stdout}${r.stderr}`);
}

/** Runs one case on a new host under `parentDir`; the host is destroyed whatever happens. */
export async function runInvariantCase(
  agent: AgentUnderTest,
  c: InvariantCase,
  parentDir: string,
): Promise<CaseOutcome> {
  const host = await agent.newHost(parentDir);
  try {
    return await runOn(host, agent, c);
  } finally {
    await host.destroy();
  }
}

async function runOn(
  host: HostUnderTest,
  agent: AgentUnderTest,
  c: InvariantCase,
): Promise<CaseOutcome> {
  const target = agent.artifacts["2.0.0"];
  if (target === undefined) throw new Error("no 2.0.0 artifact");
  const base = { profile: agent.profile, rolloutId: "r-1" };
  const stageParams = {
    ...base,
    targetVersion: "2.0.0",
    artifactUrl: target.url,
    artifactSha256: target.sha256,
  };
  const ledgerResults: StepResult[] = [];
  const jobsOn = new Map<string, StartedJob[]>();
  const startJob = async (id: string, version: string) => {
    await host.submitJob(id);
    const pid = host.jobPid(id);
    jobsOn.set(releaseDir(host, version), [{ id, pid, ticks: startTicks(pid) }]);
  };
  const story: string[] = [];
  const violations: string[] = [];

  // Prepare: a job on 1.0.0; for switch and rollback 2.0.0 staged; for rollback the
  // switch to it done, and a job on 2.0.0.
  await startJob("on-1", "1.0.0");
  if (c.step === "switch" || c.step === "rollback") {
    expectStatus(await host.runStep("stage", stageParams), "STAGED", "stage 2.0.0");
  }
  if (c.step === "rollback") {
    const switched = await host.runStep("switch", { ...base, targetVersion: "2.0.0" });
    expectStatus(switched, "SWITCHED", "switch to 2.0.0");
    ledgerResults.push(switched);
    await startJob("on-2", "2.0.0");
  }
  const params: Record<string, string> = {
    // mode: the default the Preflight document declares, which SSM sends (the step is
    // run by its script here, not through the document).
    preflight: { ...base, targetVersion: "2.0.0", mode: "check" },
    stage: stageParams,
    switch: { ...base, targetVersion: "2.0.0" },
    // fromVersion/toVersion: the versions an orchestrated rollback expects (a rollback
    // step that takes no such parameters ignores them).
    rollback: {
      profile: agent.profile,
      rolloutId: "rb-1",
      fromVersion: "2.0.0",
      toVersion: "1.0.0",
    },
  }[c.step];
  const versionBefore = linkedVersion(host) ?? "none";
  const goingTo = c.step === "rollback" ? "1.0.0" : "2.0.0";

  // Act: the faulty run, then the retry.
  const fault = HOOK_FAULT[c.fault];
  // stopListener: the old listener cannot be stopped. Were every stop to fail, an
  // overlap switch that started the new listener could stop neither again.
  const scopedTo = NEW_RELEASE_HOOKS.has(c.hook)
    ? goingTo
    : c.hook === "stopListener"
      ? versionBefore
      : undefined;
  const scoped = fault === "fails" || fault === "hangs";
  setHookFault(host, c.hook, fault, scoped ? scopedTo : undefined);
  if (fault === "killed-before" || fault === "killed-after") {
    const { command, args, env } = host.stepCommand(c.step, params);
    await killStepWhen(
      command,
      args,
      env,
      () => hookReached(host, c.hook),
      `${c.step} (${c.hook})`,
    );
    story.push(`${c.step} killed at hook.${c.hook}`);
    if (c.fault === "rebooted at the phase") {
      await killMarked(host.root);
      story.push("every process of the host killed");
    }
  } else {
    const faulty = await host.runStep(c.step, params);
    ledgerResults.push(faulty);
    story.push(`${c.step} with hook.${c.hook} ${c.fault}: ${brief(faulty)}`);
    // The step ended by itself: what it leaves must already hold, or its result say so.
    const early = await invariantViolations(host, {
      step: c.step,
      last: faulty,
      ledgerResults,
      versionBefore,
      jobsOn,
      beforeRetry: true,
    });
    violations.push(...early.map((e) => `after the faulty run: ${e}`));
  }
  setHookFault(host, c.hook);
  const last = await host.runStep(c.step, params);
  ledgerResults.push(last);
  story.push(`${c.step} again: ${brief(last)}`);

  // Assess
  const after = await invariantViolations(host, {
    step: c.step,
    last,
    ledgerResults,
    versionBefore,
    pendingVersion: c.step === "stage" ? "2.0.0" : undefined,
    jobsOn,
  });
  violations.push(...after.map((e) => `after the retry: ${e}`));
  return { violations, story: story.join("; ") };
}
