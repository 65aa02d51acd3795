/**
 * Runs the synthesized definition in aws-local-stepfunctions with scripted handlers, to
 * check the paths an execution takes: what each task receives, where errors go.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { type SynthesizedRollout, synthesizeRollout } from "../../local/synthesize.js";

type Handler = (event: Record<string, unknown>) => unknown;
type Scripted = Partial<Record<string, Handler>>;
type StateMachineClass = typeof import("aws-local-stepfunctions").StateMachine;
type RunOptions = import("aws-local-stepfunctions").RunOptions;
type LocalHandlers = NonNullable<NonNullable<RunOptions["overrides"]>["taskResourceLocalHandlers"]>;

let synth: SynthesizedRollout;
let StateMachine: StateMachineClass;

beforeAll(async () => {
  // aws-local-stepfunctions needs Promise.withResolvers, which Node 20 lacks, before it loads.
  const promise = Promise as unknown as { withResolvers?: () => unknown };
  promise.withResolvers ??= () => {
    let resolve: unknown;
    let reject: unknown;
    const p = new Promise((res, rej) => {
      resolve = res;
      reject = rej;
    });
    return { promise: p, resolve, reject };
  };
  ({ StateMachine } = await import("aws-local-stepfunctions"));
  synth = synthesizeRollout();
});

const failure = (name: string, message: string) => Object.assign(new Error(message), { name });

/** Default handlers: two waves of two hosts, every step done at the first poll. */
function handlers(overrides: Scripted = {}): Record<string, Handler> {
  return {
    "plan-rollout": (e) => ({
      rolloutId: e.rolloutId,
      hostCount: 4,
      waveCount: 2,
      batchSize: 2,
      bakeSeconds: 0,
      dryRun: (e.input as { dryRun?: boolean }).dryRun === true,
      waves: [2, 2],
      mode: "rollback" in (e.input as object) ? "rollback" : "rollout",
    }),
    "load-wave": (e) => ({
      wave: e.wave,
      hosts: ["a", "b"].map((suffix) => ({
        hostId: `i-${e.wave}${suffix}`,
        instanceId: `i-${e.wave}${suffix}`,
      })),
    }),
    "host-step": (e) => {
      const step = e.step as string;
      const host = e.host as { hostId: string };
      if (e.action === "send")
        return { step, commandId: `${host.hostId}-${step}`, done: false, waitSeconds: 1 };
      return {
        step,
        commandId: `${host.hostId}-${step}`,
        done: true,
        waitSeconds: 0,
        status: step === "preflight" ? "READY" : "OK",
      };
    },
    "record-host": () => ({ recorded: true }),
    "evaluate-wave": (e) => ({
      decision: (e.wave as number) + 1 >= 2 ? "DONE" : "CONTINUE",
      wave: e.wave,
      nextWave: (e.wave as number) + 1,
      bakeSeconds: 0,
    }),
    "finish-rollout": (e) => ({ status: e.outcome }),
    ...overrides,
  } as Record<string, Handler>;
}

/** Runs one execution; returns the calls made (state, input) and the result or error. */
async function run(input: Record<string, unknown>, overrides: Scripted = {}) {
  const scripted = handlers(overrides);
  const calls: { state: string; input: Record<string, unknown> }[] = [];
  const taskResourceLocalHandlers: LocalHandlers = {};
  for (const [stateName, handlerName] of Object.entries(synth.taskHandlers)) {
    taskResourceLocalHandlers[stateName] = async (input) => {
      const event = input as Record<string, unknown>;
      calls.push({ state: stateName, input: event });
      return (await scripted[handlerName]?.(event)) as never;
    };
  }
  const waits = Object.fromEntries(
    [
      "BakeWave",
      "WaitBeforeVerifyPoll",
      "WaitBeforeRollbackPoll",
      "WaitBeforePreflightPoll",
      "WaitBeforeStagePoll",
      "WaitBeforeSwitchPoll",
      "WaitBeforeRollbackPoll",
    ].map((name) => [name, 0]),
  );
  const execution = new StateMachine(synth.definition as never).run(input as never, {
    overrides: { taskResourceLocalHandlers, waitTimeOverrides: waits },
    // As Step Functions sets it: PlanRollout reads both.
    context: {
      Execution: {
        Name: "rollout-1",
        Id: "arn:aws:states:us-east-1:123456789012:execution:AgentRollout-Rollout:rollout-1",
      },
    } as never,
  });
  try {
    return { calls, output: (await execution.result) as Record<string, unknown>, error: undefined };
  } catch (error) {
    return { calls, output: undefined, error: error as Error };
  }
}

const statesCalled = (calls: { state: string }[]) => calls.map((c) => c.state);

