/**
 * Steps killed mid-cutover, as the SSM agent kills a step that exceeds its execution
 * timeout (SIGKILL to the step's process group: no trap runs), and what the next run
 * makes of the host: never a link on one release with nothing serving, never an agent
 * left suspended.
 */
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import {
  assembleHostDocuments,
  type HostStep,
  type SsmDocumentContent,
} from "../../lib/host-documents/index.js";
import {
  type Artifact,
  deriveProfile,
  hostSuite,
  killStepWhen,
  type RunOptions,
  SCRIPTS_DIR,
  setAgentFaults,
  sha256File,
  ssmVariables,
  type TestHost,
} from "./harness.js";

const suite = hostSuite("ar-interrupted-test-");
/**
 * demo in switch_mode=stop-start, without a socket holder: these cases kill a run
 * between stopping the old listener and the new one serving (overlap mode has its
 * own cases in overlap.test.ts).
 */
let stopStart: string;
let stopStartDocs: Record<HostStep, SsmDocumentContent>;
const ss = (options: RunOptions = {}): RunOptions => ({
  profileDir: stopStart,
  documents: stopStartDocs,
  ...options,
});
/** demo with a 2 s health timeout: a failed recovery need not wait 10 s. */
let fastProfiles: string;
/** demo whose stopListener hook stalls once the listener is stopped (and says so). */
let stallAfterStopProfiles: string;

beforeAll(() => {
  stopStart = join(suite.work, "profiles-stop-start");
  mkdirSync(stopStart);
  deriveProfile(stopStart, "demo", { switch_mode: "stop-start" });
  stopStartDocs = assembleHostDocuments({ profilesDir: stopStart });
  fastProfiles = join(suite.work, "profiles-fast");
  mkdirSync(fastProfiles);
  deriveProfile(fastProfiles, "demo", { health_timeout_s: "2", switch_mode: "stop-start" });
  stallAfterStopProfiles = join(suite.work, "profiles-stall");
  mkdirSync(stallAfterStopProfiles);
  deriveProfile(stallAfterStopProfiles, "demo", {
    switch_mode: "stop-start",
    "hook.stopListener": '"$AR_RELEASE/bin/agentctl" stop && : >"$AR_STATE/stopped" && sleep 30',
  });
});

/** A host on 1.0.0 with 2.0.0 staged (rollout r-1). */
async function stagedHost(): Promise<TestHost> {
  const host = await suite.newHost({ profileDir: stopStart });
  const a = suite.artifacts["2.0.0"] as Artifact;
  const { result } = await host.runStep(
    "stage",
    {
      profile: "demo",
      targetVersion: "2.0.0",
      artifactUrl: a.url,
      artifactSha256: a.sha256,
      rolloutId: "r-1",
    },
    ss(),
  );
  expect(result.status).toBe("STAGED");
  return host;
}

/**
 * Runs a step as its own process group and SIGKILLs the group once `ready()` holds,
 * as the SSM agent does on an execution timeout. Returns once the script is dead.
 */
async function killMidStep(
  host: TestHost,
  step: "switch" | "rollback",
  params: Record<string, string>,
  ready: () => boolean,
  options: { profileDir?: string; via?: "script" | "document"; env?: Record<string, string> } = {},
): Promise<void> {
  const env = host.env({
    AR_PROFILE_DIR: options.profileDir ?? stopStart,
    ...ssmVariables(params, stopStartDocs[step]),
    ...options.env,
  });
  const [command, args] =
    options.via === "document"
      ? ["sh", ["-c", `${stopStartDocs[step].mainSteps[0].inputs.runCommand.join("\n")}\n`]]
      : ["bash", [join(SCRIPTS_DIR, `${step}.sh`)]];
  await killStepWhen(command, args, env, ready, step);
}

const state = (host: TestHost, ...parts: string[]) => host.path(".agent-rollout", ...parts);

/** Health answer, or "down" when nothing listens. */
async function healthOf(host: TestHost): Promise<{ status: number; version?: string } | "down"> {
  try {
    return await host.health();
  } catch {
    return "down";
  }
}

