import { execFileSync } from "node:child_process";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { verifyJobSnapshot } from "../../lambdas/common/command-output.js";
import type { JobEntry } from "../../lambdas/common/schemas.js";
import {
  deriveProfile,
  hostSuite,
  parseStep,
  sha256File,
  startTicks,
  type TestHost,
} from "./harness.js";

const suite = hostSuite("ar-switch-test-", [
  { version: "1.0.0" },
  { version: "2.0.0" },
  { version: "3.0.0-bad", badHealth: true },
]);
let fastProfiles: string;
let stopStartProfiles: string;

beforeAll(() => {
  // Same agent, shorter health timeout: a rollback test need not wait 10 s.
  fastProfiles = join(suite.work, "profiles");
  mkdirSync(fastProfiles);
  deriveProfile(fastProfiles, "demo", { health_timeout_s: "2" });
  stopStartProfiles = join(suite.work, "profiles-stop-start");
  mkdirSync(stopStartProfiles);
  deriveProfile(stopStartProfiles, "demo", { switch_mode: "stop-start" });
});

const newHost = () => suite.newHost();

async function stage(host: TestHost, version: string): Promise<void> {
  const artifact = suite.artifacts[version];
  if (!artifact) throw new Error(version);
  const { code, result } = await host.runStep("stage", {
    profile: "demo",
    targetVersion: version,
    artifactUrl: artifact.url,
    artifactSha256: artifact.sha256,
    rolloutId: `stage-${version.replace(/[^A-Za-z0-9]/g, "-")}`,
  });
  expect({ code, status: result.status }).toEqual({ code: 0, status: "STAGED" });
}

