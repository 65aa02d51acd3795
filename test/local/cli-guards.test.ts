/**
 * What local mode's CLI decides offline: the exit status from the jobs, the queued
 * jobs in the summary, durations across a wall-clock jump, the guards of a work
 * directory, and file URLs of work dirs holding a space or a '+'.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import {
  artifactDirOf,
  artifactUrlPattern,
  decodeFilePath,
  encodeFilePath,
  isArtifactUrl,
} from "../../lambdas/common/patterns.js";
import { stopwatch } from "../../local/clock.js";
import {
  executionEnded,
  executionStarted,
  localExecutionStatus,
  trackExecutionsIn,
} from "../../local/executions.js";
import { exitStatus, formatSummary } from "../../local/format.js";
import type { RolloutReport } from "../../local/runner.js";
import { checkWritable, lockFile, lockWorkDir } from "../../local/work-dir.js";

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "agent-rollout-cli-guards-"));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

afterEach(() => {
  vi.useRealTimers();
});

const JOBS = {
  submitted: 10,
  completed: 10,
  lost: 0,
  failed: 0,
  failedSubmissions: 0,
  statusUpdatesLost: 0,
  runningAtSwitch: 3,
};

function report(jobs: Partial<RolloutReport["jobs"]>, status = "SUCCEEDED"): RolloutReport {
  return {
    status,
    rolloutId: "local-r",
    rollbackOf: null,
    durationMs: 4_200,
    error: null,
    quotas: { parent: null, children: [] as never },
    hosts: [],
    jobs: { ...JOBS, ...jobs },
    metrics: [],
  };
}

describe("exit status", () => {
  it.each([
    [{}, "SUCCEEDED", 0],
    [{ lost: 1 }, "SUCCEEDED", 1],
    [{ failedSubmissions: 131 }, "SUCCEEDED", 1],
    [{ statusUpdatesLost: 2 }, "SUCCEEDED", 1],
    [{}, "HALTED", 1],
  ])("is %o with rollout %s -> %i", (jobs, status, code) => {
    expect(exitStatus(report(jobs, status))).toBe(code);
  });
});

describe("the summary's Jobs line", () => {
  it("reports the jobs the driver counted as queued", () => {
    const text = formatSummary(report({ details: { queued: 4, suspensions: 2 } }));
    expect(text).toContain("3 running at switch time, 4 queued");
  });

  it("says nothing of queued jobs when the kit's driver does not count them", () => {
    expect(formatSummary(report({}))).not.toContain("queued");
    expect(formatSummary({ ...report({}), rollbackOf: "r-up" })).toMatch(
      /^Rollout local-r \(rollback of r-up\): SUCCEEDED in 4\.2 s$/m,
    );
    expect(formatSummary(report({}))).toMatch(/^Rollout local-r: SUCCEEDED in 4\.2 s$/m);
  });
});

describe("durations", () => {
  it("do not move when the wall clock jumps", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    const watch = stopwatch();
    vi.setSystemTime(Date.now() + 46_800_000);
    await new Promise((r) => setTimeout(r, 20));
    const elapsed = watch.elapsedMs();
    expect(elapsed).toBeGreaterThanOrEqual(15);
    expect(elapsed).toBeLessThan(5_000);
  });
});

describe("a work directory", () => {
  it("is refused, named with the problem, when it cannot be created", () => {
    const file = join(dir, "a-file");
    writeFileSync(file, "");
    expect(() => checkWritable(join(file, "work"))).toThrow(
      expect.objectContaining({
        name: "WorkDirError",
        message: `work dir ${join(file, "work")}: ${file} is not a directory`,
      }),
    );
    expect(existsSync(join(file, "work"))).toBe(false);
  });

  it("is held by one live CLI: a second is refused with its pid", async () => {
    const work = await mkdtemp(join(dir, "held-"));
    const other = spawn("sleep", ["30"]);
    try {
      writeFileSync(lockFile(work), `${other.pid}\n`);
      expect(() => lockWorkDir(work)).toThrow(
        `work dir ${work} is in use by another agent-rollout CLI (pid ${other.pid}); wait for it to end, or use another --work-dir`,
      );
    } finally {
      other.kill("SIGKILL");
    }
  });

  it("takes over the lock of a dead CLI, and releases its own", async () => {
    const work = await mkdtemp(join(dir, "stale-"));
    const dead = spawn("true");
    await new Promise((r) => dead.on("exit", r));
    writeFileSync(lockFile(work), `${dead.pid}\n`);

    const release = lockWorkDir(work);
    expect(readFileSync(lockFile(work), "utf8")).toBe(`${process.pid}\n`);
    release();
    expect(existsSync(lockFile(work))).toBe(false);
  });
});

describe("file URLs of a work dir with a space or a '+'", () => {
  const artifacts = "/tmp/my work+dir/artifacts";
  const url = `file://${encodeFilePath(`${artifacts}/2.0.0/agent.tar.gz`)}`;

  it("are percent-encoded, accepted below the allowed directory, and decode back", () => {
    expect(url).toBe("file:///tmp/my%20work%2Bdir/artifacts/2.0.0/agent.tar.gz");
    expect(isArtifactUrl(url)).toBe(true);
    expect(new RegExp(artifactUrlPattern([artifacts])).test(url)).toBe(true);
    expect(artifactDirOf(url, [artifacts])).toBe(artifacts);
    expect(decodeFilePath(url.slice("file://".length))).toBe(`${artifacts}/2.0.0/agent.tar.gz`);
  });

  it("refuse a path outside it, an encoded dot segment, and a control character", () => {
    expect(artifactDirOf("file:///tmp/my%20work%2Bdir/x.tar.gz", [artifacts])).toBeUndefined();
    expect(
      artifactDirOf("file:///tmp/my%20work%2Bdir/artifacts/%2E%2E/x.tar.gz", [artifacts]),
    ).toBeUndefined();
    expect(decodeFilePath("/tmp/a%0Ab")).toBeUndefined();
    expect(
      new RegExp(artifactUrlPattern([artifacts])).test("file:///tmp/my work+dir/artifacts/a"),
    ).toBe(false);
  });
});

describe("the executions breakLock asks about", () => {
  it("run while their CLI lives, and have ended once it died (kill -9)", async () => {
    const work = await mkdtemp(join(dir, "executions-"));
    trackExecutionsIn(work);
    mkdirSync(join(work, "executions"));
    const live = spawn("sleep", ["30"]);
    const dead = spawn("true");
    await new Promise((r) => dead.on("exit", r));
    try {
      writeFileSync(join(work, "executions", "r-live.pid"), `${live.pid}\n`);
      writeFileSync(join(work, "executions", "r-dead.pid"), `${dead.pid}\n`);
      executionStarted("r-here");

      expect(await localExecutionStatus({ rolloutId: "r-live" } as never)).toBe("RUNNING");
      expect(await localExecutionStatus({ rolloutId: "r-dead" } as never)).toBe("ENDED");
      expect(await localExecutionStatus({ rolloutId: "r-here" } as never)).toBe("RUNNING");
      expect(existsSync(join(work, "executions", "r-here.pid"))).toBe(true);
      executionEnded("r-here");
      expect(await localExecutionStatus({ rolloutId: "r-here" } as never)).toBe("ENDED");
      expect(existsSync(join(work, "executions", "r-here.pid"))).toBe(false);
    } finally {
      live.kill("SIGKILL");
    }
  });
});
