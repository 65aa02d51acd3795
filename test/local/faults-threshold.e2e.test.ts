/**
 * Faults end to end, in local mode (one fleet of six demo-agent hosts): bad input
 * through the real state machine, a second rollout while one runs, the failure
 * threshold with hosts in flight, artifacts that do not verify, and a step delivered
 * twice. Every fault must end in a host or rollout status that says why, with no job
 * lost and no host left between two releases.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { SendCommandCommand } from "@aws-sdk/client-ssm";
import { beforeAll, describe, expect, it } from "vitest";
import type { FleetHost } from "../../local/fleet.js";
import { formatSummary } from "../../local/format.js";
import type { RolloutReport } from "../../local/runner.js";
import {
  fleetSuite,
  health,
  inputFor,
  invocationsOf,
  ledgerItem,
  linkOf,
  listenerPid,
  resultLine,
  runExecution,
  scanLedger,
  ssmClient,
  stepOf,
  waitFor,
} from "./faults-harness.js";

const fleet = fleetSuite(
  "faults-threshold",
  { hosts: 6, faults: [{ kind: "bad-release", hosts: [2, 3, 5] }] },
  (workDir) => {
    // The demo profile with a 2 s health timeout: each bad host costs 2 s, not 10.
    const profileFile = join(workDir, "demo-fast.profile");
    const demo = readFileSync(
      fileURLToPath(new URL("../../profiles/demo.profile", import.meta.url)),
      "utf8",
    );
    writeFileSync(profileFile, demo.replace(/^health_timeout_s=.*$/m, "health_timeout_s=2"));
    return { profileFile };
  },
);
const host = (n: number) => fleet.host(n);

describe("bad input through the real state machine", () => {
  it.each([
    [
      "a command in the version",
      { targetVersion: "1.0;rm -rf /" },
      "InvalidInputError",
      'targetVersion: "1.0;rm -rf /" is not a version',
    ],
    [
      "a command substitution in the version",
      { targetVersion: "$(reboot)" },
      "InvalidInputError",
      'targetVersion: "$(reboot)" is not a version',
    ],
    [
      "a path traversal in the artifact URL",
      { artifact: { url: "file:///srv/../etc/passwd", sha256: "a".repeat(64) } },
      "InvalidInputError",
      "artifact.url: must not contain a '.' or '..' path segment",
    ],
    [
      "a host listed twice",
      { hosts: { instanceIds: ["mi-00000000000000001", "mi-00000000000000001"] } },
      "InvalidInputError",
      "hosts.instanceIds[1]: duplicate host mi-00000000000000001",
    ],
    [
      "an unknown profile",
      { profile: "nope" },
      "UnknownProfileError",
      'profile: "nope" is not deployed',
    ],
  ])(
    "refuses %s: RolloutRejected naming it, ledger empty, no command sent",
    async (_, bad, name, text) => {
      // Act
      const outcome = await runExecution(fleet.env, await inputFor(fleet.env, fleet.hosts, bad), {
        rolloutId: "bad-input",
      });

      // Assess
      expect(outcome).toMatchObject({ status: "FAILED", error: name });
      expect(outcome.cause).toContain(text);
      expect(outcome.states).toEqual(["PlanRollout", "RolloutRejected"]);
      expect(await scanLedger(fleet.env)).toEqual([]);
      expect(fleet.env.ssm.stats().calls.SendCommand ?? 0).toBe(0);
      expect(fleet.env.ssm.invocations()).toEqual([]);
    },
  );
});

describe("the failure threshold", () => {
  let report: RolloutReport;
  let concurrent: Awaited<ReturnType<typeof runExecution>> | undefined;

  beforeAll(async () => {
    const { runRollout } = await import("../../local/runner.js");
    // Waves of two hosts, both in flight at once; bad release on hosts 2, 3 and 5;
    // one failure tolerated. A second rollout of the same fleet starts meanwhile.
    let second: Promise<Awaited<ReturnType<typeof runExecution>>> | undefined;
    report = await runRollout(fleet.env, {
      rolloutId: "threshold",
      targetVersion: "2.0.0",
      batchSize: 2,
      canary: 0,
      waveSize: 2,
      failureThreshold: 1,
      jobsPerHost: 2,
      jobSeconds: [1, 2],
      onHostChange: () => {
        second ??= (async () =>
          runExecution(fleet.env, await inputFor(fleet.env, [host(6)]), { rolloutId: "second" }))();
      },
    });
    concurrent = await second;
  }, 180_000);

  it("refuses a second rollout of the fleet while the first runs, naming the owner", async () => {
    expect(concurrent).toMatchObject({ status: "FAILED", error: "FleetLockedError" });
    expect(concurrent?.cause).toMatch(
      /^fleet "local" is locked by rollout threshold until \S+; wait for it, or pass breakLock: "threshold" if that rollout is dead$/,
    );
    expect(concurrent?.states).toEqual(["PlanRollout", "RolloutRejected"]);
    expect(await ledgerItem(fleet.env, "ROLLOUT#second", "ROLLOUT")).toBeUndefined();
    expect(invocationsOf(fleet.env, "second")).toEqual([]);
  });

  it("halts once more than k hosts failed; hosts in flight finish; every failure is named", async () => {
    expect(report.status).toBe("HALTED");
    expect(
      report.hosts.map((h) => [h.computerName, h.status, h.fromVersion, h.runningVersion]),
    ).toEqual([
      ["host-01", "UPGRADED", "1.0.0", "2.0.0"],
      ["host-02", "ROLLED_BACK", "1.0.0", "1.0.0"],
      // Wave 1 started with one failure (within the threshold); host-04 was in flight
      // when host-03 made it two, and finished its upgrade.
      ["host-03", "ROLLED_BACK", "1.0.0", "1.0.0"],
      ["host-04", "UPGRADED", "1.0.0", "2.0.0"],
      // Wave 2 never started.
      ["host-05", "PENDING", null, "1.0.0"],
      ["host-06", "PENDING", null, "1.0.0"],
    ]);
    const cause =
      "RolledBack: health check of 2.0.0 still failing after 2s (hook.health exited 1: agentctl: /health answered 500)";
    expect(report.hosts.map((h) => h.error)).toEqual([null, cause, cause, null, null, null]);
    const summary = formatSummary(report);
    expect(summary).toContain(`host-02  mi-00000000000000002  1.0.0  1.0.0    rolled back`);
    expect(summary.split("\n").filter((l) => l.endsWith(cause))).toHaveLength(2);
    const rollout = await ledgerItem(fleet.env, "ROLLOUT#threshold", "ROLLOUT");
    expect(rollout).toMatchObject({
      status: "HALTED",
      failedCount: 2,
      counts: { UPGRADED: 2, ROLLED_BACK: 2, PENDING: 2 },
    });
    // Every host serves the release its link names; the halted wave was never touched.
    for (const [n, version] of [
      [1, "2.0.0"],
      [2, "1.0.0"],
      [3, "1.0.0"],
      [4, "2.0.0"],
      [5, "1.0.0"],
      [6, "1.0.0"],
    ] as const) {
      expect(await health(host(n))).toEqual({ status: 200, version });
      expect(await linkOf(host(n))).toBe(`releases/${version}`);
      expect(existsSync(join(host(n).agentRoot, ".agent-rollout", "cutover"))).toBe(false);
    }
    const touched = new Set(invocationsOf(fleet.env, "threshold").map((i) => i.instanceId));
    expect([...touched].sort()).toEqual([1, 2, 3, 4].map((n) => host(n).instanceId));
    expect(report.jobs.lost).toBe(0);
    expect(report.jobs.failed).toBe(0);
    expect(report.jobs.completed).toBe(report.jobs.submitted);
    // The lock is released with the halt.
    expect(await ledgerItem(fleet.env, "LOCK#local", "LOCK")).toBeUndefined();
  });
});

describe("artifacts that do not verify are refused at stage", () => {
  /** What a host looked like before: nothing of it may change. */
  async function snapshotOf(h: FleetHost) {
    return {
      link: await linkOf(h),
      listener: await listenerPid(h),
      releases: readdirSync(join(h.agentRoot, "releases")).sort(),
      staged: readdirSync(join(h.agentRoot, ".agent-rollout", "staged")).sort(),
      suspended: existsSync(join(h.agentRoot, ".agent-rollout", "suspended")),
    };
  }

  it.each([
    [
      "a sha256 mismatch",
      5,
      async () => ({
        artifact: { ...(await fleet.env.fleet.artifact("2.0.0")), sha256: "0".repeat(64) },
      }),
      /^HostStepFailedError: stage failed on mi-0+5: sha256 mismatch for file:\/\/\S+\/demo-agent-2\.0\.0\.tar\.gz: expected 0{64}, got [a-f0-9]{64}$/,
    ],
    [
      "a missing artifact",
      6,
      async () => ({
        artifact: {
          url: `file://${join(fleet.workDir, "artifacts", "demo-agent-9.9.9.tar.gz")}`,
          sha256: (await fleet.env.fleet.artifact("2.0.0")).sha256,
        },
      }),
      /^HostStepFailedError: stage failed on mi-0+6: artifact not found: \/\S+\/demo-agent-9\.9\.9\.tar\.gz$/,
    ],
  ])("refuses %s: host FAILED, nothing staged or switched", async (what, n, change, error) => {
    // Prepare
    const h = host(n);
    const before = await snapshotOf(h);
    const rolloutId = `artifact-${n}`;

    // Act
    const outcome = await runExecution(fleet.env, await inputFor(fleet.env, [h], await change()), {
      rolloutId,
    });

    // Assess
    expect(outcome.status, what).toBe("FAILED");
    // One failure over a threshold of 0: the rollout halts after the host's wave.
    expect(outcome.error).toBe("RolloutHalted");
    const item = await ledgerItem(fleet.env, `ROLLOUT#${rolloutId}`, `HOST#0000#${h.instanceId}`);
    expect(item?.status).toBe("FAILED");
    const failure = item?.error as { name: string; message: string } | undefined;
    expect(`${failure?.name}: ${failure?.message}`).toMatch(error);
    expect(
      invocationsOf(fleet.env, rolloutId).map((i) => [stepOf(i.documentName), i.status]),
    ).toEqual([
      ["preflight", "Success"],
      ["stage", "Failed"],
    ]);
    expect(await snapshotOf(h)).toEqual(before);
    expect(await health(h)).toEqual({ status: 200, version: "1.0.0" });
  });
});