describe("a switch killed after the link flip", () => {
  it("leaves a record; preflight then finds the host READY and the next switch completes it", async () => {
    // Prepare: 2.0.0's listener start hangs; kill the switch once the link is on 2.0.0.
    const host = await stagedHost();
    expect((await host.submitJob("before", 3, 0)).status).toBe(202);
    setAgentFaults(host, "HANG_START_VERSIONS=2.0.0");
    await killMidStep(
      host,
      "switch",
      { profile: "demo", targetVersion: "2.0.0", rolloutId: "r-1" },
      () => host.link("current") === "releases/2.0.0",
    );
    // The hang is reached right after configure; give the hook time to get there.
    await new Promise((r) => setTimeout(r, 300));

    // Assess the half-switched host the kill left.
    expect(host.link("current")).toBe("releases/2.0.0");
    expect(await healthOf(host)).toBe("down");
    expect(readFileSync(state(host, "suspended"), "utf8")).toBe("switch r-1\n");
    expect(readFileSync(state(host, "cutover"), "utf8")).toBe(
      [
        "step=switch",
        "rolloutId=r-1",
        "fromTarget=releases/1.0.0",
        "fromVersion=1.0.0",
        "toTarget=releases/2.0.0",
        "toVersion=2.0.0",
        "prevAfter=releases/1.0.0",
        "prevBefore=",
        "configure=yes",
        "restoreForward=",
        "restoreBack=r-1",
        "mode=stop-start",
        "end=1",
        "",
      ].join("\n"),
    );
    setAgentFaults(host);
    host.scheduler.calls.length = 0;

    // Act: a rollout run again (another rollout id): preflight, then switch.
    const params = { profile: "demo", targetVersion: "2.0.0", rolloutId: "r-2" };
    const preflight = await host.runStep("preflight", params, ss());
    const switched = await host.runStep("switch", params, ss({ via: "document" }));
    const again = await host.runStep("switch", params, ss());

    // Assess
    expect([preflight.code, preflight.result]).toEqual([
      0,
      {
        step: "preflight",
        status: "READY",
        currentVersion: "2.0.0",
        targetVersion: "2.0.0",
        freeMb: expect.any(Number),
        reason: "an interrupted switch or rollback left a cutover half done",
      },
    ]);
    expect(switched.code).toBe(0);
    const snapshot = state(host, "snapshots", "r-2.jobs");
    expect(switched.result).toMatchObject({
      status: "SWITCHED",
      fromVersion: "1.0.0",
      toVersion: "2.0.0",
      currentVersion: "2.0.0",
      oldRelease: host.path("releases", "1.0.0"),
      suspendMs: null,
      listenerGapMs: null,
      reason:
        "completed the switch 1.0.0 -> 2.0.0 that an interrupted run of rollout r-1 left half done",
      jobs: { count: 1, sha256: sha256File(snapshot) },
    });
    expect((switched.result.jobs as { items: unknown[][] }).items[0]?.[0]).toBe("before");
    expect(switched.stderr).toContain("an interrupted run left a cutover half done");
    expect(host.link("current")).toBe("releases/2.0.0");
    expect(host.link("previous")).toBe("releases/1.0.0");
    expect(await host.health()).toEqual({ status: 200, version: "2.0.0" });
    expect(existsSync(state(host, "cutover"))).toBe(false);
    expect(existsSync(state(host, "suspended"))).toBe(false);
    expect(host.scheduler.calls).toEqual(["resume"]);
    // A duplicate of the repairing command reports the same switch and touches nothing.
    expect(again.result).toMatchObject({
      status: "UNCHANGED",
      fromVersion: "1.0.0",
      oldRelease: host.path("releases", "1.0.0"),
      jobs: switched.result.jobs,
    });
    expect(host.scheduler.calls).toEqual(["resume"]);
    const [done] = await host.waitForJobs(["before"]);
    expect(done).toMatchObject({ exitCode: 0, version: "1.0.0" });
  });

  it("goes back to the old release when the new one still does not come up", async () => {
    // Prepare
    const host = await stagedHost();
    setAgentFaults(host, "HANG_START_VERSIONS=2.0.0");
    await killMidStep(
      host,
      "switch",
      { profile: "demo", targetVersion: "2.0.0", rolloutId: "r-1" },
      () => host.link("current") === "releases/2.0.0",
    );
    await new Promise((r) => setTimeout(r, 300));
    // 2.0.0 now starts, but never passes its health check on this host.
    setAgentFaults(host, "FAIL_HEALTH_VERSIONS=2.0.0");
    host.scheduler.calls.length = 0;

    // Act: the rollout again.
    const { code, result, stderr } = await host.runStep(
      "switch",
      { profile: "demo", targetVersion: "2.0.0", rolloutId: "r-2" },
      { profileDir: fastProfiles },
    );

    // Assess: the recovery tried 2.0.0 and went back; the switch does not try it again
    // (a second outage), it reports the recovery's reason.
    expect(code).toBe(3);
    const reason =
      "completing the interrupted switch 1.0.0 -> 2.0.0 of rollout r-1 failed: health check of 2.0.0 still failing after 2s";
    expect(result).toMatchObject({
      status: "ROLLED_BACK",
      fromVersion: "1.0.0",
      toVersion: "2.0.0",
      currentVersion: "1.0.0",
      oldRelease: null,
      abandonedRelease: host.path("releases", "2.0.0"),
      reason: expect.stringMatching(new RegExp(`^${reason} \\(`)),
    });
    expect(stderr).toContain(`going back to 1.0.0: ${reason}`);
    expect(host.scheduler.calls).toEqual(["resume"]);
    expect(host.link("current")).toBe("releases/1.0.0");
    expect(host.link("previous")).toBeNull();
    expect(await host.health()).toEqual({ status: 200, version: "1.0.0" });
    expect(existsSync(state(host, "cutover"))).toBe(false);
    expect(existsSync(state(host, "suspended"))).toBe(false);
  });
});

