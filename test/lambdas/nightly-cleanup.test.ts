import { devNull } from "node:os";
import {
  GetCommandInvocationCommand,
  type GetCommandInvocationCommandOutput,
  SendCommandCommand,
  SSMClient,
} from "@aws-sdk/client-ssm";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { mockClient } from "aws-sdk-client-mock";
import { afterAll, beforeEach, describe, expect, it, vi } from "vitest";
import {
  type NightlyCleanupConfig,
  nightlyCleanup,
} from "../../lambdas/nightly-cleanup/nightly-cleanup.js";
import {
  awsError,
  BUCKET,
  fakeClock,
  I1,
  I2,
  I3,
  snapshotItem,
  T0,
  TABLE,
  testDeps,
} from "./helpers.js";

const ssmMock = mockClient(SSMClient);
const ddbMock = mockClient(DynamoDBDocumentClient);

const CONFIG: NightlyCleanupConfig = {
  documentPrefix: "AR",
  outputBucket: BUCKET,
  deliveryTimeoutSeconds: 60,
  concurrency: 4,
};
const context = (remainingMs = 900_000) => ({ getRemainingTimeInMillis: () => remainingMs });

/** A pending snapshot of `hostId` for `rolloutId` whose jobs hash to `sha` × 64. */
function snapshot(hostId: string, rolloutId: string, sha = "b") {
  return snapshotItem(hostId, rolloutId, { jobsSha256: sha.repeat(64) });
}

/** Domain dependencies on a ledger holding `snapshots`. */
function ledger(snapshots: ReturnType<typeof snapshot>[], clock = fakeClock()) {
  const deps = testDeps(CONFIG, clock);
  for (const item of snapshots) deps.store.putItem(item);
  return deps;
}

function done(
  instanceId: string,
  result: Record<string, unknown>,
): GetCommandInvocationCommandOutput {
  return {
    $metadata: {},
    InstanceId: instanceId,
    Status: "Success",
    StatusDetails: "Success",
    ResponseCode: 0,
    StandardOutputContent: `${JSON.stringify({ step: "cleanup", ...result })}\n`,
  };
}

beforeEach(() => {
  ssmMock.reset();
  ddbMock.reset();
});

