import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { deriveProfile, hostSuite, sha256File, type TestHost } from "./harness.js";

const suite = hostSuite("ar-cleanup-test-", [
  { version: "1.0.0" },
  { version: "2.0.0" },
  { version: "3.0.0-bad", badHealth: true },
]);
/** demo with a 2 s health timeout: a switch to 3.0.0-bad rolls back quickly. */
let fastProfiles: string;
/** sha256 of the empty snapshot, the one the ledger holds for an abandoned release. */
const EMPTY_SHA = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

beforeAll(() => {
  fastProfiles = join(suite.work, "profiles-fast");
  mkdirSync(fastProfiles);
  deriveProfile(fastProfiles, "demo", { health_timeout_s: "2" });
});

/** Stages `version` on the host under rollout `rolloutId`; returns the result status. */
async function stage(host: TestHost, version: string, rolloutId: string): Promise<unknown> {
  const a = suite.artifacts[version];
  if (!a) throw new Error(`no ${version}`);
  const { result } = await host.runStep("stage", {
    profile: "demo",
    targetVersion: version,
    artifactUrl: a.url,
    artifactSha256: a.sha256,
    rolloutId,
  });
  return result.status;
}

/** A host whose switch to 3.0.0-bad (rollout r-bad) rolled back while job "busy" ran. */
async function rolledBackHost(): Promise<TestHost> {
  const host = await suite.newHost();
  expect(await stage(host, "3.0.0-bad", "r-bad")).toBe("STAGED");
  expect((await host.submitJob("busy", 30)).status).toBe(202);
  const { code, result } = await host.runStep(
    "switch",
    { profile: "demo", targetVersion: "3.0.0-bad", rolloutId: "r-bad" },
    { profileDir: fastProfiles },
  );
  expect([code, result.status]).toEqual([3, "ROLLED_BACK"]);
  expect(result.abandonedRelease).toBe(host.path("releases", "3.0.0-bad"));
  return host;
}

/** A host switched from 1.0.0 to 2.0.0 (rollout r-c) while the given jobs ran. */
async function switchedHost(
  jobs: readonly [string, number][],
): Promise<{ host: TestHost; snapshot: string }> {
  const host = await suite.newHost();
  const a = suite.artifacts["2.0.0"];
  if (!a) throw new Error("no 2.0.0");
  await host.runStep("stage", {
    profile: "demo",
    targetVersion: "2.0.0",
    artifactUrl: a.url,
    artifactSha256: a.sha256,
    rolloutId: "r-c",
  });
  for (const [id, seconds] of jobs) expect((await host.submitJob(id, seconds)).status).toBe(202);
  const { result } = await host.runStep("switch", {
    profile: "demo",
    targetVersion: "2.0.0",
    rolloutId: "r-c",
  });
  expect(result.status).toBe("SWITCHED");
  return { host, snapshot: host.path(".agent-rollout", "snapshots", "r-c.jobs") };
}

function cleanupParams(version: string, sha: string): Record<string, string> {
  return { profile: "demo", releaseVersion: version, rolloutId: "r-c", snapshotSha256: sha };
}

