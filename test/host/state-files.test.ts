/**
 * The host's state directory ($AR_STATE): the steps run as root, so a symlink planted
 * there must never make them write elsewhere, and a marker must say what it claims.
 */
import {
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  renameSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { type Artifact, hostSuite, type TestHost } from "./harness.js";

const suite = hostSuite("ar-state-files-test-");

const state = (host: TestHost, ...parts: string[]) => host.path(".agent-rollout", ...parts);

/** A file outside the state directory that a planted symlink points at. */
function victim(host: TestHost, name: string): string {
  const file = join(host.root, `victim-${name}`);
  writeFileSync(file, "untouched\n");
  return file;
}

async function stage(host: TestHost, version: string, rolloutId: string) {
  const a = suite.artifacts[version] as Artifact;
  return host.runStep("stage", {
    profile: "demo",
    targetVersion: version,
    artifactUrl: a.url,
    artifactSha256: a.sha256,
    rolloutId,
  });
}

describe("state files", () => {
  it("are never written through a symlink planted in the state directory", async () => {
    // Prepare: symlinks where stage and switch write their markers, snapshot and record
    // (and where the earlier code wrote its temporary copies).
    const host = await suite.newHost();
    mkdirSync(state(host, "snapshots"), { recursive: true });
    const planted: Record<string, string> = {};
    for (const path of [
      ["staged", "2.0.0"],
      ["staged", "2.0.0.tmp"],
      ["snapshots", "r-s.jobs"],
      ["snapshots", "r-s.jobs.tmp"],
      ["snapshots", "r-s.switch"],
      ["snapshots", "r-s.switch.tmp"],
    ]) {
      const link = state(host, ...path);
      planted[link] = victim(host, path.join("-"));
      symlinkSync(planted[link], link);
    }
    expect((await host.submitJob("job", 30)).status).toBe(202);

    // Act
    const staged = await stage(host, "2.0.0", "r-s");
    const switched = await host.runStep("switch", {
      profile: "demo",
      targetVersion: "2.0.0",
      rolloutId: "r-s",
    });

    // Assess
    expect(staged.result.status).toBe("STAGED");
    expect(switched.result).toMatchObject({ status: "SWITCHED", jobs: { count: 1 } });
    for (const [link, file] of Object.entries(planted)) {
      expect(readFileSync(file, "utf8"), file).toBe("untouched\n");
      if (!link.endsWith(".tmp")) expect(lstatSync(link).isFile(), link).toBe(true);
    }
    expect(readFileSync(state(host, "staged", "2.0.0"), "utf8")).toMatch(/^staged [0-9a-f]{64}\n$/);
  });

  it("refuses to suspend when the suspended marker is a planted symlink, creating nothing", async () => {
    // Prepare: a dangling symlink (the marker is only read when it is a file): writing
    // the marker through it would create a file wherever it points.
    const host = await suite.newHost();
    expect((await stage(host, "2.0.0", "r-m")).result.status).toBe("STAGED");
    const file = join(host.root, "created-through-the-link");
    symlinkSync(file, state(host, "suspended"));

    // Act
    const { code, result } = await host.runStep("switch", {
      profile: "demo",
      targetVersion: "2.0.0",
      rolloutId: "r-m",
    });

    // Assess
    expect(code).toBe(1);
    expect(result.error).toBe(
      `suspend failed: cannot write ${state(host, "suspended")}: ${state(host, "suspended")}: refusing a symlink, or a directory not owned by uid ${process.geteuid?.()}`,
    );
    expect(existsSync(file)).toBe(false);
    expect(host.scheduler.calls).toEqual([]);
    expect(host.link("current")).toBe("releases/1.0.0");
    expect(await host.health()).toEqual({ status: 200, version: "1.0.0" });
  });

  it("moves nothing when the cutover record is a planted symlink", async () => {
    // Prepare
    const host = await suite.newHost();
    expect((await stage(host, "2.0.0", "r-c")).result.status).toBe("STAGED");
    const file = join(host.root, "created-through-the-link");
    symlinkSync(file, state(host, "cutover"));
    const listener = host.listenerPid();

    // Act
    const { code, result } = await host.runStep("switch", {
      profile: "demo",
      targetVersion: "2.0.0",
      rolloutId: "r-c",
    });

    // Assess
    expect(code).toBe(3);
    expect(result).toMatchObject({
      status: "ROLLED_BACK",
      currentVersion: "1.0.0",
      reason: `cannot write the cutover record ${state(host, "cutover")}: ${state(host, "cutover")}: refusing a symlink, or a directory not owned by uid ${process.geteuid?.()}`,
    });
    expect(existsSync(file)).toBe(false);
    expect(host.listenerPid()).toBe(listener);
    expect(host.link("current")).toBe("releases/1.0.0");
  });

  it("refuses a state directory that is a symlink", async () => {
    // Prepare: the state directory moved away and a symlink to it left in its place.
    const host = await suite.newHost();
    const elsewhere = join(host.root, "elsewhere");
    renameSync(state(host), elsewhere);
    symlinkSync(elsewhere, state(host));

    // Act
    const { code, result } = await stage(host, "2.0.0", "r-d");

    // Assess
    expect(code).toBe(1);
    expect(result.error).toBe(
      `refusing the state directory: ${state(host)} is a symlink, or not a directory owned by uid ${process.geteuid?.()}`,
    );
    expect(existsSync(join(elsewhere, "lock"))).toBe(false);
    expect(existsSync(join(elsewhere, "staged", "2.0.0"))).toBe(false);
  });

  it("takes a release as staged only with a sha256 in its marker", async () => {
    // Prepare: 2.0.0 staged, then its marker emptied of the sha256.
    const host = await suite.newHost();
    expect((await stage(host, "2.0.0", "r-e")).result.status).toBe("STAGED");
    writeFileSync(state(host, "staged", "2.0.0"), "staged \n");

    // Act
    const { code, result } = await host.runStep("switch", {
      profile: "demo",
      targetVersion: "2.0.0",
      rolloutId: "r-e",
    });

    // Assess
    expect(code).toBe(1);
    expect(result.error).toBe(
      `release 2.0.0 is not staged (${host.path("releases", "2.0.0")}): run stage first`,
    );
    expect(host.link("current")).toBe("releases/1.0.0");
    expect(host.scheduler.calls).toEqual([]);
  });
});