describe("switch", () => {
  it("moves to the new release while jobs started before it run to completion", async () => {
    // Prepare
    const host = await newHost();
    await stage(host, "2.0.0");
    const jobs = [
      ["before-a", 2, 0],
      ["before-b", 2, 3],
      ["before-c", 3, 7],
    ] as const;
    for (const [id, seconds, exitCode] of jobs) {
      expect((await host.submitJob(id, seconds, exitCode)).status).toBe(202);
    }
    const jobPids = jobs.map(([id]) => host.jobPid(id));
    const oldListener = host.listenerPid();

    // Act
    const { code, result } = await host.runStep(
      "switch",
      { profile: "demo", targetVersion: "2.0.0", rolloutId: "r-switch" },
      { via: "document" },
    );

    // Assess
    expect(code).toBe(0);
    expect(result).toMatchObject({
      step: "switch",
      status: "SWITCHED",
      fromVersion: "1.0.0",
      toVersion: "2.0.0",
      currentVersion: "2.0.0",
      oldRelease: host.path("releases", "1.0.0"),
      configureReport: `agent.env ok: port ${host.port}, scheduler ${host.scheduler.url}, host ${host.root.slice(-6)}; no change`,
    });
    expect(host.link("current")).toBe("releases/2.0.0");
    expect(host.link("previous")).toBe("releases/1.0.0");
    expect(await host.health()).toEqual({ status: 200, version: "2.0.0" });
    expect(host.listenerPid()).not.toBe(oldListener);
    expect(host.scheduler.calls).toEqual(["suspend", "resume"]);

    const snapshot = host.path(".agent-rollout", "snapshots", "r-switch.jobs");
    const expectedItems = jobs.map(([id], i) => [
      id,
      jobPids[i],
      Number(startTicks(jobPids[i] ?? 0)),
    ]);
    expect(result.jobs).toEqual({ count: 3, sha256: sha256File(snapshot), items: expectedItems });
    expect(readFileSync(snapshot, "utf8")).toBe(
      expectedItems.map((item) => `${item.join(" ")}\n`).join(""),
    );

    // overlap (profiles/demo.profile): no listener stopped before the new one served.
    expect(result).toMatchObject({ switchMode: "overlap", listenerGapMs: 0, refused: 0 });
    expect(result.unservedMs).toBe(0);
    expect(result.suspendMs as number).toBeGreaterThan(result.healthMs as number);
    expect(result.suspendMs as number).toBeLessThan(3000);

    const done = await host.waitForJobs(jobs.map(([id]) => id));
    expect(done.map((d) => [d.id, d.exitCode, d.version])).toEqual([
      ["before-a", 0, "1.0.0"],
      ["before-b", 3, "1.0.0"],
      ["before-c", 7, "1.0.0"],
    ]);
    expect((await host.submitJob("after", 0, 0)).status).toBe(202);
    expect((await host.waitForJobs(["after"]))[0]?.version).toBe("2.0.0");
  });

  it("in stop-start mode stops the old listener first, and reports the gap clients saw", async () => {
    // Prepare: no socket holder (the first stage ran with a stop-start profile).
    const host = await suite.newHost({ profileDir: stopStartProfiles });
    const artifact = suite.artifacts["2.0.0"];
    if (!artifact) throw new Error("2.0.0");
    await host.runStep(
      "stage",
      {
        profile: "demo",
        targetVersion: "2.0.0",
        artifactUrl: artifact.url,
        artifactSha256: artifact.sha256,
        rolloutId: "r-ss",
      },
      { profileDir: stopStartProfiles },
    );
    expect(existsSync(host.path(".agent-rollout", "socket-holder"))).toBe(false);

    // Act
    const { code, result } = await host.runStep(
      "switch",
      { profile: "demo", targetVersion: "2.0.0", rolloutId: "r-ss" },
      { profileDir: stopStartProfiles },
    );

    // Assess
    expect(code).toBe(0);
    expect(result).toMatchObject({ status: "SWITCHED", switchMode: "stop-start" });
    const gap = result.listenerGapMs as number;
    expect(gap).toBeGreaterThan(0);
    expect(result.suspendMs as number).toBeGreaterThanOrEqual(gap);
    // The probe connects every 2 ms: a port closed for the gap refuses it.
    expect(result.refused as number).toBeGreaterThan(0);
    expect(result.unservedMs as number).toBeGreaterThan(0);
    expect(result.unservedMs as number).toBeLessThanOrEqual(gap + 50);
    expect(await host.health()).toEqual({ status: 200, version: "2.0.0" });
  });

  it("points the previous link at the old release with the flip, before configure", async () => {
    // Prepare: a configure hook that records where both links point when it runs.
    const profiles = mkdtempSync(join(suite.work, "profiles-links-"));
    deriveProfile(profiles, "demo", {
      "hook.configure":
        'printf "%s %s\\n" "$(readlink current)" "$(readlink previous)" >links-at-configure && "$AR_RELEASE/bin/agentctl" configure',
    });
    const host = await newHost();
    await stage(host, "2.0.0");
    expect(host.link("previous")).toBeNull();

    // Act
    const { code, result } = await host.runStep(
      "switch",
      { profile: "demo", targetVersion: "2.0.0", rolloutId: "r-links" },
      { profileDir: profiles },
    );

    // Assess
    expect([code, result.status]).toEqual([0, "SWITCHED"]);
    expect(readFileSync(host.path("links-at-configure"), "utf8")).toBe(
      "releases/2.0.0 releases/1.0.0\n",
    );
    expect(host.link("previous")).toBe("releases/1.0.0");
  });

  it("restarts the old listener when the link cannot be flipped; a rerun finds it serving", async () => {
    // Prepare: stop-start (the old listener stops before the flip), and an install root
    // in which no link can be created: immutable for root, read-only for anyone else.
    const host = await suite.newHost({ profileDir: stopStartProfiles });
    const artifact = suite.artifacts["2.0.0"];
    if (!artifact) throw new Error("2.0.0");
    const params = { profile: "demo", targetVersion: "2.0.0", rolloutId: "r-ro" };
    await host.runStep(
      "stage",
      { ...params, artifactUrl: artifact.url, artifactSha256: artifact.sha256 },
      { profileDir: stopStartProfiles },
    );
    const readOnly = (on: boolean) => {
      if (process.getuid?.() === 0) execFileSync("chattr", [on ? "+i" : "-i", host.agentRoot]);
      else chmodSync(host.agentRoot, on ? 0o555 : 0o755);
    };
    readOnly(true);
    try {
      // Act
      const first = await host.runStep("switch", params, { profileDir: stopStartProfiles });
      const firstHealth = await host.health().catch(() => "down");
      const rerun = await host.runStep("switch", params, { profileDir: stopStartProfiles });

      // Assess
      for (const { code, result } of [first, rerun]) {
        expect([code, result.status, result.currentVersion]).toEqual([3, "ROLLED_BACK", "1.0.0"]);
        expect(result.reason).toMatch(/^cannot point current at releases\/2\.0\.0/);
      }
      expect(firstHealth).toEqual({ status: 200, version: "1.0.0" });
      expect(await host.health()).toEqual({ status: 200, version: "1.0.0" });
      expect(host.link("current")).toBe("releases/1.0.0");
      expect(existsSync(host.path(".agent-rollout", "cutover"))).toBe(false);
    } finally {
      readOnly(false);
    }

    // Act: once the directory is writable again, the switch goes through.
    const { result } = await host.runStep("switch", params, { profileDir: stopStartProfiles });

    // Assess
    expect(result.status).toBe("SWITCHED");
    expect(await host.health()).toEqual({ status: 200, version: "2.0.0" });
  });

  it("replays chatty hooks after the suspend window, capped, so they do not stretch it", async () => {
    // Prepare: the same switch with quiet hooks and with hooks printing megabytes.
    const noise = (hook: string) =>
      `yes "hook noise, line after line" | head -n 150000 >&2; ${hook}`;
    const chatty = mkdtempSync(join(suite.work, "profiles-chatty-"));
    deriveProfile(chatty, "demo", {
      "hook.suspend": noise("current/bin/agentctl suspend"),
      "hook.configure": noise('"$AR_RELEASE/bin/agentctl" configure'),
      "hook.startListener": noise('"$AR_RELEASE/bin/agentctl" start'),
      "hook.resume": noise("current/bin/agentctl resume"),
    });
    const switchWith = async (profileDir: string | undefined) => {
      const host = await newHost();
      await stage(host, "2.0.0");
      return host.runStep(
        "switch",
        { profile: "demo", targetVersion: "2.0.0", rolloutId: "r-noise" },
        { profileDir },
      );
    };

    // Act
    const quiet = await switchWith(undefined);
    const loud = await switchWith(chatty);

    // Assess
    expect([quiet.result.status, loud.result.status]).toEqual(["SWITCHED", "SWITCHED"]);
    const quietMs = quiet.result.suspendMs as number;
    const loudMs = loud.result.suspendMs as number;
    // 4 hooks x 4.2 MB: replayed line by line inside the window, that took seconds.
    expect(loudMs, `quiet ${quietMs} ms, chatty ${loudMs} ms`).toBeLessThan(quietMs * 3);
    for (const hook of ["suspend", "configure", "startListener", "resume"]) {
      expect(loud.stderr).toMatch(
        new RegExp(`hook\\.${hook}: \\[4183616 bytes of output cut; the last 16384 follow\\]`),
      );
    }
    expect(loud.stderr.length).toBeLessThan(300_000);
  });

  it("ends the suspend window when hook.available passes, not when resume returns", async () => {
    // Prepare: the scheduler takes work again 500 ms after the resume hook returned.
    const profiles = mkdtempSync(join(suite.work, "profiles-available-"));
    deriveProfile(profiles, "demo", {
      "hook.suspend": "date +%s%3N >suspended-at && current/bin/agentctl suspend",
      "hook.resume": "current/bin/agentctl resume && date +%s%3N >resumed-at",
      "hook.available": "(( $(date +%s%3N) - $(cat resumed-at) >= 500 ))",
    });
    const host = await newHost();
    await stage(host, "2.0.0");

    // Act
    const { code, result } = await host.runStep(
      "switch",
      { profile: "demo", targetVersion: "2.0.0", rolloutId: "r-available" },
      { profileDir: profiles },
    );

    // Assess
    expect([code, result.status]).toEqual([0, "SWITCHED"]);
    const at = (file: string) => Number(readFileSync(host.path(file), "utf8"));
    const unavailableMs = at("resumed-at") + 500 - at("suspended-at");
    expect(result.suspendMs as number).toBeGreaterThanOrEqual(unavailableMs);
    expect(result.suspendMs as number).toBeLessThan(unavailableMs + 1000);
  });

  it("fails a switch whose agent is not available again in time, resumed once", async () => {
    // Prepare
    const profiles = mkdtempSync(join(suite.work, "profiles-unavailable-"));
    deriveProfile(profiles, "demo", {
      "hook.available": "echo 'agent still Discovering' >&2; false",
      available_timeout_s: "1",
    });
    const host = await newHost();
    await stage(host, "2.0.0");

    // Act
    const { code, result } = await host.runStep(
      "switch",
      { profile: "demo", targetVersion: "2.0.0", rolloutId: "r-unavailable" },
      { profileDir: profiles },
    );

    // Assess
    expect(code).toBe(1);
    expect(result.error).toBe(
      "agent on 2.0.0 (cutover: ok) but resume failed: 2.0.0 not available to the scheduler again after 1s (hook.available exited 1: agent still Discovering)",
    );
    expect(host.scheduler.calls).toEqual(["suspend", "resume"]);
    expect(existsSync(host.path(".agent-rollout", "suspended"))).toBe(false);
    expect(await host.health()).toEqual({ status: 200, version: "2.0.0" });
  });

  it("declares an empty snapshot and no suspend window for hooks declared none", async () => {
    // Prepare: a jobless daemon's profile.
    const jobless = join(suite.work, "profiles-jobless");
    mkdirSync(jobless);
    deriveProfile(jobless, "demo", {
      "hook.suspend": "none",
      "hook.resume": "none",
      "hook.listJobs": "none",
    });
    const host = await newHost();
    await stage(host, "2.0.0");
    expect((await host.submitJob("not-listed", 2, 0)).status).toBe(202);

    // Act
    const { code, result } = await host.runStep(
      "switch",
      { profile: "demo", targetVersion: "2.0.0", rolloutId: "r-jobless" },
      { profileDir: jobless },
    );

    // Assess
    expect(code).toBe(0);
    expect(result).toMatchObject({ status: "SWITCHED", suspendMs: null, switchMode: "overlap" });
    const snapshot = host.path(".agent-rollout", "snapshots", "r-jobless.jobs");
    expect(readFileSync(snapshot, "utf8")).toBe("");
    expect(result.jobs).toEqual({
      count: 0,
      sha256: sha256File(snapshot),
      items: [],
      declaredNone: true,
    });
    expect(host.scheduler.calls).toEqual([]);
  });

  it("refuses a profile that declares only one of suspend and resume none", async () => {
    // Prepare
    const half = join(suite.work, "profiles-half");
    mkdirSync(half);
    deriveProfile(half, "demo", { "hook.suspend": "none" });
    const host = await newHost();
    await stage(host, "2.0.0");

    // Act
    const { code, result } = await host.runStep(
      "switch",
      { profile: "demo", targetVersion: "2.0.0", rolloutId: "r-half" },
      { profileDir: half },
    );

    // Assess
    expect(code).toBe(1);
    expect(result.error).toBe(
      "profile demo: hook.suspend and hook.resume are none together or not at all",
    );
    expect(host.link("current")).toBe("releases/1.0.0");
  });

  it("rolls back by itself when the new release is unhealthy; jobs are unharmed", async () => {
    // Prepare
    const host = await newHost();
    await stage(host, "3.0.0-bad");
    expect((await host.submitJob("survivor", 3, 5)).status).toBe(202);
    const oldListener = host.listenerPid();

    // Act
    const { code, result } = await host.runStep(
      "switch",
      { profile: "demo", targetVersion: "3.0.0-bad", rolloutId: "r-bad" },
      { profileDir: fastProfiles },
    );

    // Assess
    expect(code).toBe(3);
    expect(result).toMatchObject({
      status: "ROLLED_BACK",
      fromVersion: "1.0.0",
      toVersion: "3.0.0-bad",
      currentVersion: "1.0.0",
    });
    expect(result.reason).toMatch(
      /^health check of 3\.0\.0-bad still failing after 2s \(hook\.health exited 1: agentctl: \/health answered 500\)$/,
    );
    expect(result).toMatchObject({ switchMode: "overlap", listenerGapMs: 0, refused: 0 });
    expect(result.healthMs as number).toBeGreaterThanOrEqual(2000);
    expect(host.link("current")).toBe("releases/1.0.0");
    expect(host.link("previous")).toBeNull();
    expect(await host.health()).toEqual({ status: 200, version: "1.0.0" });
    // The old listener never stopped.
    expect(host.listenerPid()).toBe(oldListener);
    expect(host.scheduler.calls).toEqual(["suspend", "resume"]);
    expect(existsSync(host.path(".agent-rollout", "suspended"))).toBe(false);
    const [done] = await host.waitForJobs(["survivor"]);
    expect(done).toMatchObject({ exitCode: 5, version: "1.0.0" });
  });

  it("is UNCHANGED on a host already on the target and touches nothing", async () => {
    // Prepare
    const host = await newHost();
    await stage(host, "2.0.0");
    const first = await host.runStep("switch", {
      profile: "demo",
      targetVersion: "2.0.0",
      rolloutId: "r-1",
    });
    expect(first.result.status).toBe("SWITCHED");
    const tree = host.tree();
    const listener = host.listenerPid();
    const calls = [...host.scheduler.calls];

    // Act
    const { code, result } = await host.runStep("switch", {
      profile: "demo",
      targetVersion: "2.0.0",
      rolloutId: "r-2",
    });

    // Assess
    expect(code).toBe(0);
    expect(result).toEqual({
      step: "switch",
      status: "UNCHANGED",
      fromVersion: "2.0.0",
      toVersion: "2.0.0",
      currentVersion: "2.0.0",
      oldRelease: null,
      switchMode: null,
      suspendMs: null,
      listenerGapMs: null,
      unservedMs: null,
      refused: null,
      healthMs: null,
      configureReport: null,
      jobs: { count: 0, sha256: null, items: [] },
    });
    expect(host.tree()).toEqual(tree);
    expect(host.listenerPid()).toBe(listener);
    expect(host.scheduler.calls).toEqual(calls);
  });

  it("serialises a duplicated command; the second reports the work of the first", async () => {
    // Prepare
    const host = await newHost();
    await stage(host, "2.0.0");
    expect((await host.submitJob("dup-job", 2, 0)).status).toBe(202);
    const params = { profile: "demo", targetVersion: "2.0.0", rolloutId: "r-dup" };

    // Act
    const [a, b] = await Promise.all([
      host.startStep("switch", params),
      host.startStep("switch", params),
    ]);

    // Assess
    const results = [parseStep(a), parseStep(b)].sort((x, y) =>
      String(x.result.status).localeCompare(String(y.result.status)),
    );
    const [switched, unchanged] = results;
    expect(results.map((r) => [r.code, r.result.status])).toEqual([
      [0, "SWITCHED"],
      [0, "UNCHANGED"],
    ]);
    expect(unchanged?.stderr).toContain("waiting for the host lock held by:");
    expect(unchanged?.result.jobs).toEqual(switched?.result.jobs);
    expect(unchanged?.result).toMatchObject({
      fromVersion: "1.0.0",
      oldRelease: host.path("releases", "1.0.0"),
      currentVersion: "2.0.0",
    });
    expect(switched?.result.jobs).toMatchObject({ count: 1 });
    expect(host.scheduler.calls).toEqual(["suspend", "resume"]);
  });

  it("reports a 3,000-job snapshot in full, beyond SSM's 24,000-character output", async () => {
    // Prepare: a profile whose listJobs lists 3,000 jobs of a few live processes.
    const host = await newHost();
    await stage(host, "2.0.0");
    const sleepers = [host.spawnSleeper(), host.spawnSleeper(), host.spawnSleeper()];
    const lines = Array.from(
      { length: 3000 },
      (_, i) => `job-${String(i).padStart(5, "0")} ${sleepers[i % 3]}`,
    );
    writeFileSync(host.path("fake-jobs"), `${lines.join("\n")}\n`);
    const profiles = mkdtempSync(join(suite.work, "profiles-many-"));
    deriveProfile(profiles, "demo", { "hook.listJobs": "cat fake-jobs" });

    // Act
    const { code, result, stdout } = await host.runStep(
      "switch",
      { profile: "demo", targetVersion: "2.0.0", rolloutId: "r-many" },
      { profileDir: profiles },
    );

    // Assess
    expect(code).toBe(0);
    expect(result.status).toBe("SWITCHED");
    expect(stdout.length).toBeGreaterThan(24_000);
    const snapshot = host.path(".agent-rollout", "snapshots", "r-many.jobs");
    const jobs = result.jobs as {
      count: number;
      sha256: string;
      items: [string, number, number][];
    };
    expect(jobs.count).toBe(3000);
    expect(jobs.sha256).toBe(sha256File(snapshot));
    expect(jobs.items).toHaveLength(3000);
    const ticks = sleepers.map((pid) => Number(startTicks(pid)));
    expect(jobs.items[0]).toEqual(["job-00000", sleepers[0], ticks[0]]);
    expect(jobs.items[2999]).toEqual(["job-02999", sleepers[2], ticks[2]]);
    const fileLines = readFileSync(snapshot, "utf8").trimEnd().split("\n");
    expect(fileLines).toHaveLength(3000);
    expect(fileLines[1]).toBe(`job-00001 ${sleepers[1]} ${ticks[1]}`);
  });

  it("lists a job id that is not UTF-8 with its bytes escaped, so the functions hash what the host hashed", async () => {
    // Prepare: a job id with the byte 0xff (never valid in UTF-8) and a valid "é".
    const host = await newHost();
    await stage(host, "2.0.0");
    const pid = host.spawnSleeper();
    const profiles = mkdtempSync(join(suite.work, "profiles-bytes-"));
    deriveProfile(profiles, "demo", {
      "hook.listJobs": `printf 'job-\\377 %s\\ncaf\\303\\251 %s\\n' ${pid} ${pid}`,
    });

    // Act: the harness reads stdout as UTF-8, as SSM and the functions do, and checks
    // the integrity line against what it decoded.
    const { code, result } = await host.runStep(
      "switch",
      { profile: "demo", targetVersion: "2.0.0", rolloutId: "r-bytes" },
      { profileDir: profiles },
    );

    // Assess
    expect(code).toBe(0);
    const jobs = result.jobs as { count: number; sha256: string; items: JobEntry[] };
    const ticks = Number(startTicks(pid));
    expect(jobs.items).toEqual([
      ["job-\\xff", pid, ticks],
      ["café", pid, ticks],
    ]);
    const snapshot = host.path(".agent-rollout", "snapshots", "r-bytes.jobs");
    expect(jobs.sha256).toBe(sha256File(snapshot));
    expect(() => verifyJobSnapshot(jobs)).not.toThrow();
    expect(readFileSync(snapshot, "latin1")).toBe(
      `job-\\xff ${pid} ${ticks}\ncaf\xc3\xa9 ${pid} ${ticks}\n`,
    );
  });

  it("resumes an agent left suspended by an interrupted run before anything else", async () => {
    // Prepare
    const host = await newHost();
    await stage(host, "2.0.0");
    await host.runStep("switch", { profile: "demo", targetVersion: "2.0.0", rolloutId: "r-a" });
    writeFileSync(host.path(".agent-rollout", "suspended"), "switch r-killed\n");
    host.scheduler.calls.length = 0;

    // Act
    const { code, result, stderr } = await host.runStep("switch", {
      profile: "demo",
      targetVersion: "2.0.0",
      rolloutId: "r-a",
    });

    // Assess
    expect([code, result.status]).toEqual([0, "UNCHANGED"]);
    expect(stderr).toContain(
      "agent left suspended by an interrupted run (switch r-killed): resuming it first",
    );
    expect(host.scheduler.calls).toEqual(["resume"]);
    expect(existsSync(host.path(".agent-rollout", "suspended"))).toBe(false);
  });

  it("records a switch whose resume fails; the repeat resumes the agent and reports that switch", async () => {
    // Prepare: a resume hook that fails while resume-fails exists.
    const host = await newHost();
    await stage(host, "2.0.0");
    const profiles = mkdtempSync(join(suite.work, "profiles-resume-"));
    deriveProfile(profiles, "demo", {
      "hook.resume":
        'if [ -e resume-fails ]; then echo "scheduler unreachable" >&2; exit 1; fi; current/bin/agentctl resume',
    });
    writeFileSync(host.path("resume-fails"), "");
    expect((await host.submitJob("held", 2, 0)).status).toBe(202);
    const params = { profile: "demo", targetVersion: "2.0.0", rolloutId: "r-resume" };

    // Act
    const failed = await host.runStep("switch", params, { profileDir: profiles });
    rmSync(host.path("resume-fails"));
    host.scheduler.calls.length = 0;
    const repeated = await host.runStep("switch", params, { profileDir: profiles });

    // Assess
    expect(failed.code).toBe(1);
    expect(failed.result.error).toBe(
      "agent on 2.0.0 (cutover: ok) but left suspended, resume failed: hook.resume exited 1: scheduler unreachable; the next switch or rollback resumes it",
    );
    expect(repeated.code).toBe(0);
    expect(repeated.stderr).toContain(
      "agent left suspended by an interrupted run (switch r-resume)",
    );
    const snapshot = host.path(".agent-rollout", "snapshots", "r-resume.jobs");
    expect(repeated.result).toMatchObject({
      status: "UNCHANGED",
      fromVersion: "1.0.0",
      currentVersion: "2.0.0",
      oldRelease: host.path("releases", "1.0.0"),
      jobs: {
        count: 1,
        sha256: sha256File(snapshot),
        items: [["held", host.jobPid("held"), expect.any(Number)]],
      },
    });
    expect(host.scheduler.calls).toEqual(["resume"]);
    expect(existsSync(host.path(".agent-rollout", "suspended"))).toBe(false);
    expect(await host.health()).toEqual({ status: 200, version: "2.0.0" });
  });

  it("makes the next rollout's switch report and take over a switch that left the agent suspended", async () => {
    // Prepare: r-first's switch serves 2.0.0 but cannot resume; the rollout is over.
    const host = await newHost();
    await stage(host, "2.0.0");
    const profiles = mkdtempSync(join(suite.work, "profiles-resume-"));
    deriveProfile(profiles, "demo", {
      "hook.resume":
        'if [ -e resume-fails ]; then echo "scheduler unreachable" >&2; exit 1; fi; current/bin/agentctl resume',
    });
    writeFileSync(host.path("resume-fails"), "");
    expect((await host.submitJob("held", 2, 0)).status).toBe(202);
    const failed = await host.runStep(
      "switch",
      { profile: "demo", targetVersion: "2.0.0", rolloutId: "r-first" },
      { profileDir: profiles },
    );
    expect(failed.code).toBe(1);
    rmSync(host.path("resume-fails"));
    const snapshots = host.path(".agent-rollout", "snapshots");
    const jobsFile = readFileSync(join(snapshots, "r-first.jobs"), "utf8");

    // Act: the next rollout (another id) switches the host.
    const { code, result, stderr } = await host.runStep(
      "switch",
      { profile: "demo", targetVersion: "2.0.0", rolloutId: "r-next" },
      { profileDir: profiles },
    );

    // Assess
    expect(code).toBe(0);
    expect(stderr).toContain("taking over the switch of rollout r-first");
    expect(result).toMatchObject({
      status: "UNCHANGED",
      fromVersion: "1.0.0",
      oldRelease: host.path("releases", "1.0.0"),
      jobs: { count: 1, sha256: sha256File(join(snapshots, "r-next.jobs")) },
    });
    expect(readFileSync(join(snapshots, "r-next.jobs"), "utf8")).toBe(jobsFile);
    expect(existsSync(join(snapshots, "r-first.jobs"))).toBe(false);
    expect(existsSync(join(snapshots, "r-first.switch"))).toBe(false);
    expect(existsSync(host.path(".agent-rollout", "suspended"))).toBe(false);
  });

  it("lists a finished switch whose result never arrived, and the switch named to adopt it reports it", async () => {
    // Prepare: r-lost's switch finished on the host; its run ended before reading it.
    const host = await newHost();
    await stage(host, "2.0.0");
    expect((await host.submitJob("held", 3, 0)).status).toBe(202);
    const lost = await host.runStep("switch", {
      profile: "demo",
      targetVersion: "2.0.0",
      rolloutId: "r-lost",
    });
    expect(lost.result.status).toBe("SWITCHED");
    const snapshots = host.path(".agent-rollout", "snapshots");
    const jobsFile = readFileSync(join(snapshots, "r-lost.jobs"), "utf8");
    const next = { profile: "demo", targetVersion: "2.0.0", rolloutId: "r-next" };

    // Act
    const preflight = await host.runStep("preflight", next, { via: "document" });
    const plain = await host.runStep("switch", next);
    const adopted = await host.runStep(
      "switch",
      { ...next, adoptRolloutId: "r-lost" },
      { via: "document" },
    );
    const again = await host.runStep("switch", { ...next, adoptRolloutId: "r-lost" });

    // Assess: listed; left alone unless named; once named, r-next reports it, and again.
    expect(preflight.result).toMatchObject({ status: "SKIPPED", switchRecords: ["r-lost"] });
    expect(plain.result).toMatchObject({ status: "UNCHANGED", oldRelease: null });
    expect(adopted.code).toBe(0);
    expect(adopted.stderr).toContain(
      "taking over the switch of rollout r-lost, whose result never reached the ledger",
    );
    const taken = {
      status: "UNCHANGED",
      fromVersion: "1.0.0",
      currentVersion: "2.0.0",
      oldRelease: host.path("releases", "1.0.0"),
      jobs: { count: 1, sha256: sha256File(join(snapshots, "r-next.jobs")) },
    };
    expect(adopted.result).toMatchObject(taken);
    expect(again.result).toMatchObject(taken);
    expect(readFileSync(join(snapshots, "r-next.jobs"), "utf8")).toBe(jobsFile);
    expect(existsSync(join(snapshots, "r-lost.switch"))).toBe(false);
    expect(existsSync(join(snapshots, "r-lost.jobs"))).toBe(false);
    const listed = await host.runStep("preflight", { ...next, rolloutId: "r-third" });
    expect(listed.result).toMatchObject({ status: "SKIPPED", switchRecords: ["r-next"] });
  });

  it("refuses a release that was not staged, without suspending", async () => {
    const host = await newHost();
    const { code, result } = await host.runStep("switch", {
      profile: "demo",
      targetVersion: "2.0.0",
      rolloutId: "r-unstaged",
    });
    expect(code).toBe(1);
    expect(result).toEqual({
      step: "switch",
      status: "FAILED",
      error: `release 2.0.0 is not staged (${host.path("releases", "2.0.0")}): run stage first`,
    });
    expect(host.scheduler.calls).toEqual([]);
  });
});

