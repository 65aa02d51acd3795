/**
 * switch_mode=overlap (profiles/demo.profile) on real processes: the new listener
 * starts on the socket the holder keeps open, the old one drains; a client hammering
 * the port on 127.0.0.1 sees no refused connection and no cut request.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import {
  type Artifact,
  deriveProfile,
  hostSuite,
  loadClient,
  longRequest,
  markedProcesses,
  PROFILES_DIR,
  SCRIPTS_DIR,
  setAgentFaults,
  ssmVariables,
  type TestHost,
} from "./harness.js";

const suite = hostSuite("ar-overlap-test-", [
  { version: "1.0.0" },
  { version: "2.0.0" },
  { version: "3.0.0-bad", badHealth: true },
]);
let fastProfiles: string;
let stallAfterStartProfiles: string;

beforeAll(() => {
  fastProfiles = join(suite.work, "profiles-fast");
  mkdirSync(fastProfiles);
  deriveProfile(fastProfiles, "demo", { health_timeout_s: "2" });
  stallAfterStartProfiles = join(suite.work, "profiles-stall");
  mkdirSync(stallAfterStartProfiles);
  deriveProfile(stallAfterStartProfiles, "demo", {
    "hook.startListener": '"$AR_RELEASE/bin/agentctl" start && : >"$AR_STATE/started" && sleep 30',
  });
});

async function stagedHost(...versions: string[]): Promise<TestHost> {
  const host = await suite.newHost();
  for (const version of versions) {
    const a = suite.artifacts[version] as Artifact;
    const { result } = await host.runStep("stage", {
      profile: "demo",
      targetVersion: version,
      artifactUrl: a.url,
      artifactSha256: a.sha256,
      rolloutId: `stage-${version.replace(/\W/g, "-")}`,
    });
    expect(result.status).toBe("STAGED");
  }
  return host;
}

const holderPid = (host: TestHost): number =>
  Number(readFileSync(host.path(".agent-rollout", "socket-holder", "pid"), "utf8").split(" ")[0]);

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

const state = (host: TestHost, ...parts: string[]) => host.path(".agent-rollout", ...parts);

/** pids of the host's running demo listeners. */
const listeners = (host: TestHost): number[] =>
  markedProcesses(host.root).filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("listener.mjs");
    } catch {
      return false;
    }
  });

/**
 * Runs a switch as its own process group and SIGKILLs the group once `ready()` holds,
 * as the SSM agent does on an execution timeout. Returns once the script is dead.
 */
async function killMidSwitch(
  host: TestHost,
  params: Record<string, string>,
  ready: () => boolean,
  profileDir: string,
): Promise<void> {
  const child = spawn("bash", [join(SCRIPTS_DIR, "switch.sh")], {
    env: host.env({
      AR_PROFILE_DIR: profileDir,
      ...ssmVariables(params, "switch"),
    }),
    detached: true,
    stdio: "ignore",
  });
  const exited = new Promise((resolve) => child.on("exit", resolve));
  const deadline = Date.now() + 15_000;
  while (!ready()) {
    if (Date.now() > deadline) throw new Error("switch never reached the point to kill it at");
    await new Promise((r) => setTimeout(r, 20));
  }
  process.kill(-(child.pid as number), "SIGKILL");
  await exited;
}