describe("a switch killed between stopping the listener and the flip", () => {
  it("is undone: the old release serves again, then the switch runs normally", async () => {
    // Prepare
    const host = await stagedHost();
    await killMidStep(
      host,
      "switch",
      { profile: "demo", targetVersion: "2.0.0", rolloutId: "r-1" },
      () => existsSync(state(host, "stopped")),
      { profileDir: stallAfterStopProfiles },
    );
    expect(host.link("current")).toBe("releases/1.0.0");
    expect(await healthOf(host)).toBe("down");
    expect(existsSync(state(host, "cutover"))).toBe(true);

    // Act: the rollout's preflight (the host is not on the target), then its switch.
    const params = { profile: "demo", targetVersion: "2.0.0", rolloutId: "r-2" };
    const preflight = await host.runStep("preflight", params, ss());
    const { code, result, stderr } = await host.runStep("switch", params, ss());

    // Assess
    expect(preflight.result.status).toBe("READY");
    expect(code).toBe(0);
    expect(result).toMatchObject({ status: "SWITCHED", fromVersion: "1.0.0", toVersion: "2.0.0" });
    expect(stderr).toContain("recovered (back): 1.0.0 serves");
    expect(host.link("current")).toBe("releases/2.0.0");
    expect(host.link("previous")).toBe("releases/1.0.0");
    expect(await host.health()).toEqual({ status: 200, version: "2.0.0" });
    expect(existsSync(state(host, "cutover"))).toBe(false);
  });
});