describe("rollout execution paths", () => {
  it("runs every wave, every host through preflight, stage and switch, then finishes DONE", async () => {
    // Act
    const { calls, output, error } = await run({});

    // Assess
    expect(error).toBeUndefined();
    expect(output?.result).toEqual({ status: "DONE" });
    expect(calls.filter((c) => c.state === "LoadWaveHosts").map((c) => c.input)).toEqual([
      { rolloutId: "rollout-1", wave: 0 },
      { rolloutId: "rollout-1", wave: 1 },
    ]);
    const results = calls.filter((c) => c.state === "RecordHostResult").map((c) => c.input);
    expect(results).toHaveLength(4);
    expect(results).toContainEqual({
      outcome: "result",
      mode: "rollout",
      host: { rolloutId: "rollout-1", wave: 1, hostId: "i-1b", instanceId: "i-1b" },
      preflight: expect.objectContaining({ step: "preflight", status: "READY", done: true }),
      stage: expect.objectContaining({ step: "stage", done: true }),
      switch: expect.objectContaining({ step: "switch", done: true }),
    });
    expect(calls.find((c) => c.state === "PollSwitchCommand")?.input).toEqual({
      action: "poll",
      step: "switch",
      host: expect.objectContaining({ hostId: expect.any(String) }),
      command: expect.objectContaining({ step: "switch", done: false }),
    });
    expect(calls.at(-1)).toEqual({
      state: "FinishRollout",
      input: { rolloutId: "rollout-1", outcome: "DONE" },
    });
  });

  it("runs a whole-rollout rollback through the same waves, each host through the rollback step alone", async () => {
    // Act
    const { calls, output, error } = await run({ rollback: "rollout-0" });

    // Assess
    expect(error).toBeUndefined();
    expect(output?.result).toEqual({ status: "DONE" });
    const hostSteps = calls.filter((c) => /^(Send|Poll)[A-Za-z]+Command$/.test(c.state));
    expect(new Set(hostSteps.map((c) => c.state))).toEqual(
      // Then each wave's verification (read-only) of the hosts that went back.
      new Set([
        "SendRollbackCommand",
        "PollRollbackCommand",
        "SendVerifyCommand",
        "PollVerifyCommand",
      ]),
    );
    const results = calls.filter((c) => c.state === "RecordHostResult").map((c) => c.input);
    expect(results).toHaveLength(4);
    expect(results).toContainEqual({
      outcome: "result",
      mode: "rollback",
      host: { rolloutId: "rollout-1", wave: 1, hostId: "i-1b", instanceId: "i-1b" },
      rollback: expect.objectContaining({ step: "rollback", done: true }),
    });
  });

  it("leaves the execution input behind once planned: only the plan goes through the waves", async () => {
    // Prepare: an explicit host list, which can be most of the 256 KiB payload limit
    const instanceIds = Array.from({ length: 500 }, (_, i) => `mi-${String(i).padStart(17, "0")}`);

    // Act
    const { calls, output, error } = await run({ hosts: { instanceIds }, batchSize: 2 });

    // Assess
    expect(error).toBeUndefined();
    expect(calls[0]?.input).toMatchObject({ input: { hosts: { instanceIds } } });
    expect(Object.keys(output ?? {}).sort()).toEqual(["evaluation", "plan", "result", "wave"]);
    expect(output?.plan).toMatchObject({ rolloutId: "rollout-1", batchSize: 2 });
  });

  it("records a skipped host right after preflight, without stage or switch fields", async () => {
    // Act
    const { calls } = await run(
      {},
      {
        "host-step": (e) => ({
          step: e.step,
          commandId: "c",
          done: true,
          waitSeconds: 0,
          status: e.step === "preflight" ? "SKIPPED" : "OK",
        }),
      },
    );

    // Assess
    expect(statesCalled(calls)).not.toContain("SendStageCommand");
    expect(calls.filter((c) => c.state === "RecordHostResult")[0]?.input).toEqual({
      outcome: "result",
      mode: "rollout",
      host: expect.objectContaining({ wave: 0 }),
      preflight: expect.objectContaining({ status: "SKIPPED" }),
    });
  });

  it("records a failing host and carries on with the others", async () => {
    // Act
    const { calls, error } = await run(
      {},
      {
        "host-step": (e) => {
          if ((e.host as { hostId: string }).hostId === "i-0a" && e.step === "stage") {
            throw failure("HostStepFailedError", "stage: sha256 mismatch");
          }
          return handlers()["host-step"]?.(e);
        },
      },
    );

    // Assess
    expect(error).toBeUndefined();
    expect(calls.filter((c) => c.state === "RecordHostFailure").map((c) => c.input)).toEqual([
      {
        outcome: "failure",
        host: { rolloutId: "rollout-1", wave: 0, hostId: "i-0a", instanceId: "i-0a" },
        error: { Error: "HostStepFailedError", Cause: "stage: sha256 mismatch" },
      },
    ]);
    expect(calls.filter((c) => c.state === "RecordHostResult")).toHaveLength(3);
    expect(statesCalled(calls)).toContain("FinishRollout");
  });

  it("rejects a refused plan without calling anything else", async () => {
    // Act
    const { calls, error } = await run(
      {},
      {
        "plan-rollout": () => {
          throw failure("FleetLockedError", "fleet default is locked by rollout-0");
        },
      },
    );

    // Assess
    expect(statesCalled(calls)).toEqual(["PlanRollout"]);
    expect(error?.message).toContain("fleet default is locked by rollout-0");
  });

  it("ends a dry run after planning", async () => {
    // Act
    const { calls, output, error } = await run({ dryRun: true });

    // Assess
    expect(error).toBeUndefined();
    expect(statesCalled(calls)).toEqual(["PlanRollout"]);
    expect(output?.plan).toMatchObject({ dryRun: true });
  });

  it("finishes HALTED when EvaluateWave halts, and fails the execution", async () => {
    // Act
    const { calls, error } = await run(
      {},
      {
        "evaluate-wave": (e) => ({
          decision: "HALT",
          wave: e.wave,
          nextWave: 1,
          bakeSeconds: 0,
          reason: 'the fleet lock of "default" was taken by r-x (breakLock); 0 host(s) failed',
        }),
      },
    );

    // Assess
    expect(calls.filter((c) => c.state === "LoadWaveHosts")).toHaveLength(1);
    expect(calls.at(-1)).toEqual({
      state: "FinishHaltedRollout",
      input: {
        rolloutId: "rollout-1",
        outcome: "HALTED",
        reason: 'the fleet lock of "default" was taken by r-x (breakLock); 0 host(s) failed',
      },
    });
    // The cause is EvaluateWave's reason, not a fixed text.
    expect(error?.message).toContain("was taken by r-x (breakLock); 0 host(s) failed");
  });

  it("verifies a wave again after its bake: a host that stopped serving is rolled back and halts the rollout before the next wave", async () => {
    // Prepare: i-0a serves after the wave, and no longer after the bake
    let verified = 0;
    const hostStep: Handler = (e) => {
      const step = e.step as string;
      const host = e.host as { hostId: string };
      if (step === "verify") {
        if (host.hostId === "i-0a") verified++;
        const stopped = host.hostId === "i-0a" && verified > 1;
        return {
          step,
          commandId: `${host.hostId}-verify-${verified}`,
          done: true,
          waitSeconds: 0,
          status: stopped ? "STOPPED_SERVING" : "SERVING",
          ...(stopped ? { summary: { reason: "on 2.0.0 but not serving it" } } : {}),
        };
      }
      if (step === "revert") {
        return {
          step,
          commandId: `${host.hostId}-revert`,
          done: true,
          waitSeconds: 0,
          status: "ROLLED_BACK",
          summary: { currentVersion: "1.0.0" },
        };
      }
      return {
        step,
        commandId: `${host.hostId}-${step}`,
        done: true,
        waitSeconds: 0,
        status: step === "preflight" ? "READY" : "OK",
      };
    };
    const evaluateWave: Handler = (e) =>
      e.previousDecision === "BAKE"
        ? {
            decision: "HALT",
            wave: e.wave,
            nextWave: 1,
            bakeSeconds: 0,
            reason:
              "1 failed host(s) exceed the failure threshold 0; i-0a stopped serving after the switch",
          }
        : { decision: "BAKE", wave: e.wave, nextWave: 1, bakeSeconds: 30 };

    // Act
    const { calls, error } = await run(
      {},
      { "host-step": hostStep, "evaluate-wave": evaluateWave },
    );

    // Assess: verified after the wave, baked, verified again, rolled back, halted
    const states = statesCalled(calls);
    expect(calls.filter((c) => c.state === "SendVerifyCommand")).toHaveLength(4);
    expect(calls.filter((c) => c.state === "EvaluateWave").map((c) => c.input)).toEqual([
      { rolloutId: "rollout-1", wave: 0, previousDecision: "CONTINUE" },
      { rolloutId: "rollout-1", wave: 0, previousDecision: "BAKE" },
    ]);
    expect(calls.find((c) => c.state === "RecordStoppedServing")?.input).toEqual({
      outcome: "stoppedServing",
      host: { rolloutId: "rollout-1", wave: 0, hostId: "i-0a", instanceId: "i-0a" },
      verify: expect.objectContaining({ status: "STOPPED_SERVING" }),
      revert: expect.objectContaining({ status: "ROLLED_BACK" }),
    });
    const evaluations = states.flatMap((name, at) => (name === "EvaluateWave" ? [at] : []));
    const rollback = states.indexOf("SendRevertCommand");
    expect(rollback).toBeGreaterThan(evaluations[0] ?? Number.POSITIVE_INFINITY);
    expect(rollback).toBeLessThan(evaluations[1] ?? -1);
    expect(states.filter((s) => s === "LoadWaveHosts")).toHaveLength(1);
    expect(states.at(-1)).toBe("FinishHaltedRollout");
    expect(error?.message).toContain("i-0a stopped serving after the switch");
  });

  it("records an unexpected error after planning as a FAILED rollout", async () => {
    // Act
    const { calls, error } = await run(
      {},
      {
        "load-wave": () => {
          throw failure("LedgerConflictError", "rollout rollout-1 is not in the ledger");
        },
      },
    );

    // Assess
    expect(calls.at(-1)).toEqual({
      state: "RecordRolloutFailure",
      input: {
        rolloutId: "rollout-1",
        outcome: "FAILED",
        error: { Error: "LedgerConflictError", Cause: "rollout rollout-1 is not in the ledger" },
      },
    });
    expect(error?.message).toContain("rollout rollout-1 is not in the ledger");
  });
});
