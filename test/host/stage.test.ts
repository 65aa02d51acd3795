import { execFileSync, spawn } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  type Artifact,
  deriveProfile,
  hostSuite,
  sha256File,
  startTicks,
  type TestHost,
} from "./harness.js";

const suite = hostSuite("ar-stage-test-");

const newHost = () => suite.newHost();
/** The directory of the built artifacts: the one file:// artifacts may come from. */
const artifactDir = () => join(suite.work, "artifacts");

function artifact(version: string): Artifact {
  const found = suite.artifacts[version];
  if (!found) throw new Error(version);
  return found;
}

describe("preflight", () => {
  it("is READY for another version and SKIPPED on the target, through the document", async () => {
    const host = await newHost();
    const tree = host.tree();

    const ready = await host.runStep(
      "preflight",
      { profile: "demo", targetVersion: "2.0.0", rolloutId: "r-pre" },
      { via: "document" },
    );
    const skipped = await host.runStep(
      "preflight",
      { profile: "demo", targetVersion: "1.0.0", rolloutId: "r-pre" },
      { via: "document" },
    );

    expect(ready.code).toBe(0);
    expect(ready.result).toMatchObject({
      step: "preflight",
      status: "READY",
      currentVersion: "1.0.0",
      targetVersion: "2.0.0",
    });
    expect(Number.isInteger(ready.result.freeMb)).toBe(true);
    expect(ready.result.freeMb as number).toBeGreaterThan(0);
    expect(skipped.code).toBe(0);
    expect(skipped.result).toMatchObject({
      status: "SKIPPED",
      currentVersion: "1.0.0",
      targetVersion: "1.0.0",
    });
    expect(host.tree()).toEqual(tree);
  });

  it("refuses when the profile's compatibility check fails", async () => {
    const host = await newHost();
    const profiles = mkdtempSync(join(suite.work, "profiles-"));
    deriveProfile(profiles, "demo", {
      "hook.preflight": 'echo "server too old for $AR_TO_VERSION" >&2; exit 4',
    });

    const { code, result } = await host.runStep(
      "preflight",
      { profile: "demo", targetVersion: "2.0.0", rolloutId: "r-pre" },
      { profileDir: profiles },
    );

    expect(code).toBe(1);
    expect(result).toEqual({
      step: "preflight",
      status: "FAILED",
      error:
        "compatibility check refused 1.0.0 -> 2.0.0: hook.preflight exited 4: server too old for 2.0.0",
    });
  });
});