describe("nightlyCleanup", () => {
  it("cleans each snapshot with its own profile's document, never one named by a malformed profile", async () => {
    // Prepare
    ssmMock
      .on(SendCommandCommand, { InstanceIds: [I1] })
      .resolves({ Command: { CommandId: "c-1" } });
    ssmMock
      .on(SendCommandCommand, { InstanceIds: [I2] })
      .resolves({ Command: { CommandId: "c-2" } });
    ssmMock
      .on(GetCommandInvocationCommand, { CommandId: "c-1" })
      .resolves(done(I1, { status: "DELETED", release: "/opt/agent/releases/1.0.0", alive: 0 }));
    ssmMock
      .on(GetCommandInvocationCommand, { CommandId: "c-2" })
      .resolves(done(I2, { status: "DELETED", release: "/opt/agent/releases/1.0.0", alive: 0 }));
    const deps = ledger([
      snapshotItem(I1, "r-1", { jobsSha256: "b".repeat(64), profile: "fta-like" }),
      snapshotItem(I2, "r-1", { jobsSha256: "c".repeat(64) }),
      snapshotItem(I3, "r-1", { jobsSha256: "d".repeat(64), profile: "Demo;x" }),
    ]);

    // Act
    const result = await nightlyCleanup(deps, {}, context());

    // Assess
    expect(ssmMock).toHaveReceivedCommandWith(SendCommandCommand, {
      DocumentName: "AR-Cleanup-fta-like",
      InstanceIds: [I1],
      Parameters: expect.objectContaining({ profile: ["fta-like"] }),
    });
    expect(ssmMock).toHaveReceivedCommandWith(SendCommandCommand, {
      DocumentName: "AR-Cleanup-demo",
      InstanceIds: [I2],
    });
    expect(ssmMock).toHaveReceivedCommandTimes(SendCommandCommand, 2);
    expect(result.deleted.map((e) => e.hostId).sort()).toEqual([I1, I2].sort());
    expect(result.failed).toEqual([
      expect.objectContaining({ hostId: I3, reason: expect.stringContaining('"Demo;x"') }),
    ]);
  });

  it("deletes, keeps or retries each pending snapshot and records the outcome", async () => {
    // Prepare
    ssmMock
      .on(SendCommandCommand, { InstanceIds: [I1] })
      .resolves({ Command: { CommandId: "c-1" } });
    ssmMock
      .on(SendCommandCommand, { InstanceIds: [I2] })
      .resolves({ Command: { CommandId: "c-2" } });
    ssmMock
      .on(SendCommandCommand, { InstanceIds: [I3] })
      .resolves({ Command: { CommandId: "c-3" } });
    ssmMock
      .on(GetCommandInvocationCommand, { CommandId: "c-1" })
      .rejectsOnce(awsError("InvocationDoesNotExist"))
      .resolves(done(I1, { status: "DELETED", release: "/opt/agent/releases/1.0.0", alive: 0 }));
    ssmMock.on(GetCommandInvocationCommand, { CommandId: "c-2" }).resolves(
      done(I2, {
        status: "KEPT",
        release: "/opt/agent/releases/1.0.0",
        alive: 2,
        reason: "2 recorded jobs still running",
      }),
    );
    ssmMock.on(GetCommandInvocationCommand, { CommandId: "c-3" }).resolves({
      $metadata: {},
      InstanceId: I3,
      Status: "TimedOut",
      StatusDetails: "DeliveryTimedOut",
      ResponseCode: -1,
    });
    const deps = ledger([snapshot(I1, "r-1"), snapshot(I2, "r-1", "c"), snapshot(I3, "r-1", "d")]);

    // Act
    const result = await nightlyCleanup(deps, {}, context());

    // Assess
    expect(result).toEqual({
      checked: 3,
      deleted: [
        { hostId: I1, rolloutId: "r-1", release: "/opt/agent/releases/1.0.0", reason: "DELETED" },
      ],
      kept: [
        {
          hostId: I2,
          rolloutId: "r-1",
          release: "/opt/agent/releases/1.0.0",
          reason: "2 recorded jobs still running",
        },
      ],
      failed: [
        {
          hostId: I3,
          rolloutId: "r-1",
          release: "/opt/agent/releases/1.0.0",
          reason: `HostUnreachableError: cleanup: command not run on ${I3} (DeliveryTimedOut)`,
        },
      ],
      deferred: 0,
      corrupt: [],
    });
    expect(ssmMock).toHaveReceivedCommandWith(SendCommandCommand, {
      DocumentName: "AR-Cleanup-demo",
      InstanceIds: [I1],
      Parameters: {
        profile: ["demo"],
        releaseVersion: ["1.0.0"],
        rolloutId: ["r-1"],
        snapshotSha256: ["b".repeat(64)],
      },
      TimeoutSeconds: 60,
      OutputS3BucketName: BUCKET,
      OutputS3KeyPrefix: `commands/cleanup/r-1/${I1}`,
      Comment: "agent-rollout cleanup r-1",
    });
    // DELETED: done, out of the pending list.
    expect(await deps.store.getSnapshot(I1, "r-1")).toMatchObject({
      cleanup: "DONE",
      attempts: 1,
      lastCheckedAt: expect.stringMatching(/^2025-03-01T02:00:00/),
      lastResult: { status: "DELETED", alive: 0 },
    });
    // KEPT and unreachable: an attempt, still pending.
    expect((await deps.store.listPendingCleanups()).items).toEqual([
      expect.objectContaining({
        hostId: I2,
        cleanup: "PENDING",
        attempts: 1,
        // The shared clock moved while another host was polled.
        lastCheckedAt: expect.stringMatching(/^2025-03-01T02:00:00/),
        lastResult: { status: "KEPT", reason: "2 recorded jobs still running", alive: 2 },
      }),
      expect.objectContaining({
        hostId: I3,
        cleanup: "PENDING",
        attempts: 1,
        lastResult: {
          status: "ERROR",
          error: {
            name: "HostUnreachableError",
            message: `cleanup: command not run on ${I3} (DeliveryTimedOut)`,
          },
        },
      }),
    ]);
  });

  it("skips a corrupt snapshot item, reports its key, and cleans every other host", async () => {
    // Prepare
    ssmMock.on(SendCommandCommand).callsFake((input: { InstanceIds: string[] }) => ({
      Command: { CommandId: `c-${input.InstanceIds[0]}` },
    }));
    ssmMock
      .on(GetCommandInvocationCommand)
      .callsFake((input: { InstanceId: string }) =>
        done(input.InstanceId, { status: "DELETED", release: "/opt/agent/releases/1.0.0" }),
      );
    const deps = ledger([
      snapshot(I1, "r-1"),
      { ...snapshot(I2, "r-1"), jobCount: "2" as unknown as number },
      snapshot(I3, "r-1"),
    ]);

    // Act
    const result = await nightlyCleanup(deps, {}, context());

    // Assess
    expect(result.deleted.map((entry) => entry.hostId)).toEqual([I1, I3]);
    expect(result.corrupt).toEqual([`HOST#${I2} SNAPSHOT#r-1`]);
    expect(result.checked).toBe(2);
    expect(ssmMock).toHaveReceivedCommandTimes(SendCommandCommand, 2);
  });

  it("records an offline host SSM refuses as a failed attempt", async () => {
    // Prepare
    const deps = ledger([snapshot(I1, "r-1")]);
    ssmMock
      .on(SendCommandCommand)
      .rejects(awsError("InvalidInstanceId", "Instances [i-…] not in a valid state"));

    // Act
    const result = await nightlyCleanup(deps, {}, context());

    // Assess
    expect(result.failed).toEqual([
      expect.objectContaining({
        hostId: I1,
        reason: expect.stringMatching(/^HostUnreachableError: instance i-/),
      }),
    ]);
    expect(result.deleted).toEqual([]);
    expect(await deps.store.getSnapshot(I1, "r-1")).toMatchObject({
      cleanup: "PENDING",
      attempts: 1,
      lastResult: { status: "ERROR", error: { name: "HostUnreachableError" } },
    });
  });

  it("runs one command at a time per host", async () => {
    // Prepare: two snapshots on the same host
    const deps = ledger([snapshot(I1, "r-1"), snapshot(I1, "r-2")]);
    let running = 0;
    let maxRunning = 0;
    let counter = 0;
    ssmMock.on(SendCommandCommand).callsFake(() => {
      running++;
      maxRunning = Math.max(maxRunning, running);
      return { Command: { CommandId: `c-${++counter}` } };
    });
    ssmMock.on(GetCommandInvocationCommand).callsFake(() => {
      running--;
      return done(I1, { status: "ALREADY_DELETED" });
    });

    // Act
    const result = await nightlyCleanup(deps, {}, context());

    // Assess
    expect(maxRunning).toBe(1);
    expect(result.deleted.map((d) => d.rolloutId)).toEqual(["r-1", "r-2"]);
    expect((await deps.store.listPendingCleanups()).items).toEqual([]);
  });

  it("defers snapshots it has no time left for and gives up waiting before the end", async () => {
    // Prepare: 20 s left → 15 s of work; each command never finishes
    const clock = fakeClock();
    const deps = ledger([snapshot(I1, "r-1"), snapshot(I1, "r-2")], clock);
    ssmMock.on(SendCommandCommand).resolves({ Command: { CommandId: "c-1" } });
    ssmMock
      .on(GetCommandInvocationCommand)
      .resolves({ $metadata: {}, InstanceId: I1, Status: "InProgress" });

    // Act
    const result = await nightlyCleanup(deps, {}, context(20_000));

    // Assess
    expect(result.checked).toBe(1);
    expect(result.deferred).toBe(1);
    expect(result.failed).toEqual([
      expect.objectContaining({
        rolloutId: "r-1",
        reason: expect.stringContaining(
          "CommandTimedOutError: cleanup command c-1 still InProgress",
        ),
      }),
    ]);
    expect(clock.now() - T0).toBeLessThanOrEqual(15_000);
    expect(ssmMock).toHaveReceivedCommandTimes(SendCommandCommand, 1);
    // The deferred snapshot is untouched, left for the next run.
    expect(await deps.store.getSnapshot(I1, "r-2")).toMatchObject({
      cleanup: "PENDING",
      attempts: 0,
    });
    expect(await deps.store.getSnapshot(I1, "r-1")).toMatchObject({ attempts: 1 });
  });

  it("counts a malformed cleanup result as a failed attempt", async () => {
    // Prepare
    const deps = ledger([snapshot(I1, "r-1")]);
    ssmMock.on(SendCommandCommand).resolves({ Command: { CommandId: "c-1" } });
    ssmMock.on(GetCommandInvocationCommand).resolves(done(I1, { status: "GONE" }));

    // Act
    const result = await nightlyCleanup(deps, {}, context());

    // Assess
    expect(result.failed).toEqual([
      expect.objectContaining({
        reason: expect.stringContaining("CommandOutputError: cleanup result line: status:"),
      }),
    ]);
    expect(await deps.store.getSnapshot(I1, "r-1")).toMatchObject({
      cleanup: "PENDING",
      attempts: 1,
      lastResult: { status: "ERROR", error: { name: "CommandOutputError" } },
    });
  });
});

describe("nightly-cleanup handler", () => {
  afterAll(() => {
    vi.unstubAllEnvs();
  });

  it("fails loudly, naming the variable, when DOCUMENT_PREFIX is missing", async () => {
    // Prepare
    vi.stubEnv("TABLE_NAME", TABLE);
    vi.stubEnv("OUTPUT_BUCKET", BUCKET);
    vi.stubEnv("LAMBDA_LOG_FILE", devNull);
    const { handler } = await import("../../lambdas/nightly-cleanup/index.js");

    // Act
    const result = handler({}, { getRemainingTimeInMillis: () => 60_000, awsRequestId: "req-1" });

    // Assess
    await expect(result).rejects.toMatchObject({
      name: "ConfigurationError",
      message: "environment: DOCUMENT_PREFIX is required",
    });
    expect(ddbMock.calls()).toHaveLength(0);
  });
});