describe("a step delivered twice", () => {
  it("changes nothing the second time (Lambda retry and duplicated command)", async () => {
    // Prepare: host-01 was switched by the rollout "threshold".
    const h = host(1);
    const ref = { rolloutId: "threshold", wave: 0, hostId: h.instanceId, instanceId: h.instanceId };
    const hostBefore = await ledgerItem(
      fleet.env,
      "ROLLOUT#threshold",
      `HOST#0000#${h.instanceId}`,
    );
    const snapshotBefore = await ledgerItem(
      fleet.env,
      `HOST#${h.instanceId}`,
      "SNAPSHOT#threshold",
    );
    const listener = await listenerPid(h);
    const commands = fleet.env.ssm.stats().commands;
    const recorded = hostBefore?.commands as Record<string, string> | undefined;
    const switchCommand = recorded?.switch ?? "";
    expect(switchCommand).not.toBe("");

    // Act 1: the Lambda task retried: host-step asked to send the switch again.
    const retried = (await fleet.env.invoke("host-step", {
      action: "send",
      step: "switch",
      host: ref,
    })) as { commandId: string; status: string };

    // Assess 1: the recorded command is polled, nothing is sent.
    expect(retried).toMatchObject({ commandId: switchCommand, status: "SWITCHED", done: true });
    expect(fleet.env.ssm.stats().commands).toBe(commands);

    // Act 2: the same switch command delivered to the host a second time.
    const sent = await ssmClient(fleet.env).send(
      new SendCommandCommand({
        DocumentName: `${process.env.DOCUMENT_PREFIX}-Switch-${fleet.env.profile}`,
        InstanceIds: [h.instanceId],
        Parameters: {
          profile: [fleet.env.profile],
          targetVersion: ["2.0.0"],
          rolloutId: ["threshold"],
        },
      }),
    );
    const commandId = sent.Command?.CommandId as string;
    await waitFor("the duplicated switch", () =>
      fleet.env.ssm.invocations().some((i) => i.commandId === commandId && i.status === "Success"),
    );

    // Assess 2: UNCHANGED, repeating the first switch; host and ledger as they were.
    const first = await resultLine(fleet.env, switchCommand, h.instanceId);
    const second = await resultLine(fleet.env, commandId, h.instanceId);
    expect(second).toMatchObject({
      status: "UNCHANGED",
      fromVersion: "1.0.0",
      toVersion: "2.0.0",
      oldRelease: first.oldRelease,
      jobs: first.jobs,
    });
    expect(await listenerPid(h)).toBe(listener);
    expect(await linkOf(h)).toBe("releases/2.0.0");
    const hostAfter = await ledgerItem(fleet.env, "ROLLOUT#threshold", `HOST#0000#${h.instanceId}`);
    // A retried task records the same result again: only the times it measures move.
    expect({ ...hostAfter, updatedAt: 0, stepMs: 0, switchEndedAt: 0 }).toEqual({
      ...hostBefore,
      updatedAt: 0,
      stepMs: 0,
      switchEndedAt: 0,
    });
    expect(await ledgerItem(fleet.env, `HOST#${h.instanceId}`, "SNAPSHOT#threshold")).toEqual(
      snapshotBefore,
    );
  });
});
