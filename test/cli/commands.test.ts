/** The commands on the in-memory ledger store: status, list, watch, the timeline. */
import { describe, expect, it } from "vitest";
import { listCommand } from "../../cli/commands/list.js";
import { statusCommand } from "../../cli/commands/status.js";
import { decideUnlock } from "../../cli/commands/unlock.js";
import { watchRollout } from "../../cli/commands/watch.js";
import { EXIT } from "../../cli/errors.js";
import { hostTimeline } from "../../cli/timeline.js";
import { rollbackWindow } from "../../cli/view.js";
import type { Host } from "../../lambdas/common/ledger/index.js";
import { I1, I2, jobs, storedInput, T0 } from "../lambdas/helpers.js";
import { memoryBackend, recordingIo } from "./helpers.js";

const at = (ms: number) => new Date(T0 + ms).toISOString();

/** A two-host rollout: the canary upgraded, the other rolled back. */
async function seedRollout(backend: ReturnType<typeof memoryBackend>, rolloutId = "r-1") {
  const { store } = backend;
  await store.createRollout({
    rolloutId,
    input: storedInput(),
    hostCount: 2,
    waveCount: 2,
    now: T0,
  });
  await store.markRolloutRunning(rolloutId, T0);
  await store.putHosts(
    rolloutId,
    [
      { hostId: I1, instanceId: I1, wave: 0, order: 0 },
      { hostId: I2, instanceId: I2, wave: 1, order: 1 },
    ],
    T0,
  );
  return store;
}

async function runHost(
  backend: ReturnType<typeof memoryBackend>,
  hostId: string,
  wave: number,
  start: number,
  final: "UPGRADED" | "ROLLED_BACK" | "FAILED",
  rolloutId = "r-1",
) {
  const { store } = backend;
  const key = { rolloutId, wave, hostId };
  const steps = [
    ["preflight", "PREFLIGHT", ["PENDING"]],
    ["stage", "STAGING", ["PREFLIGHT"]],
    ["switch", "SWITCHING", ["STAGING"]],
  ] as const;
  let t = start;
  for (const [step, status, from] of steps) {
    await store.recordCommand({
      key,
      step,
      commandId: `${hostId}-${step}`,
      status,
      from,
      now: T0 + t,
    });
    t += 1000;
    // A FAILED switch records no cutover, only the version its FAILED line names.
    const fields =
      step !== "switch"
        ? { stepMs: 1000 }
        : final === "FAILED"
          ? { stepMs: 1000, fromVersion: "1.0.0", runningVersion: "2.0.0" }
          : {
              stepMs: 1000,
              fromVersion: "1.0.0",
              toVersion: final === "UPGRADED" ? "2.0.0" : "1.0.0",
              suspendMs: 400,
              listenerGapMs: 150,
            };
    await store.recordStepResult({
      key,
      step,
      commandId: `${hostId}-${step}`,
      fields,
      now: T0 + t,
    });
  }
  if (final === "UPGRADED") {
    const { items, sha256 } = jobs(2);
    await store.putSnapshot({
      hostId,
      rolloutId,
      instanceId: hostId,
      profile: "demo",
      oldVersion: "1.0.0",
      oldRelease: "/opt/a/releases/1.0.0",
      jobs: items,
      jobsSha256: sha256,
      now: T0 + t,
    });
  }
  const errors = {
    UPGRADED: undefined,
    ROLLED_BACK: { name: "RolledBack", message: "health failed" },
    FAILED: { name: "HostStepFailedError", message: "switch failed (it serves 2.0.0)" },
  };
  const error = errors[final];
  await store.finalizeHost({
    key,
    status: final,
    ...(error === undefined ? {} : { error }),
    now: T0 + t,
  });
}