describe("rollback", () => {
  it("returns to the previous release, then has nothing left to do", async () => {
    // Prepare
    const host = await newHost();
    await stage(host, "2.0.0");
    await host.runStep("switch", { profile: "demo", targetVersion: "2.0.0", rolloutId: "r-rb" });
    expect((await host.submitJob("during-rollback", 2, 4)).status).toBe(202);
    host.scheduler.calls.length = 0;

    // Act
    const first = await host.runStep(
      "rollback",
      { profile: "demo", rolloutId: "r-rb" },
      { via: "document" },
    );
    const second = await host.runStep("rollback", { profile: "demo", rolloutId: "r-rb" });

    // Assess
    expect(first.code).toBe(0);
    expect(first.result).toMatchObject({
      step: "rollback",
      status: "ROLLED_BACK",
      fromVersion: "2.0.0",
      toVersion: "1.0.0",
      currentVersion: "1.0.0",
    });
    expect(first.result).toMatchObject({ switchMode: "overlap", listenerGapMs: 0, refused: 0 });
    expect(host.link("current")).toBe("releases/1.0.0");
    expect(host.link("previous")).toBeNull();
    expect(await host.health()).toEqual({ status: 200, version: "1.0.0" });
    expect(second.code).toBe(0);
    expect(second.result).toEqual({
      step: "rollback",
      status: "UNCHANGED",
      fromVersion: "1.0.0",
      toVersion: "1.0.0",
      currentVersion: "1.0.0",
      switchMode: null,
      suspendMs: null,
      listenerGapMs: null,
      unservedMs: null,
      refused: null,
      oldRelease: null,
      jobs: { count: 0, sha256: null, items: [] },
      reason: "no previous release to go back to",
    });
    expect(host.scheduler.calls).toEqual(["suspend", "resume"]);
    const [done] = await host.waitForJobs(["during-rollback"]);
    expect(done).toMatchObject({ exitCode: 4, version: "2.0.0" });
  });

  const expecting = (rolloutId: string, fromVersion: string, toVersion: string) => ({
    profile: "demo",
    rolloutId,
    fromVersion,
    toVersion,
  });

  it("with expected versions, snapshots the jobs it leaves running; cleanup deletes the release left once they end", async () => {
    // Prepare
    const host = await newHost();
    await stage(host, "2.0.0");
    await host.runStep("switch", { profile: "demo", targetVersion: "2.0.0", rolloutId: "r-up" });
    expect((await host.submitJob("on-two", 2, 0)).status).toBe(202);
    const pid = host.jobPid("on-two");

    // Act
    const first = await host.runStep("rollback", expecting("r-back", "2.0.0", "1.0.0"), {
      via: "document",
    });
    const snapshotSha = sha256File(host.path(".agent-rollout/snapshots/r-back.jobs"));
    const record = readFileSync(host.path(".agent-rollout/snapshots/r-back.switch"), "utf8");
    const repeat = await host.runStep("rollback", expecting("r-back", "2.0.0", "1.0.0"));
    const cleanup = (sha: string) =>
      host.runStep("cleanup", {
        profile: "demo",
        releaseVersion: "2.0.0",
        rolloutId: "r-back",
        snapshotSha256: sha,
      });
    const sha = String((first.result.jobs as { sha256: string }).sha256);
    const kept = await cleanup(sha);
    await host.waitForJobs(["on-two"]);
    const deleted = await cleanup(sha);

    // Assess
    expect(first.code).toBe(0);
    expect(first.result).toMatchObject({
      status: "ROLLED_BACK",
      fromVersion: "2.0.0",
      toVersion: "1.0.0",
      currentVersion: "1.0.0",
      oldRelease: host.path("releases/2.0.0"),
      jobs: { count: 1, items: [["on-two", pid, Number(startTicks(pid))]] },
    });
    expect(sha).toBe(snapshotSha);
    expect(record).toBe(
      `toVersion=1.0.0\nfromVersion=2.0.0\noldRelease=${host.path("releases/2.0.0")}\njobsSha256=${snapshotSha}\n`,
    );
    expect(repeat.result).toMatchObject({
      status: "UNCHANGED",
      fromVersion: "2.0.0",
      currentVersion: "1.0.0",
      oldRelease: host.path("releases/2.0.0"),
      jobs: { count: 1, sha256: sha },
      reason: "already on 1.0.0",
    });
    expect(kept.result).toMatchObject({ status: "KEPT", alive: 1 });
    expect(deleted.result).toMatchObject({ status: "DELETED" });
    expect(existsSync(host.path("releases/2.0.0"))).toBe(false);
    expect(host.link("current")).toBe("releases/1.0.0");
  });

  it("with expected versions, leaves alone a host whose previous release was cleaned or that runs another version", async () => {
    // Prepare
    const host = await newHost();
    await stage(host, "2.0.0");
    await host.runStep("switch", { profile: "demo", targetVersion: "2.0.0", rolloutId: "r-up2" });
    host.scheduler.calls.length = 0;

    // Act
    const otherVersion = await host.runStep("rollback", expecting("r-b1", "3.0.0", "1.0.0"));
    const otherPrevious = await host.runStep("rollback", expecting("r-b2", "2.0.0", "0.9.0"));
    rmSync(host.path("releases/1.0.0"), { recursive: true });
    const cleaned = await host.runStep("rollback", expecting("r-b3", "2.0.0", "1.0.0"));
    const halfGiven = await host.runStep("rollback", {
      ...expecting("r-b4", "2.0.0", "1.0.0"),
      toVersion: "",
    });

    // Assess
    expect(otherVersion.result).toMatchObject({
      status: "SKIPPED",
      currentVersion: "2.0.0",
      reason: "runs 2.0.0, not 3.0.0: left alone",
    });
    expect(otherPrevious.result).toMatchObject({
      status: "SKIPPED",
      reason: "the previous release is 1.0.0, not 0.9.0: left alone",
    });
    expect(cleaned.code).toBe(0);
    expect(cleaned.result).toMatchObject({
      status: "SKIPPED",
      currentVersion: "2.0.0",
      reason: `previous release ${host.path("releases/1.0.0")} is gone (already cleaned): left alone`,
    });
    expect(halfGiven.code).toBe(2);
    expect(host.scheduler.calls).toEqual([]);
    expect(host.link("current")).toBe("releases/2.0.0");
    expect(await host.health()).toEqual({ status: 200, version: "2.0.0" });
  });
});