describe("cleanup", () => {
  it("keeps the old release while a snapshotted job runs, deletes it after", async () => {
    // Prepare
    const { host, snapshot } = await switchedHost([["long", 2]]);
    const sha = sha256File(snapshot);

    // Act
    const kept = await host.runStep("cleanup", cleanupParams("1.0.0", sha), { via: "document" });
    await host.waitForJobs(["long"]);
    const deleted = await host.runStep("cleanup", cleanupParams("1.0.0", sha));
    const again = await host.runStep("cleanup", cleanupParams("1.0.0", sha));

    // Assess
    expect(kept.code).toBe(0);
    expect(kept.result).toEqual({
      step: "cleanup",
      status: "KEPT",
      release: host.path("releases", "1.0.0"),
      alive: 1,
      reason: `1 job(s) of the snapshot still running, e.g. long (pid ${host.jobPid("long")})`,
    });
    expect(deleted.code).toBe(0);
    expect(deleted.result).toEqual({
      step: "cleanup",
      status: "DELETED",
      release: host.path("releases", "1.0.0"),
      alive: 0,
    });
    expect(existsSync(host.path("releases", "1.0.0"))).toBe(false);
    expect(host.link("previous")).toBeNull();
    expect(host.link("current")).toBe("releases/2.0.0");
    expect(existsSync(snapshot)).toBe(false);
    expect(await host.health()).toEqual({ status: 200, version: "2.0.0" });
    expect(again.result).toEqual({
      step: "cleanup",
      status: "ALREADY_DELETED",
      release: host.path("releases", "1.0.0"),
      alive: 0,
    });
  });

  it("never deletes the current release", async () => {
    const { host, snapshot } = await switchedHost([]);

    const { code, result } = await host.runStep(
      "cleanup",
      cleanupParams("2.0.0", sha256File(snapshot)),
    );

    expect(code).toBe(0);
    expect(result).toEqual({
      step: "cleanup",
      status: "KEPT",
      release: host.path("releases", "2.0.0"),
      alive: 0,
      reason: `${host.path("releases", "2.0.0")} is the current release`,
    });
    expect(existsSync(host.path("releases", "2.0.0", "VERSION"))).toBe(true);
  });

  it("keeps the release when the snapshot is not the one recorded", async () => {
    const { host, snapshot } = await switchedHost([]);
    const other = "0".repeat(64);

    const { result } = await host.runStep("cleanup", cleanupParams("1.0.0", other));

    expect(result).toEqual({
      step: "cleanup",
      status: "KEPT",
      release: host.path("releases", "1.0.0"),
      alive: 0,
      reason: `snapshot ${snapshot} has sha256 ${sha256File(snapshot)}, expected ${other}`,
    });
    expect(existsSync(host.path("releases", "1.0.0"))).toBe(true);
  });

  it("deletes only the release its rollout's switch left, never one staged for a next switch", async () => {
    // Prepare: r-c switched 1.0.0 -> 2.0.0; 3.0.0-bad is staged and not switched to yet.
    const { host, snapshot } = await switchedHost([]);
    expect(await stage(host, "3.0.0-bad", "r-next")).toBe("STAGED");
    const record = host.path(".agent-rollout", "snapshots", "r-c.switch");

    // Act: a cleanup naming that release with r-c's rollout id and snapshot sha256.
    const { code, result } = await host.runStep(
      "cleanup",
      cleanupParams("3.0.0-bad", sha256File(snapshot)),
    );

    // Assess
    expect(code).toBe(0);
    expect(result).toEqual({
      step: "cleanup",
      status: "KEPT",
      release: host.path("releases", "3.0.0-bad"),
      alive: 0,
      reason: `rollout r-c's switch record ${record} does not name ${host.path("releases", "3.0.0-bad")} as the release it left`,
    });
    expect(existsSync(host.path("releases", "3.0.0-bad", "VERSION"))).toBe(true);
    expect(existsSync(host.path(".agent-rollout", "staged", "3.0.0-bad"))).toBe(true);
    expect(existsSync(snapshot)).toBe(true);
  });

  it("keeps the release when its rollout left no switch record", async () => {
    const { host, snapshot } = await switchedHost([]);
    const record = snapshot.replace(/\.jobs$/, ".switch");
    rmSync(record);

    const { result } = await host.runStep("cleanup", cleanupParams("1.0.0", sha256File(snapshot)));

    expect(result).toMatchObject({
      status: "KEPT",
      reason: `no switch record ${record} on this host`,
    });
    expect(existsSync(host.path("releases", "1.0.0"))).toBe(true);
  });

  it("keeps the release when its switch record names another snapshot", async () => {
    // Prepare: the snapshot file was replaced after the switch recorded its sha256.
    const { host, snapshot } = await switchedHost([]);
    const record = snapshot.replace(/\.jobs$/, ".switch");
    const recorded = /^jobsSha256=(.*)$/m.exec(readFileSync(record, "utf8"))?.[1];
    writeFileSync(snapshot, "other 1 1\n");

    // Act
    const { result } = await host.runStep("cleanup", cleanupParams("1.0.0", sha256File(snapshot)));

    // Assess
    expect(recorded).toMatch(/^[0-9a-f]{64}$/);
    expect(result).toMatchObject({
      status: "KEPT",
      reason: `rollout r-c's switch record ${record} has snapshot sha256 ${recorded}, expected ${sha256File(snapshot)}`,
    });
    expect(existsSync(host.path("releases", "1.0.0"))).toBe(true);
  });

  it("does not take a reused pid (same pid, other start time) for the recorded job", async () => {
    // Prepare: the recorded job's pid is alive, but the snapshot says it started at
    // another time: that process is not the job.
    const { host, snapshot } = await switchedHost([["reused", 30]]);
    const [id, pid, ticks] = readFileSync(snapshot, "utf8").trim().split(" ");
    expect([id, Number(pid)]).toEqual(["reused", host.jobPid("reused")]);
    writeFileSync(snapshot, `${id} ${pid} ${Number(ticks) + 1}\n`);
    const record = snapshot.replace(/\.jobs$/, ".switch");
    writeFileSync(
      record,
      readFileSync(record, "utf8").replace(
        /^jobsSha256=.*$/m,
        `jobsSha256=${sha256File(snapshot)}`,
      ),
    );

    // Act
    const { code, result } = await host.runStep(
      "cleanup",
      cleanupParams("1.0.0", sha256File(snapshot)),
    );

    // Assess
    expect(code).toBe(0);
    expect(result).toMatchObject({ status: "DELETED", alive: 0 });
    expect(host.jobDone("reused")).toBeUndefined();
    expect(existsSync(`/proc/${pid}`)).toBe(true);
  });

  it("deletes the target release a rolled-back switch abandoned, with its marker and snapshot files", async () => {
    // Prepare
    const host = await rolledBackHost();
    const snapshots = host.path(".agent-rollout", "snapshots");

    // Act: the ledger holds the empty snapshot for it (no job ran on it).
    const { code, result } = await host.runStep("cleanup", {
      profile: "demo",
      releaseVersion: "3.0.0-bad",
      rolloutId: "r-bad",
      snapshotSha256: EMPTY_SHA,
    });

    // Assess: the job that ran on 1.0.0 throughout does not matter here.
    expect(code).toBe(0);
    expect(result).toEqual({
      step: "cleanup",
      status: "DELETED",
      release: host.path("releases", "3.0.0-bad"),
      alive: 0,
    });
    expect(existsSync(host.path("releases", "3.0.0-bad"))).toBe(false);
    expect(existsSync(host.path(".agent-rollout", "staged", "3.0.0-bad"))).toBe(false);
    expect(existsSync(join(snapshots, "r-bad.jobs"))).toBe(false);
    expect(existsSync(join(snapshots, "r-bad.switch"))).toBe(false);
    expect(host.jobDone("busy")).toBeUndefined();
    expect(host.link("current")).toBe("releases/1.0.0");
    expect(await host.health()).toEqual({ status: 200, version: "1.0.0" });
  });

  it("keeps an abandoned release that a later stage claimed again", async () => {
    // Prepare: another rollout stages the same release again before the cleanup runs.
    const host = await rolledBackHost();
    await new Promise((r) => setTimeout(r, 50));
    expect(await stage(host, "3.0.0-bad", "r-retry")).toBe("ALREADY_STAGED");

    // Act
    const { result } = await host.runStep("cleanup", {
      profile: "demo",
      releaseVersion: "3.0.0-bad",
      rolloutId: "r-bad",
      snapshotSha256: EMPTY_SHA,
    });

    // Assess
    expect(result).toMatchObject({
      status: "KEPT",
      reason: `${host.path("releases", "3.0.0-bad")} was staged again after rollout r-bad abandoned it`,
    });
    expect(existsSync(host.path("releases", "3.0.0-bad", "VERSION"))).toBe(true);
  });

  it("keeps a release another rollout switched away from while that rollout's jobs run", async () => {
    // Prepare: r-c moved 1.0.0 -> 2.0.0; a rollout back to 1.0.0 (r-back) and forward
    // again (r-again) followed, and r-again's switch left a job running on 1.0.0.
    const { host, snapshot } = await switchedHost([]);
    const switchTo = async (version: string, rolloutId: string) => {
      const { result } = await host.runStep("switch", {
        profile: "demo",
        targetVersion: version,
        rolloutId,
      });
      expect(result).toMatchObject({ status: "SWITCHED", toVersion: version });
    };
    await switchTo("1.0.0", "r-back");
    expect((await host.submitJob("late", 3)).status).toBe(202);
    await switchTo("2.0.0", "r-again");
    const sha = sha256File(snapshot);

    // Act: r-c's cleanup of 1.0.0 (its own snapshot has no job left), before and after.
    const kept = await host.runStep("cleanup", cleanupParams("1.0.0", sha));
    await host.waitForJobs(["late"]);
    const deleted = await host.runStep("cleanup", cleanupParams("1.0.0", sha));
    const laterOne = await host.runStep("cleanup", {
      profile: "demo",
      releaseVersion: "1.0.0",
      rolloutId: "r-again",
      snapshotSha256: sha256File(host.path(".agent-rollout", "snapshots", "r-again.jobs")),
    });

    // Assess
    expect(kept.result).toEqual({
      step: "cleanup",
      status: "KEPT",
      release: host.path("releases", "1.0.0"),
      alive: 1,
      reason: `1 job(s) of rollout r-again's snapshot still running on it, e.g. late (pid ${host.jobPid("late")})`,
    });
    expect(deleted.result).toMatchObject({ status: "DELETED" });
    expect(existsSync(host.path("releases", "1.0.0"))).toBe(false);
    // The other rollout's cleanup then finds it gone, and its snapshot goes too.
    expect(laterOne.result).toMatchObject({ status: "ALREADY_DELETED" });
    expect(existsSync(host.path(".agent-rollout", "snapshots", "r-again.jobs"))).toBe(false);
    expect(await host.health()).toEqual({ status: 200, version: "2.0.0" });
  });
});
