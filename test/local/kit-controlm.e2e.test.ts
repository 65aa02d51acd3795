/**
 * End to end, the Control-M/Agent-like kit (kits/controlm-like) through the real state
 * machine: its server keeps submitting jobs during the rollout and counts what the
 * agents' job monitors report; the New Day step deletes exe_old once the jobs ended.
 * Also a copy of the kit outside the repository, given as a directory.
 */

import { existsSync } from "node:fs";
import { cp, mkdtemp, readFile, readlink, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectCleanRollout, expectRolledBack, nightlyCleanup, rollout } from "./kits-harness.js";

describe("the Control-M-like kit", () => {
  let workDir = "";
  beforeAll(async () => {
    workDir = await mkdtemp(join(tmpdir(), "agent-rollout-ctm-"));
  });
  afterAll(async () => {
    await rm(workDir, { recursive: true, force: true });
  });

  it("upgrades with no downtime, then New Day deletes exe_old once its jobs ended", async () => {
    // Act
    const dir = join(workDir, "ok");
    const { code, report } = await rollout("controlm-like", dir);

    // Assess
    expect(code).toBe(0);
    expectCleanRollout(report);
    const details = report.jobs.details as Record<string, Record<string, unknown>>;
    for (const host of ["host-01", "host-02"]) {
      // Suspended, then Discovering, then Available on the new version.
      expect(details[host]).toMatchObject({ state: "Available", discoveredVersion: "2.0.0" });
      expect(details[host]?.suspendedMs).toBeGreaterThan(0);
      expect(details[host]?.discoveringMs).toBeGreaterThan(0);
      // The reported window lasts until the server takes work again (hook.available):
      // it holds the whole time the server had the agent Suspended or Discovering.
      const unavailableMs =
        (details[host]?.suspendedMs as number) + (details[host]?.discoveringMs as number);
      const reported = report.hosts.find((h) => h.computerName === host)?.suspendMs;
      expect(reported, `${host}: server ${JSON.stringify(details[host])}`).toBeGreaterThanOrEqual(
        unavailableMs - 2,
      );
      const home = join(dir, "fleet", host, "home", "ctmagent", "ctm");
      expect(await readlink(join(home, "exe"))).toBe("exe_2.0.0");
      expect(await readlink(join(home, "exe_old"))).toBe("exe_1.0.0");
      expect(await readFile(join(home, "data", "CONFIG.dat"), "utf8")).toMatch(
        /^AGENT_VERSION 2\.0\.0$/m,
      );
      expect(await readFile(join(home, "share", "messages.txt"), "utf8")).toMatch(/ 2\.0\.0:/);
      const recorded = (await readFile(join(home, "data", "upgrade_running_jobs.dat"), "utf8"))
        .trim()
        .split("\n");
      expect(recorded.length).toBeGreaterThan(0);
      for (const id of recorded) expect(id).toMatch(new RegExp(`^${host}-[a-z0-9]+-ord\\d+$`));
    }

    // Act: New Day, every recorded job has ended (the driver saw them all end).
    const cleaned = await nightlyCleanup(dir);

    // Assess
    expect(cleaned.deleted).toHaveLength(2);
    expect(cleaned.kept).toEqual([]);
    for (const host of ["host-01", "host-02"]) {
      const home = join(dir, "fleet", host, "home", "ctmagent", "ctm");
      expect(existsSync(join(home, "exe_1.0.0"))).toBe(false);
      expect(existsSync(join(home, "exe_old"))).toBe(false);
      expect(await readlink(join(home, "exe"))).toBe("exe_2.0.0");
    }
  }, 60_000);

  it("rolls a bad release back on the canary: exe back on the old release, server Available", async () => {
    const { code, report } = await rollout("controlm-like", join(workDir, "bad"), [
      "--fault",
      "bad-release",
    ]);
    expectRolledBack(code, report);
    const details = report.jobs.details as Record<string, Record<string, unknown>>;
    expect(details["host-01"]).toMatchObject({ state: "Available", discoveredVersion: "1.0.0" });
    // What install and configure changed outside exe_<version> went back with exe
    // (config_paths): CONFIG.dat at the old values, share/ the old release's.
    const home = join(workDir, "bad", "fleet", "host-01", "home", "ctmagent", "ctm");
    expect(await readlink(join(home, "exe"))).toBe("exe_1.0.0");
    expect(await readFile(join(home, "data", "CONFIG.dat"), "utf8")).toMatch(
      /^AGENT_VERSION 1\.0\.0$/m,
    );
    expect(await readFile(join(home, "share", "messages.txt"), "utf8")).toMatch(/ 1\.0\.0:/);
  }, 60_000);

  it("runs the same way from a kit directory outside the repository", async () => {
    // Prepare: a user's copy of the kit, its profile inside it.
    const kit = join(workDir, "my-kit");
    await cp(join("kits", "controlm-like"), kit, { recursive: true });
    await cp(join("profiles", "controlm-like.profile"), join(kit, "my-ctm.profile"));
    const manifest = JSON.parse(await readFile(join(kit, "kit.json"), "utf8"));
    await writeFile(
      join(kit, "kit.json"),
      JSON.stringify({ ...manifest, profile: "my-ctm.profile" }),
    );

    // Act
    const { code, report, stdout } = await rollout(kit, join(workDir, "outside"));

    // Assess
    expect(code).toBe(0);
    expect(stdout).toMatch(/kit my-kit, profile my-ctm/);
    expectCleanRollout(report);
  }, 60_000);
});
