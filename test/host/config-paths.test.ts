/**
 * The profile's config_paths: configuration outside the releases that install and
 * configure hooks change. Stage backs it up before hook.install; every way back to the
 * old release (the switch's own rollback, the rollback step) puts it back.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { deriveProfile, hostSuite, type TestHost } from "./harness.js";

const suite = hostSuite("ar-config-test-", [
  { version: "1.0.0" },
  { version: "2.0.0" },
  { version: "3.0.0-bad", badHealth: true },
]);

/** demo, whose install writes data/installed and configure edits conf/agent.env. */
let profiles: string;

beforeAll(() => {
  profiles = join(suite.work, "profiles-config");
  mkdirSync(profiles);
  deriveProfile(profiles, "demo", {
    config_paths: "conf/agent.env data",
    health_timeout_s: "2",
    "hook.install":
      'test "$(cat "$AR_RELEASE/VERSION")" = "$AR_VERSION" && mkdir -p data && echo "$AR_VERSION" >data/installed',
    "hook.configure":
      'echo "CONFIGURED=$AR_VERSION" >>conf/agent.env && "$AR_RELEASE/bin/agentctl" configure',
  });
});

async function stage(host: TestHost, version: string, rolloutId: string, profileDir = profiles) {
  const a = suite.artifacts[version];
  if (!a) throw new Error(version);
  return host.runStep(
    "stage",
    {
      profile: "demo",
      targetVersion: version,
      artifactUrl: a.url,
      artifactSha256: a.sha256,
      rolloutId,
    },
    { profileDir },
  );
}

const read = (host: TestHost, ...parts: string[]) => readFileSync(host.path(...parts), "utf8");

describe("config_paths", () => {
  it("are backed up before the install hook runs, the first backup of a rollout kept", async () => {
    // Prepare
    const host = await suite.newHost();
    const conf = read(host, "conf", "agent.env");

    // Act
    const first = await stage(host, "2.0.0", "r-backup");
    const second = await stage(host, "2.0.0", "r-backup");

    // Assess
    expect([first.result.status, second.result.status]).toEqual(["STAGED", "ALREADY_STAGED"]);
    expect(read(host, "data", "installed")).toBe("2.0.0\n");
    const backups = host.path(".agent-rollout", "backups");
    expect(readFileSync(join(backups, "r-backup.paths"), "utf8")).toBe(
      "present conf/agent.env\nabsent data\n",
    );
    expect(readFileSync(join(backups, "r-backup", "conf", "agent.env"), "utf8")).toBe(conf);
    expect(existsSync(join(backups, "r-backup", "data"))).toBe(false);
  });

  it("are restored when the switch goes back from a release that fails its health check", async () => {
    // Prepare
    const host = await suite.newHost();
    const conf = read(host, "conf", "agent.env");
    expect((await stage(host, "3.0.0-bad", "r-bad")).result.status).toBe("STAGED");
    expect(read(host, "data", "installed")).toBe("3.0.0-bad\n");

    // Act
    const { code, result } = await host.runStep(
      "switch",
      { profile: "demo", targetVersion: "3.0.0-bad", rolloutId: "r-bad" },
      { profileDir: profiles },
    );

    // Assess
    expect([code, result.status]).toEqual([3, "ROLLED_BACK"]);
    expect(read(host, "conf", "agent.env")).toBe(conf);
    expect(existsSync(host.path("data"))).toBe(false);
    expect(await host.health()).toEqual({ status: 200, version: "1.0.0" });
  });

  it("are restored by the rollback step, the configuration it left kept aside", async () => {
    // Prepare
    const host = await suite.newHost();
    const conf = read(host, "conf", "agent.env");
    await stage(host, "2.0.0", "r-up");
    const switched = await host.runStep(
      "switch",
      { profile: "demo", targetVersion: "2.0.0", rolloutId: "r-up" },
      { profileDir: profiles },
    );
    expect(switched.result.status).toBe("SWITCHED");
    const upgraded = read(host, "conf", "agent.env");
    expect(upgraded).toBe(`${conf}CONFIGURED=2.0.0\n`);

    // Act
    const { code, result } = await host.runStep(
      "rollback",
      { profile: "demo", rolloutId: "rb-1" },
      { profileDir: profiles },
    );

    // Assess
    expect([code, result.status]).toEqual([0, "ROLLED_BACK"]);
    expect(read(host, "conf", "agent.env")).toBe(conf);
    expect(existsSync(host.path("data"))).toBe(false);
    expect(read(host, ".agent-rollout", "backups", "rb-1.rollback", "conf", "agent.env")).toBe(
      upgraded,
    );
    expect(await host.health()).toEqual({ status: 200, version: "1.0.0" });
  });

  it.each(["../etc", "data/../../etc", ".agent-rollout/lock", "current", "releases/2.0.0", "/etc"])(
    "refuses config_paths %s in the profile",
    async (value) => {
      const host = await suite.newHost();
      const bad = mkdtempSync(join(suite.work, "profiles-config-bad-"));
      deriveProfile(bad, "demo", { config_paths: `conf ${value}` });

      const { code, result } = await stage(host, "2.0.0", "r-refused", bad);

      expect(code).toBe(1);
      expect(result.error).toBe(
        `profile demo: config_paths: '${value}' must be a relative path without '.' or '..', outside the releases, the links and .agent-rollout`,
      );
    },
  );

  it("refuses a path that leads out of the install root through a symlink, staging nothing", async () => {
    // Prepare
    const host = await suite.newHost();
    const outside = mkdtempSync(join(suite.work, "outside-"));
    symlinkSync(outside, host.path("linked"));
    const bad = mkdtempSync(join(suite.work, "profiles-config-link-"));
    deriveProfile(bad, "demo", { config_paths: "linked/CONFIG.dat" });

    // Act
    const { code, result } = await stage(host, "2.0.0", "r-link", bad);

    // Assess
    expect(code).toBe(1);
    expect(result.error).toBe(
      `config_paths: 'linked/CONFIG.dat' leads out of ${host.agentRoot} through a symlink (${outside})`,
    );
    expect(existsSync(host.path("releases", "2.0.0"))).toBe(false);
  });
});