describe("status", () => {
  it("prints the rollout and one row per host with its rollback window", async () => {
    // Prepare
    const backend = memoryBackend({ names: { [I1]: "web-1" } });
    await seedRollout(backend);
    await runHost(backend, I1, 0, 0, "UPGRADED");
    await runHost(backend, I2, 1, 4000, "ROLLED_BACK");
    const io = recordingIo(T0);

    // Act: no rollout named, the latest is shown.
    const code = await statusCommand(backend, undefined, io);

    // Assess
    expect(code).toBe(EXIT.OK);
    expect(io.lines[0]).toBe("Rollout r-1: RUNNING");
    const rows = io.lines.filter((l) => l.includes(I1) || l.includes(I2));
    expect(rows[0]).toMatch(
      /^web-1 +i-0123456789abcdef0 +0 +1\.0\.0 +2\.0\.0 +2\.0\.0 +done +400 +150 +1\.0\.0 on host \(cleanup pending\)/,
    );
    expect(rows[1]).toMatch(
      /^i-0123456789abcdef1 +i-0123456789abcdef1 +1 +1\.0\.0 +1\.0\.0 +1\.0\.0 +rolled back +400 +150 +- +RolledBack: health failed$/,
    );
  });

  it("shows the version a failed step's FAILED line said the host serves", async () => {
    // Prepare: the switch's resume failed after its cutover: the host serves 2.0.0.
    const backend = memoryBackend();
    await seedRollout(backend);
    await runHost(backend, I1, 0, 0, "FAILED");
    const io = recordingIo(T0);

    // Act
    await statusCommand(backend, "r-1", io);

    // Assess: from 1.0.0, no target reached by the ledger's fields, running 2.0.0.
    const row = io.lines.find((l) => l.startsWith(I1));
    expect(row).toMatch(
      /^i-0123456789abcdef0 +i-0123456789abcdef0 +0 +1\.0\.0 +- +2\.0\.0 +failed /,
    );
  });

  it("says the rollback window closed once the cleanup deleted the old release", async () => {
    const base = {
      hostId: I1,
      rolloutId: "r-1",
      instanceId: I1,
      profile: "demo",
      oldVersion: "1.0.0",
      oldRelease: "/r/1.0.0",
      jobCount: 0,
      jobsSha256: "x",
      chunkCount: 0,
      attempts: 1,
      createdAt: at(0),
    };
    expect(rollbackWindow({ ...base, cleanup: "DONE", lastResult: { status: "DELETED" } })).toBe(
      "1.0.0 cleaned (DELETED)",
    );
    expect(
      rollbackWindow({
        ...base,
        cleanup: "PENDING",
        lastResult: { status: "KEPT", reason: "1 job alive" },
      }),
    ).toBe("1.0.0 on host (cleanup pending; last check KEPT: 1 job alive)");
    expect(rollbackWindow(undefined)).toBe("-");
  });

  it("names an unknown rollout, exit 3", async () => {
    const error = await statusCommand(memoryBackend(), "r-nope", recordingIo(T0)).catch(
      (e: unknown) => e,
    );
    expect(error).toMatchObject({
      message: "unknown rollout r-nope in memory",
      exitCode: EXIT.NOT_FOUND,
    });
  });
});

describe("list", () => {
  it("lists rollouts newest first with host counts, start and end", async () => {
    // Prepare
    const backend = memoryBackend();
    await seedRollout(backend, "r-1");
    await backend.store.createRollout({
      rolloutId: "r-2",
      input: storedInput(),
      hostCount: 5,
      waveCount: 1,
      now: T0 + 10,
    });
    await backend.store.finishRollout({
      rolloutId: "r-1",
      status: "HALTED",
      counts: { UPGRADED: 1, ROLLED_BACK: 1 },
      now: T0 + 9000,
      from: "any",
    });
    const io = recordingIo(T0);

    // Act
    await listCommand(backend, 10, io);

    // Assess
    expect(io.lines[0]).toMatch(
      /^rollout +status +fleet +target +hosts +done +failed +started +ended$/,
    );
    expect(io.lines[2]).toMatch(
      /^r-2 +PLANNED +default +2\.0\.0 +5 +- +0 +2025-03-01T02:00:00\.010Z +-$/,
    );
    expect(io.lines[3]).toMatch(
      /^r-1 +HALTED +default +2\.0\.0 +2 +1 +0 +2025-03-01T02:00:00\.000Z +2025-03-01T02:00:09\.000Z$/,
    );
  });
});