describe("stage", () => {
  it("installs beside the running release, and is idempotent", async () => {
    // Prepare
    const host = await newHost();
    const a = artifact("2.0.0");
    const params = {
      profile: "demo",
      targetVersion: "2.0.0",
      artifactUrl: a.url,
      artifactSha256: a.sha256,
      rolloutId: "r-stage",
    };

    // Act
    const first = await host.runStep("stage", params, { via: "document" });
    const second = await host.runStep("stage", params);

    // Assess
    expect(first.code).toBe(0);
    expect(first.result).toMatchObject({
      step: "stage",
      status: "STAGED",
      release: host.path("releases", "2.0.0"),
      sha256: a.sha256,
    });
    expect(second.code).toBe(0);
    expect(second.result).toMatchObject({
      status: "ALREADY_STAGED",
      release: host.path("releases", "2.0.0"),
    });
    expect(readFileSync(host.path("releases", "2.0.0", "VERSION"), "utf8")).toBe("2.0.0\n");
    expect(readdirSync(host.path("releases")).sort()).toEqual(["1.0.0", "2.0.0"]);
    expect(readFileSync(host.path(".agent-rollout", "staged", "2.0.0"), "utf8")).toBe(
      `staged ${a.sha256}\n`,
    );
    // The demo profile declares no config_paths (config-paths.test.ts): nothing backed up.
    expect(existsSync(host.path(".agent-rollout", "backups"))).toBe(false);
    expect(host.link("current")).toBe("releases/1.0.0");
    expect(await host.health()).toEqual({ status: 200, version: "1.0.0" });
    expect(host.scheduler.calls).toEqual([]);
  });

  it("removes the release again when the install hook fails", async () => {
    const host = await newHost();
    const a = artifact("2.0.0");
    const profiles = mkdtempSync(join(suite.work, "profiles-"));
    deriveProfile(profiles, "demo", { "hook.install": "echo 'missing libfoo' >&2; false" });

    const { code, result } = await host.runStep(
      "stage",
      {
        profile: "demo",
        targetVersion: "2.0.0",
        artifactUrl: a.url,
        artifactSha256: a.sha256,
        rolloutId: "r",
      },
      { profileDir: profiles },
    );

    expect(code).toBe(1);
    expect(result.error).toBe("install of 2.0.0 failed: hook.install exited 1: missing libfoo");
    expect(existsSync(host.path("releases", "2.0.0"))).toBe(false);
    expect(existsSync(host.path(".agent-rollout", "staged", "2.0.0"))).toBe(false);
    expect(readdirSync(host.path("releases"))).toEqual(["1.0.0"]);
  });

  it("refuses a release directory it did not stage, never overwriting it", async () => {
    // Prepare: a 2.0.0 directory put there by something else.
    const host = await newHost();
    const a = artifact("2.0.0");
    mkdirSync(host.path("releases", "2.0.0"));
    writeFileSync(host.path("releases", "2.0.0", "VERSION"), "something else\n");
    const tree = host.tree();

    // Act
    const { code, result } = await host.runStep("stage", {
      profile: "demo",
      targetVersion: "2.0.0",
      artifactUrl: a.url,
      artifactSha256: a.sha256,
      rolloutId: "r-foreign",
    });

    // Assess
    expect(code).toBe(1);
    expect(result.error).toBe(
      `${host.path("releases", "2.0.0")} exists and was not staged by agent-rollout; remove it or pick another version`,
    );
    expect(host.tree()).toEqual(tree);
  });

  it("adopts, as it is, a release it did not stage that the previous link points at; switch then takes it", async () => {
    // Prepare: 1.0.0 installed by the vendor (no staged record), then upgraded to 2.0.0.
    const host = await newHost();
    rmSync(host.path(".agent-rollout", "staged", "1.0.0"));
    writeFileSync(host.path("releases", "1.0.0", "vendor-note"), "installed by the vendor\n");
    const up = artifact("2.0.0");
    await host.runStep("stage", {
      profile: "demo",
      targetVersion: "2.0.0",
      artifactUrl: up.url,
      artifactSha256: up.sha256,
      rolloutId: "r-up",
    });
    await host.runStep("switch", { profile: "demo", targetVersion: "2.0.0", rolloutId: "r-up" });
    expect(host.link("previous")).toBe("releases/1.0.0");
    const a = artifact("1.0.0");

    // Act
    const staged = await host.runStep("stage", {
      profile: "demo",
      targetVersion: "1.0.0",
      artifactUrl: a.url,
      artifactSha256: a.sha256,
      rolloutId: "r-back",
    });
    const switched = await host.runStep("switch", {
      profile: "demo",
      targetVersion: "1.0.0",
      rolloutId: "r-back",
    });

    // Assess
    expect(staged.code).toBe(0);
    expect(staged.result).toMatchObject({
      status: "ALREADY_STAGED",
      release: host.path("releases", "1.0.0"),
      sha256: a.sha256,
      reason: `adopted ${host.path("releases", "1.0.0")}, installed outside agent-rollout, as it is`,
    });
    expect(readFileSync(host.path(".agent-rollout", "staged", "1.0.0"), "utf8")).toBe(
      `staged ${a.sha256} adopted\n`,
    );
    expect(readFileSync(host.path("releases", "1.0.0", "vendor-note"), "utf8")).toBe(
      "installed by the vendor\n",
    );
    expect(switched.result).toMatchObject({ status: "SWITCHED", toVersion: "1.0.0" });
    expect(host.link("current")).toBe("releases/1.0.0");
  });

  it("refuses without the profile's min_free_mb free, touching nothing", async () => {
    // Prepare: a disk "full" for a profile that needs 999,999 MB.
    const host = await newHost();
    const a = artifact("2.0.0");
    const profiles = mkdtempSync(join(suite.work, "profiles-full-"));
    deriveProfile(profiles, "demo", { min_free_mb: "999999" });
    const tree = host.tree();

    // Act
    const { code, result } = await host.runStep(
      "stage",
      {
        profile: "demo",
        targetVersion: "2.0.0",
        artifactUrl: a.url,
        artifactSha256: a.sha256,
        rolloutId: "r-full",
      },
      { profileDir: profiles },
    );

    // Assess
    expect(code).toBe(1);
    expect(result).toEqual({
      step: "stage",
      status: "FAILED",
      error: expect.stringMatching(
        new RegExp(
          `^only \\d+ MB free under ${host.path("releases")}, profile demo needs 999999 MB$`,
        ),
      ),
    });
    expect(host.tree()).toEqual(tree);
  });
});