describe("overlap switch", () => {
  it("refuses no connection and cuts no request in flight, switching back and forth", async () => {
    // Prepare
    const host = await stagedHost("2.0.0");
    const holder = holderPid(host);
    const results: Record<string, unknown>[] = [];
    const outcomes = [];
    const long: boolean[] = [];

    // Act: three switches under a new connection every 3 ms, each with long requests
    // in flight on the old listener.
    for (const [i, target] of ["2.0.0", "1.0.0", "2.0.0"].entries()) {
      const downloads = [longRequest(host.port, 600), longRequest(host.port, 900)];
      await new Promise((r) => setTimeout(r, 50));
      const step = host.runStep("switch", {
        profile: "demo",
        targetVersion: target,
        rolloutId: `r-${i}`,
      });
      outcomes.push(await loadClient(host.port, step));
      results.push((await step).result);
      long.push(...(await Promise.all(downloads)));
    }

    // Assess
    for (const result of results) {
      expect(result).toMatchObject({
        status: "SWITCHED",
        switchMode: "overlap",
        listenerGapMs: 0,
        unservedMs: 0,
        refused: 0,
      });
    }
    for (const outcome of outcomes) {
      expect(outcome.ok).toBeGreaterThan(20);
      expect({ refused: outcome.refused, failed: outcome.failed }).toEqual({
        refused: 0,
        failed: 0,
      });
    }
    expect(long).toEqual([true, true, true, true, true, true]);
    expect(holderPid(host)).toBe(holder);
    expect(alive(holder)).toBe(true);
    expect(await host.health()).toEqual({ status: 200, version: "2.0.0" });
  });

  it("rolls a bad release back without refusing a connection; the old listener never stops", async () => {
    // Prepare
    const host = await stagedHost("3.0.0-bad");
    const listener = host.listenerPid();

    // Act
    const step = host.runStep(
      "switch",
      { profile: "demo", targetVersion: "3.0.0-bad", rolloutId: "r-bad" },
      { profileDir: fastProfiles },
    );
    const outcome = await loadClient(host.port, step);
    const { code, result } = await step;

    // Assess
    expect(code).toBe(3);
    expect(result).toMatchObject({
      status: "ROLLED_BACK",
      currentVersion: "1.0.0",
      switchMode: "overlap",
      refused: 0,
      unservedMs: 0,
    });
    expect({ refused: outcome.refused, failed: outcome.failed }).toEqual({ refused: 0, failed: 0 });
    expect(outcome.ok).toBeGreaterThan(100);
    expect(host.listenerPid()).toBe(listener);
    expect(host.link("current")).toBe("releases/1.0.0");
    expect(await host.health()).toEqual({ status: 200, version: "1.0.0" });
  });

  it("serves on after the holder is killed; the next switch starts a new holder", async () => {
    // Prepare
    const host = await stagedHost("2.0.0");
    process.kill(holderPid(host), "SIGKILL");
    await new Promise((r) => setTimeout(r, 50));
    expect(await host.health()).toEqual({ status: 200, version: "1.0.0" });

    // Act
    const { code, result, stderr } = await host.runStep("switch", {
      profile: "demo",
      targetVersion: "2.0.0",
      rolloutId: "r-after-crash",
    });

    // Assess: without a holder this switch had to free the port first (and says so);
    // it leaves a new holder behind, and the next switch overlaps again.
    expect(code).toBe(0);
    expect(result).toMatchObject({ status: "SWITCHED", switchMode: "stop-start" });
    expect(stderr).toContain("no socket holder runs");
    expect(alive(holderPid(host))).toBe(true);
    expect(await host.health()).toEqual({ status: 200, version: "2.0.0" });
    const back = await host.runStep("switch", {
      profile: "demo",
      targetVersion: "1.0.0",
      rolloutId: "r-next",
    });
    expect(back.result).toMatchObject({ status: "SWITCHED", switchMode: "overlap", refused: 0 });
  });

  it("recovers a switch killed after the new listener started: one release serves", async () => {
    // Prepare: the step is killed (as an SSM timeout does) while both listeners run.
    const host = await stagedHost("2.0.0");
    const params = { profile: "demo", targetVersion: "2.0.0", rolloutId: "r-1" };
    await killMidSwitch(
      host,
      params,
      () => existsSync(state(host, "started")),
      stallAfterStartProfiles,
    );
    await host.waitHealthy("2.0.0").catch(() => undefined);
    expect(listeners(host)).toHaveLength(2);

    // Act
    const { code, result, stderr } = await host.runStep("switch", params);

    // Assess
    expect(code, stderr).toBe(0);
    expect(result).toMatchObject({ status: "SWITCHED", fromVersion: "1.0.0", toVersion: "2.0.0" });
    expect(result.reason).toMatch(/^completed the switch 1\.0\.0 -> 2\.0\.0/);
    const deadlineOne = Date.now() + 5_000;
    while (listeners(host).length > 1 && Date.now() < deadlineOne) {
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(listeners(host), stderr).toHaveLength(1);
    expect(await host.health()).toEqual({ status: 200, version: "2.0.0" });
    expect(existsSync(state(host, "cutover"))).toBe(false);
  });

  // The kill point of a switch whose new listener never comes up (the SSM execution
  // timeout kills it): the link on 2.0.0, 1.0.0 still serving on the held socket, the
  // agent suspended. The holder may then be gone too (crashed, killed); 1.0.0 keeps
  // the socket open, so 2.0.0 cannot start beside it.
  it.each([
    ["alive", false],
    ["dead", true],
  ])(
    "recovers a switch killed while the new listener starts, its holder %s: one release serves",
    async (_, holderDies) => {
      // Prepare
      const host = await stagedHost("2.0.0");
      const params = { profile: "demo", targetVersion: "2.0.0", rolloutId: "r-1" };
      setAgentFaults(host, "HANG_START_VERSIONS=2.0.0");
      await killMidSwitch(
        host,
        params,
        () => host.link("current") === "releases/2.0.0",
        PROFILES_DIR,
      );
      // The hang is reached right after configure; give the hook time to get there.
      await new Promise((r) => setTimeout(r, 300));
      expect(await host.health()).toEqual({ status: 200, version: "1.0.0" });
      expect(readFileSync(state(host, "cutover"), "utf8")).toContain("\nmode=overlap\n");
      expect(existsSync(state(host, "suspended"))).toBe(true);
      const holder = holderPid(host);
      if (holderDies) process.kill(holder, "SIGKILL");
      setAgentFaults(host);

      // Act: the rollout again.
      const { code, result, stderr } = await host.runStep("switch", {
        ...params,
        rolloutId: "r-2",
      });

      // Assess
      expect(code, stderr).toBe(0);
      expect(result).toMatchObject({
        status: "SWITCHED",
        fromVersion: "1.0.0",
        toVersion: "2.0.0",
        oldRelease: host.path("releases", "1.0.0"),
        reason:
          "completed the switch 1.0.0 -> 2.0.0 that an interrupted run of rollout r-1 left half done",
      });
      expect(stderr.includes("no socket holder runs: stopping 1.0.0 first"), stderr).toBe(
        holderDies,
      );
      expect(listeners(host), stderr).toHaveLength(1);
      expect(await host.health()).toEqual({ status: 200, version: "2.0.0" });
      expect(host.link("previous")).toBe("releases/1.0.0");
      expect(existsSync(state(host, "cutover"))).toBe(false);
      expect(existsSync(state(host, "suspended"))).toBe(false);
      expect(alive(holderPid(host))).toBe(true);
      expect(holderPid(host) === holder).toBe(!holderDies);
    },
  );
});
