import { describe, expect, it } from "vitest";
import type { RecordHostEvent, StepState } from "../../lambdas/common/schemas.js";
import { errorFromStates } from "../../lambdas/common/states-error.js";
import { recordHost } from "../../lambdas/record-host/record-host.js";
import { hostItem, I1, ROLLOUT_ID, rolloutItem, T0, testDeps } from "./helpers.js";

const HOST = { rolloutId: ROLLOUT_ID, wave: 2, hostId: I1, instanceId: I1 };
const NOW = new Date(T0).toISOString();

/** Dependencies on a ledger holding the rollout and the host, SWITCHING. */
function ledger() {
  const deps = testDeps({});
  deps.store.putItem(rolloutItem({ failedCount: 0 }));
  deps.store.putItem(
    hostItem({ wave: 2, status: "SWITCHING", updatedAt: new Date(T0 - 60_000).toISOString() }),
  );
  return deps;
}

const step = (
  name: StepState["step"],
  status: string,
  summary?: StepState["summary"],
): StepState => ({
  step: name,
  commandId: `cmd-${name}`,
  done: true,
  waitSeconds: 0,
  status,
  ...(summary === undefined ? {} : { summary }),
});

describe("recordHost", () => {
  it.each<
    [string, Omit<Extract<RecordHostEvent, { outcome: "result" }>, "outcome" | "host">, string]
  >([
    [
      "switched",
      {
        preflight: step("preflight", "READY"),
        stage: step("stage", "STAGED"),
        switch: step("switch", "SWITCHED"),
      },
      "UPGRADED",
    ],
    [
      "unchanged",
      {
        preflight: step("preflight", "READY"),
        stage: step("stage", "ALREADY_STAGED"),
        switch: step("switch", "UNCHANGED"),
      },
      "UPGRADED",
    ],
    ["already on target", { preflight: step("preflight", "SKIPPED") }, "SKIPPED"],
    [
      "halted by the gate",
      { preflight: { step: "preflight", done: true, waitSeconds: 0, status: "HALTED" } },
      "NOT_STARTED",
    ],
  ])("records %s as its final status without counting a failure", async (_, steps, status) => {
    // Prepare
    const deps = ledger();

    // Act
    const result = await recordHost(deps, { outcome: "result", host: HOST, ...steps });

    // Assess
    expect(result).toEqual({ hostId: I1, status });
    const host = await deps.store.getHost(HOST);
    expect(host).toMatchObject({ status, updatedAt: NOW });
    expect(host?.error).toBeUndefined();
    expect(await deps.store.getRollout(ROLLOUT_ID)).toMatchObject({
      failedCount: 0,
      updatedAt: new Date(T0).toISOString(),
    });
    expect(deps.store.calls).not.toContain("incrementFailedCount");
  });

  it("records ROLLED_BACK with the switch's reason and adds one to failedCount", async () => {
    // Prepare
    const deps = ledger();
    deps.clock.advance(5000);

    // Act
    const result = await recordHost(deps, {
      outcome: "result",
      host: HOST,
      preflight: step("preflight", "READY"),
      stage: step("stage", "STAGED"),
      switch: step("switch", "ROLLED_BACK", { reason: "health check failed for 30 s" }),
    });
    const calls = [...deps.store.calls];

    // Assess
    const later = new Date(T0 + 5000).toISOString();
    expect(result).toEqual({ hostId: I1, status: "ROLLED_BACK" });
    expect(await deps.store.getHost(HOST)).toMatchObject({
      status: "ROLLED_BACK",
      error: { name: "RolledBack", message: "health check failed for 30 s" },
      updatedAt: later,
    });
    expect(await deps.store.getRollout(ROLLOUT_ID)).toMatchObject({
      failedCount: 1,
      updatedAt: later,
    });
    // The host's final status first, then the count (docs/contracts.md, "Ledger").
    expect(calls).toEqual(["finalizeHost", "incrementFailedCount"]);
  });

  it("records a failure with the error name and the message from the Lambda error in Cause", async () => {
    // Prepare
    const deps = ledger();
    const cause = JSON.stringify({
      errorType: "HostStepFailedError",
      errorMessage: "stage failed on i-0123456789abcdef0: no space left under /opt/agent",
      trace: ["HostStepFailedError: stage failed", "    at interpretInvocation (file.js:1:1)"],
    });

    // Act
    const result = await recordHost(deps, {
      outcome: "failure",
      host: HOST,
      error: { Error: "HostStepFailedError", Cause: cause },
    });

    // Assess
    expect(result).toEqual({ hostId: I1, status: "FAILED" });
    expect(await deps.store.getHost(HOST)).toMatchObject({
      status: "FAILED",
      error: {
        name: "HostStepFailedError",
        message: "stage failed on i-0123456789abcdef0: no space left under /opt/agent",
      },
      updatedAt: NOW,
    });
    expect((await deps.store.getRollout(ROLLOUT_ID))?.failedCount).toBe(1);
  });

  it("counts a failure once across two identical calls", async () => {
    // Prepare: the first call moves the host to FAILED, the repeat finds it there
    const deps = ledger();
    const event: RecordHostEvent = {
      outcome: "failure",
      host: HOST,
      error: { Error: "States.Timeout", Cause: "" },
    };

    // Act
    const first = await recordHost(deps, event);
    const second = await recordHost(deps, event);

    // Assess
    expect(first).toEqual({ hostId: I1, status: "FAILED" });
    expect(second).toEqual({ hostId: I1, status: "FAILED" });
    expect((await deps.store.getRollout(ROLLOUT_ID))?.failedCount).toBe(1);
    expect(deps.store.calls.filter((call) => call === "incrementFailedCount")).toHaveLength(1);
  });

  it("refuses a result without a finished switch", async () => {
    // Prepare
    const deps = ledger();

    // Act
    const result = recordHost(deps, {
      outcome: "result",
      host: HOST,
      preflight: step("preflight", "READY"),
      stage: step("stage", "STAGED"),
    });

    // Assess
    await expect(result).rejects.toMatchObject({
      name: "InvalidInputError",
      message: expect.stringContaining("switch:"),
    });
    expect(deps.store.calls).toEqual([]);
    expect(await deps.store.getHost(HOST)).toMatchObject({ status: "SWITCHING" });
  });
});

describe("errorFromStates", () => {
  it.each([
    [
      "a Lambda error",
      {
        Error: "CommandTimedOutError",
        Cause: '{"errorType":"CommandTimedOutError","errorMessage":"switch timed out"}',
      },
      "switch timed out",
    ],
    [
      "a plain-text cause",
      { Error: "States.Timeout", Cause: "Task timed out after 60 seconds" },
      "Task timed out after 60 seconds",
    ],
    ["an empty cause", { Error: "States.TaskFailed", Cause: "" }, "States.TaskFailed"],
    ["a missing cause", { Error: "States.Runtime" }, "States.Runtime"],
  ])("reads the message of %s", (_, error, message) => {
    // Act
    const info = errorFromStates(error);

    // Assess
    expect(info).toEqual({ name: error.Error, message });
  });

  it("cuts a long message to 1000 characters", () => {
    // Act
    const info = errorFromStates({ Error: "E", Cause: "x".repeat(5000) });

    // Assess
    expect(info.message).toHaveLength(1000);
  });
});