describe("artifact_subdir", () => {
  /**
   * The 2.0.0 demo release repacked as `name.tar.gz` in the artifact directory, its
   * files under `top` (a directory, or a symlink to `linkTo` when given).
   */
  function repack(name: string, top: string, linkTo?: string): Artifact {
    const dir = mkdtempSync(join(suite.work, "repack-"));
    if (linkTo === undefined) {
      mkdirSync(join(dir, top));
      execFileSync("tar", ["-xzf", artifact("2.0.0").path, "-C", join(dir, top)]);
    } else symlinkSync(linkTo, join(dir, top));
    const path = join(artifactDir(), `${name}.tar.gz`);
    execFileSync("tar", ["-czf", path, "-C", dir, top]);
    return { version: "2.0.0", path, url: `file://${path}`, sha256: sha256File(path) };
  }

  function subdirProfile(): string {
    const profiles = mkdtempSync(join(suite.work, "profiles-subdir-"));
    deriveProfile(profiles, "demo", { artifact_subdir: "demo-agent-{version}" });
    return profiles;
  }

  const stageWith = (host: TestHost, a: Artifact, profileDir: string) =>
    host.runStep(
      "stage",
      {
        profile: "demo",
        targetVersion: "2.0.0",
        artifactUrl: a.url,
        artifactSha256: a.sha256,
        rolloutId: "r-subdir",
      },
      { profileDir },
    );

  it("stages the archive's subdirectory, {version} replaced, as the release", async () => {
    // Prepare
    const host = await newHost();
    const a = repack("wrapped-2.0.0", "demo-agent-2.0.0");

    // Act
    const { code, result } = await stageWith(host, a, subdirProfile());

    // Assess
    expect([code, result.status]).toEqual([0, "STAGED"]);
    expect(readdirSync(host.path("releases", "2.0.0")).sort()).toEqual(["VERSION", "bin", "lib"]);
    expect(readFileSync(host.path("releases", "2.0.0", "VERSION"), "utf8")).toBe("2.0.0\n");
  });

  it.each([
    ["has no such directory", "other-top", undefined],
    ["holds it as a symlink out of the archive", "demo-agent-2.0.0", "/etc"],
    ["holds it as a symlink inside the archive", "demo-agent-2.0.0", "."],
  ])("refuses an archive that %s, staging nothing", async (_, top, linkTo) => {
    // Prepare
    const host = await newHost();
    const a = repack(`bad-${top}-${linkTo === undefined ? "dir" : "link"}`, top, linkTo);
    const tree = host.tree();

    // Act
    const { code, result } = await stageWith(host, a, subdirProfile());

    // Assess
    expect(code).toBe(1);
    expect(result.error).toBe(
      `the artifact ${a.url} has no directory demo-agent-2.0.0 (artifact_subdir of profile demo)`,
    );
    expect(host.tree()).toEqual(tree);
  });

  it.each(["../up", "a/../../b", "/abs", "./x", "a b"])(
    "refuses artifact_subdir %s in the profile",
    async (value) => {
      const host = await newHost();
      const profiles = mkdtempSync(join(suite.work, "profiles-subdir-bad-"));
      deriveProfile(profiles, "demo", { artifact_subdir: value });

      const { code, result } = await stageWith(host, artifact("2.0.0"), profiles);

      expect(code).toBe(1);
      expect(result.error).toBe(
        "profile demo: artifact_subdir must be a relative path without '.' or '..' (artifact=tar.gz)",
      );
    },
  );
});