describe("a rollback killed after the link flip", () => {
  it("is completed by the next rollback, reported ROLLED_BACK", async () => {
    // Prepare: switched to 2.0.0, then a rollback killed with the link back on 1.0.0.
    const host = await stagedHost();
    const params = { profile: "demo", targetVersion: "2.0.0", rolloutId: "r-1" };
    expect((await host.runStep("switch", params, ss())).result.status).toBe("SWITCHED");
    setAgentFaults(host, "HANG_START_VERSIONS=1.0.0");
    await killMidStep(
      host,
      "rollback",
      { profile: "demo", rolloutId: "r-1" },
      () => host.link("current") === "releases/1.0.0",
    );
    await new Promise((r) => setTimeout(r, 300));
    expect(await healthOf(host)).toBe("down");
    setAgentFaults(host);

    // Act
    const { code, result } = await host.runStep(
      "rollback",
      { profile: "demo", rolloutId: "r-1" },
      ss(),
    );

    // Assess
    expect(code).toBe(0);
    expect(result).toEqual({
      step: "rollback",
      status: "ROLLED_BACK",
      fromVersion: "2.0.0",
      toVersion: "1.0.0",
      currentVersion: "1.0.0",
      switchMode: null,
      suspendMs: null,
      listenerGapMs: null,
      unservedMs: null,
      refused: null,
      oldRelease: null,
      jobs: { count: 0, sha256: null, items: [] },
      reason: "completed the rollback that an interrupted run left half done",
    });
    expect(host.link("current")).toBe("releases/1.0.0");
    expect(host.link("previous")).toBeNull();
    expect(await host.health()).toEqual({ status: 200, version: "1.0.0" });
    expect(existsSync(state(host, "suspended"))).toBe(false);
  });
});

describe("a host on the target that does not serve it", () => {
  it("is READY at preflight, and the switch restarts its listener (UNCHANGED, with a reason)", async () => {
    // Prepare: upgraded by r-1, then the listener dies (a reboot, a crash).
    const host = await stagedHost();
    const params = { profile: "demo", targetVersion: "2.0.0", rolloutId: "r-1" };
    expect((await host.runStep("switch", params, ss())).result.status).toBe("SWITCHED");
    process.kill(host.listenerPid(), "SIGKILL");
    const skippedBefore = await host.runStep("preflight", { ...params, rolloutId: "r-2" }, ss());
    expect(skippedBefore.result.status).toBe("READY");
    host.scheduler.calls.length = 0;

    // Act
    const { code, result } = await host.runStep("switch", { ...params, rolloutId: "r-2" }, ss());
    const preflightAfter = await host.runStep("preflight", { ...params, rolloutId: "r-3" }, ss());

    // Assess
    expect(skippedBefore.result.reason).toMatch(
      /^on 2\.0\.0 but not serving \(hook\.health exited 1: agentctl: nothing listens on 127\.0\.0\.1:\d+\)$/,
    );
    expect(code).toBe(0);
    expect(result).toMatchObject({
      status: "UNCHANGED",
      fromVersion: "2.0.0",
      currentVersion: "2.0.0",
      jobs: { count: 0, sha256: null, items: [] },
      reason: expect.stringMatching(/^on 2\.0\.0 but not serving \(.*\): restarted its listener$/),
    });
    expect(await host.health()).toEqual({ status: 200, version: "2.0.0" });
    expect(host.scheduler.calls).toEqual([]);
    expect(preflightAfter.result.status).toBe("SKIPPED");
  });

  it("is READY at preflight while an interrupted run left the agent suspended", async () => {
    const host = await stagedHost();
    const params = { profile: "demo", targetVersion: "2.0.0", rolloutId: "r-1" };
    expect((await host.runStep("switch", params, ss())).result.status).toBe("SWITCHED");
    writeFileSync(state(host, "suspended"), "switch r-killed\n");

    const { result } = await host.runStep("preflight", { ...params, rolloutId: "r-2" }, ss());

    expect(result).toMatchObject({
      status: "READY",
      reason: "an interrupted run left the agent suspended",
    });
  });
});

describe("the cutover record", () => {
  it("is written before anything moves: without it the switch does not touch the agent", async () => {
    // Prepare: a directory where the record goes, so that writing it fails.
    const host = await stagedHost();
    mkdirSync(state(host, "cutover"));
    const listener = host.listenerPid();

    // Act
    const { code, result } = await host.runStep(
      "switch",
      { profile: "demo", targetVersion: "2.0.0", rolloutId: "r-1" },
      ss(),
    );

    // Assess
    expect(code).toBe(3);
    expect(result).toMatchObject({ status: "ROLLED_BACK", currentVersion: "1.0.0" });
    expect(result.reason).toMatch(/^cannot write the cutover record .*cutover: .*Is a directory/);
    expect(host.link("current")).toBe("releases/1.0.0");
    expect(host.listenerPid()).toBe(listener);
    expect(await host.health()).toEqual({ status: 200, version: "1.0.0" });
  });
});