describe("watch", () => {
  it("prints a line per host status change until the rollout ends; 1 when it did not succeed", async () => {
    // Prepare: the ledger moves on between two reads.
    const backend = memoryBackend({ states: { "r-1": "RUNNING" } });
    await seedRollout(backend);
    const io = recordingIo(T0);
    let polls = 0;
    const sleep = io.sleep;
    const moving = {
      ...io,
      sleep: async (ms: number) => {
        polls++;
        if (polls === 1) await runHost(backend, I1, 0, 0, "UPGRADED");
        if (polls === 2) {
          await runHost(backend, I2, 1, 4000, "ROLLED_BACK");
          await backend.store.finishRollout({
            rolloutId: "r-1",
            status: "FAILED",
            counts: {},
            error: { name: "HostsFailed", message: "1 of 2 hosts did not upgrade" },
            now: T0 + 8000,
            from: "any",
          });
        }
        await sleep(ms);
      },
    };

    // Act
    const code = await watchRollout(backend, "r-1", moving, { intervalMs: 500 });

    // Assess
    expect(code).toBe(EXIT.FAILED);
    expect(io.lines).toEqual([
      "    0.0s  i-0123456789abcdef0 wave 0  waiting",
      "    0.0s  i-0123456789abcdef1 wave 1  waiting",
      "    3.0s  i-0123456789abcdef0 wave 0  done (suspended 400 ms, listener gap 150 ms)",
      "    7.0s  i-0123456789abcdef1 wave 1  rolled back: RolledBack: health failed",
      "Rollout r-1: FAILED in 8.0 s — HostsFailed: 1 of 2 hosts did not upgrade",
    ]);
  });

  it("stops when the execution ended while the ledger still says RUNNING", async () => {
    const backend = memoryBackend({ states: { "r-1": "ABORTED" } });
    await seedRollout(backend);
    const io = recordingIo(T0);
    expect(await watchRollout(backend, "r-1", io, { intervalMs: 500 })).toBe(EXIT.FAILED);
    expect(io.lines.at(-1)).toBe(
      "Rollout r-1: the ledger says RUNNING but its execution ended ABORTED",
    );
  });

  it("gives up on a rollout that never appears, exit 3", async () => {
    const backend = memoryBackend();
    const error = await watchRollout(backend, "r-x", recordingIo(T0), {
      intervalMs: 5000,
      appearWithinMs: 20_000,
    }).catch((e: unknown) => e);
    expect(error).toMatchObject({
      message: "unknown rollout r-x in memory",
      exitCode: EXIT.NOT_FOUND,
    });
  });
});

describe("unlock's rule", () => {
  const lock = { fleet: "f", owner: "r-1", acquiredAt: at(0), expiresAt: T0 / 1000 + 60 };
  it("frees an expired lock, or one whose owner no longer runs; refuses a live one", () => {
    expect(decideUnlock(lock, "RUNNING", T0 + 61_000)).toMatchObject({ free: true });
    expect(decideUnlock(lock, "SUCCEEDED", T0)).toEqual({
      free: true,
      reason: "its owner, rollout r-1, ended SUCCEEDED",
    });
    expect(decideUnlock(lock, "NOT_FOUND", T0)).toMatchObject({ free: true });
    expect(decideUnlock(lock, "RUNNING", T0)).toMatchObject({ free: false });
  });
});

describe("the timeline", () => {
  const host = (overrides: Partial<Host>): Host => ({
    rolloutId: "r-1",
    hostId: I1,
    instanceId: I1,
    wave: 0,
    order: 0,
    status: "UPGRADED",
    commands: {},
    stepMs: { preflight: 500, stage: 1000, switch: 2000 },
    suspendMs: 800,
    listenerGapMs: 300,
    updatedAt: at(10_000),
    ...overrides,
  });

  it("places each step at its recorded end, the suspend window and gap at the switch's end", () => {
    const timeline = hostTimeline(
      host({ preflightEndedAt: at(1000), stageEndedAt: at(3000), switchEndedAt: at(6000) }),
    );
    expect(timeline.approximate).toBe(false);
    expect(timeline.resultAt).toBe(T0 + 6000);
    expect(timeline.segments.map((s) => [s.kind, s.start - T0, s.end - T0])).toEqual([
      ["preflight", 500, 1000],
      ["stage", 2000, 3000],
      ["switch", 4000, 6000],
      ["suspend", 5200, 6000],
      ["gap", 5700, 6000],
    ]);
  });

  it("lays the steps of an older item back to back, ending at its last update", () => {
    const timeline = hostTimeline(host({}));
    expect(timeline.approximate).toBe(true);
    expect(timeline.segments.slice(0, 3).map((s) => [s.kind, s.start - T0, s.end - T0])).toEqual([
      ["preflight", 6500, 7000],
      ["stage", 7000, 8000],
      ["switch", 8000, 10_000],
    ]);
  });
});