describe("bad parameters are refused before anything is touched", () => {
  const good = (): Record<string, string> => ({
    profile: "demo",
    targetVersion: "2.0.0",
    artifactUrl: artifact("2.0.0").url,
    artifactSha256: artifact("2.0.0").sha256,
    rolloutId: "r-bad",
  });
  // Parameter changes of each case (null: left out); a function where the value needs
  // the artifacts built in beforeAll.
  type Change = Record<string, string | null>;
  const cases: [string, () => Change, number, RegExp][] = [
    [
      "version with a command",
      () => ({ targetVersion: "1.0;rm -rf /" }),
      2,
      /^invalid targetVersion: '1\.0;rm -rf \/'/,
    ],
    [
      "version as command substitution",
      () => ({ targetVersion: "$(reboot)" }),
      2,
      /^invalid targetVersion: '\$\(reboot\)'/,
    ],
    [
      "version longer than 64",
      () => ({ targetVersion: `${"1".repeat(70)}.0` }),
      2,
      /^invalid targetVersion: longer than 64 characters$/,
    ],
    [
      "traversal in a file URL",
      () => ({ artifactUrl: "file:///tmp/../etc/passwd" }),
      2,
      /'\.' or '\.\.' path segment$/,
    ],
    [
      "traversal in an https URL",
      () => ({ artifactUrl: "https://example.com/a/../b.tar.gz" }),
      2,
      /path segment$/,
    ],
    [
      "encoded traversal",
      () => ({ artifactUrl: "https://example.com/%2E%2e/b.tar.gz" }),
      2,
      /path segment$/,
    ],
    ["http URL", () => ({ artifactUrl: "http://example.com/a.tar.gz" }), 2, /^invalid artifactUrl/],
    [
      "missing artifact",
      () => ({ artifactUrl: `file://${join(artifactDir(), "demo-agent-0.0.0.tar.gz")}` }),
      2,
      /^artifact not found: \/.*\/artifacts\/demo-agent-0\.0\.0\.tar\.gz$/,
    ],
    ...[
      "/etc/shadow",
      "/proc/self/environ",
      "/dev/zero",
      "/nonexistent/demo-agent-2.0.0.tar.gz",
    ].map((path): [string, () => Change, number, RegExp] => [
      `file outside the artifact directories: ${path}`,
      () => ({ artifactUrl: `file://${path}` }),
      2,
      new RegExp(`^artifact ${path} is not inside an allowed artifact directory \\(/`),
    ]),
    [
      "symlink out of the artifact directory",
      () => {
        const link = join(artifactDir(), "escape.tar.gz");
        if (!existsSync(link)) symlinkSync("/etc/passwd", link);
        return { artifactUrl: `file://${link}` };
      },
      2,
      /^artifact \/.*\/escape\.tar\.gz is not inside an allowed artifact directory/,
    ],
    [
      "FIFO in the artifact directory",
      () => {
        const fifo = join(artifactDir(), "fifo.tar.gz");
        if (!existsSync(fifo)) execFileSync("mkfifo", [fifo]);
        return { artifactUrl: `file://${fifo}` };
      },
      2,
      /^artifact \/.*\/fifo\.tar\.gz is not a readable regular file$/,
    ],
    [
      "sha256 of the wrong format",
      () => ({ artifactSha256: "ABC123" }),
      2,
      /^invalid artifactSha256/,
    ],
    [
      "sha256 in upper case",
      () => ({ artifactSha256: artifact("2.0.0").sha256.toUpperCase() }),
      2,
      /^invalid artifactSha256/,
    ],
    ["rollout id with a space", () => ({ rolloutId: "r 1" }), 2, /^invalid rolloutId/],
    ["unknown profile", () => ({ profile: "nope" }), 2, /^unknown profile 'nope'/],
    ["profile name with a path", () => ({ profile: "../demo" }), 2, /^invalid profile/],
    [
      "missing parameter",
      () => ({ rolloutId: null }),
      2,
      /^parameter rolloutId missing: no SSM_rolloutId in the environment \(SSM Agent older than 3\.3\.2746\.0/,
    ],
    [
      "wrong sha256",
      () => ({ artifactSha256: artifact("1.0.0").sha256 }),
      1,
      /^sha256 mismatch for file:\/\/.*: expected [a-f0-9]{64}, got [a-f0-9]{64}$/,
    ],
  ];

  it.each(cases)("%s", async (_name, change, expectedCode, error) => {
    const host = await newHost();
    const tree = host.tree();
    const params = good();
    for (const [key, value] of Object.entries(change())) {
      if (value === null) delete params[key];
      else params[key] = value;
    }

    const { code, result } = await host.runStep("stage", params);

    expect(code).toBe(expectedCode);
    expect(result.status).toBe("FAILED");
    expect(result.error).toMatch(error);
    expect(host.tree()).toEqual(tree);
  });

  it("keeps the exit code and leaves no temporary directory when run through the document", async () => {
    const host = await newHost();
    const tmp = join(suite.work, "tmp-doc");
    mkdirSync(tmp);
    const params = { ...good(), targetVersion: "$(reboot)" };

    const { code, result } = await host.runStep("stage", params, {
      via: "document",
      env: { TMPDIR: tmp },
    });

    expect(code).toBe(2);
    expect(result.error).toMatch(/^invalid targetVersion/);
    expect(readdirSync(tmp)).toEqual([]);
  });
});

describe("host mutex", () => {
  async function lockedBy(host: TestHost, pid: number, ticks: string): Promise<string> {
    const lock = host.path(".agent-rollout", "lock");
    mkdirSync(lock);
    writeFileSync(join(lock, "owner"), `${pid} ${ticks} switch r-other\n`);
    return lock;
  }
  const preflight = { profile: "demo", targetVersion: "2.0.0", rolloutId: "r-lock" };

  it("takes over a lock whose owner is dead", async () => {
    const host = await newHost();
    const gone = spawn("true");
    await new Promise((r) => gone.on("exit", r));
    const lock = await lockedBy(host, gone.pid ?? 0, "12345");

    const { code, result, stderr } = await host.runStep("preflight", preflight);

    expect([code, result.status]).toEqual([0, "READY"]);
    expect(stderr).toContain(`taking over stale lock of: ${gone.pid} 12345 switch r-other`);
    expect(existsSync(lock)).toBe(false);
  });

  it("takes over a lock whose pid now belongs to another process", async () => {
    const host = await newHost();
    const pid = host.spawnSleeper();
    const lock = await lockedBy(host, pid, String(Number(startTicks(pid)) - 1));

    const { code, result } = await host.runStep("preflight", preflight);

    expect([code, result.status]).toEqual([0, "READY"]);
    expect(existsSync(lock)).toBe(false);
  });

  it("waits for a live owner, then gives up as busy", async () => {
    const host = await newHost();
    const pid = host.spawnSleeper();
    const ticks = startTicks(pid);
    const lock = await lockedBy(host, pid, ticks);

    const { code, result } = await host.runStep("preflight", preflight, {
      env: { AR_LOCK_WAIT_S: "1" },
    });

    expect(code).toBe(1);
    expect(result.error).toBe(
      `host busy: lock ${lock} held by (${pid} ${ticks} switch r-other) for more than 1s`,
    );
    expect(readFileSync(join(lock, "owner"), "utf8")).toBe(`${pid} ${ticks} switch r-other\n`);
  });
});