describe("temporary directories of a killed run", () => {
  it("are removed by the next step on the host; those of live runs are not", async () => {
    // Prepare: a switch, run through its document as SSM does, killed mid-cutover.
    const host = await stagedHost();
    const tmp = mkdtempSync(join(suite.work, "tmp-"));
    setAgentFaults(host, "HANG_START_VERSIONS=2.0.0");
    await killMidStep(
      host,
      "switch",
      { profile: "demo", targetVersion: "2.0.0", rolloutId: "r-1" },
      () => host.link("current") === "releases/2.0.0",
      { via: "document", env: { TMPDIR: tmp } },
    );
    const left = readdirSync(tmp).sort();
    // A run that has not written its owner file yet (or another tool's directory).
    mkdirSync(join(tmp, "agent-rollout.starting"));
    setAgentFaults(host);

    // Act
    const { result } = await host.runStep(
      "switch",
      { profile: "demo", targetVersion: "2.0.0", rolloutId: "r-2" },
      ss({ env: { TMPDIR: tmp } }),
    );

    // Assess
    expect(left).toEqual([
      expect.stringMatching(/^agent-rollout-switch\.\w{6}$/),
      expect.stringMatching(/^agent-rollout\.\w{6}$/),
    ]);
    expect(result.status).toBe("SWITCHED");
    expect(readdirSync(tmp)).toEqual(["agent-rollout.starting"]);
  });
});

describe("a switch killed while configuring, whose release then does not come up", () => {
  it("is undone with the configuration put back as stage found it", async () => {
    // Prepare: config_paths declared; configure changes data/CONFIG.dat, then stalls.
    const profileDir = mkdtempSync(join(suite.work, "profiles-config-"));
    deriveProfile(profileDir, "demo", {
      switch_mode: "stop-start",
      hook_timeout_s: "2",
      config_paths: "data/CONFIG.dat",
      "hook.configure": 'echo "AGENT_VERSION $AR_VERSION" >data/CONFIG.dat && sleep 30',
    });
    const host = await suite.newHost({ profileDir: stopStart });
    mkdirSync(host.path("data"));
    writeFileSync(host.path("data", "CONFIG.dat"), "AGENT_VERSION 1.0.0\n");
    const a = suite.artifacts["2.0.0"] as Artifact;
    const params = { profile: "demo", targetVersion: "2.0.0", rolloutId: "r-cfg" };
    const staged = await host.runStep(
      "stage",
      { ...params, artifactUrl: a.url, artifactSha256: a.sha256 },
      { profileDir },
    );
    expect(staged.result.status).toBe("STAGED");
    await killMidStep(
      host,
      "switch",
      params,
      () => readFileSync(host.path("data", "CONFIG.dat"), "utf8") === "AGENT_VERSION 2.0.0\n",
      { profileDir },
    );

    // Act: the next step (here a rollback, which moves nothing itself) recovers first;
    // configure times out again, so the recovery goes back.
    const { code, result, stderr } = await host.runStep(
      "rollback",
      { profile: "demo", rolloutId: "rb-cfg" },
      { profileDir },
    );

    // Assess
    expect(stderr).toContain(
      "going back to 1.0.0: completing the interrupted switch 1.0.0 -> 2.0.0 of rollout r-cfg failed: hook.configure timed out after 2s",
    );
    expect([code, result.status]).toEqual([0, "UNCHANGED"]);
    expect(readFileSync(host.path("data", "CONFIG.dat"), "utf8")).toBe("AGENT_VERSION 1.0.0\n");
    expect(host.link("current")).toBe("releases/1.0.0");
    expect(await host.health()).toEqual({ status: 200, version: "1.0.0" });
  });
});
