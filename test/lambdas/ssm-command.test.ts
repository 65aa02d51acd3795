import { GetCommandInvocationCommand, SSMClient } from "@aws-sdk/client-ssm";
import { mockClient } from "aws-sdk-client-mock";
import { beforeEach, describe, expect, it } from "vitest";
import {
  POLL_INTERVAL_MAX_MS,
  POLL_INTERVAL_MIN_MS,
  pollIntervalMs,
  pollInvocation,
} from "../../lambdas/common/ssm-command.js";
import { fakeClock, I1, T0 } from "./helpers.js";

const ssmMock = mockClient(SSMClient);
const ssm = new SSMClient({
  region: "us-east-1",
  credentials: { accessKeyId: "test", secretAccessKey: "test" },
});

beforeEach(() => {
  ssmMock.reset();
});

describe("pollIntervalMs", () => {
  it.each([
    [0, 100],
    [500, 100],
    [1_000, 200],
    [3_000, 600],
    [5_000, 1_000],
    [600_000, 1_000],
  ])("a command %d ms old is checked again after %d ms", (ageMs, intervalMs) => {
    // Assess
    expect(pollIntervalMs(ageMs)).toBe(intervalMs);
  });

  it("keeps the expected detection lag near a tenth of the step's duration", () => {
    // Prepare: a command ending uniformly within an interval waits half of it on average.
    const durations = [500, 1_000, 2_000, 5_000];

    // Act
    const lags = durations.map((ms) => pollIntervalMs(ms) / 2 / ms);

    // Assess
    for (const lag of lags) expect(lag).toBeLessThanOrEqual(0.1);
    expect(POLL_INTERVAL_MIN_MS).toBe(100);
    expect(POLL_INTERVAL_MAX_MS).toBe(1_000);
  });
});

describe("pollInvocation", () => {
  it("waits the shortest interval after sending before the first check", async () => {
    // Prepare
    ssmMock
      .on(GetCommandInvocationCommand)
      .resolvesOnce({ Status: "InProgress" })
      .resolves({ Status: "Success" });
    const clock = fakeClock();

    // Act
    const outcome = await pollInvocation({
      ssm,
      clock,
      commandId: "cmd-1",
      instanceId: I1,
      deadline: T0 + 20_000,
      sentAt: T0,
    });

    // Assess
    expect(outcome.invocation?.Status).toBe("Success");
    expect(clock.sleeps).toEqual([100, 100]);
    expect(ssmMock).toHaveReceivedCommandTimes(GetCommandInvocationCommand, 2);
  });

  it("checks an older command at once, then at intervals of its age", async () => {
    // Prepare: sent 10 s ago (a Poll after a Wait state)
    ssmMock
      .on(GetCommandInvocationCommand)
      .resolvesOnce({ Status: "InProgress" })
      .resolves({ Status: "Success" });
    const clock = fakeClock(T0 + 10_000);

    // Act
    await pollInvocation({
      ssm,
      clock,
      commandId: "cmd-1",
      instanceId: I1,
      deadline: T0 + 30_000,
      sentAt: T0,
    });

    // Assess
    expect(clock.sleeps).toEqual([1_000]);
  });

  it("checks once at once when the deadline leaves no time, even for a command just sent", async () => {
    // Prepare
    ssmMock.on(GetCommandInvocationCommand).resolves({ Status: "InProgress" });
    const clock = fakeClock();

    // Act
    const outcome = await pollInvocation({
      ssm,
      clock,
      commandId: "cmd-1",
      instanceId: I1,
      deadline: T0,
      sentAt: T0,
    });

    // Assess
    expect(outcome).toEqual({ exists: true, lastStatus: "InProgress" });
    expect(clock.sleeps).toEqual([]);
    expect(ssmMock).toHaveReceivedCommandTimes(GetCommandInvocationCommand, 1);
  });
});
