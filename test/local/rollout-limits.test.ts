/**
 * The real rollout definition under the strict runner: a wave of the largest size the
 * input allows, and a plan of the most waves PlanRollout accepts, stay within Step
 * Functions' quotas, whatever their hosts report.
 * Handlers are stubs shaped like the real ones' results, so this runs in seconds.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { MAX_WAVES } from "../../lambdas/plan-rollout/plan-rollout.js";
import { localDefinition } from "../../local/approval.js";
import {
  executionFailure,
  MAX_HISTORY_EVENTS,
  MAX_PAYLOAD_BYTES,
  StrictStateMachine,
} from "../../local/strict-state-machine.js";
import { type SynthesizedRollout, synthesizeRollout } from "../../local/synthesize.js";

/** The largest `waveSize` the rollout input accepts. */
const WAVE_SIZE = 1_000;

let synth: SynthesizedRollout;

beforeAll(() => {
  synth = synthesizeRollout();
});

type Event = Record<string, unknown>;
type Handler = (event: Event) => unknown;

/** A step result as host-step returns it, summary values at their longest (256 chars). */
function stepState(step: string, hostId: string): Event {
  const long = "v".repeat(256);
  return {
    step,
    commandId: `${hostId}-${step}-0123456789abcdef0123456789abcdef`,
    done: true,
    waitSeconds: 0,
    sentAt: "2030-01-01T00:00:00.000Z",
    status: { preflight: "READY", stage: "STAGED", switch: "SWITCHED", verify: "SERVING" }[step],
    summary: { fromVersion: long, toVersion: long, reason: long, healthMs: 1234 },
  };
}

/** Handlers by handler name: one wave of `WAVE_SIZE` hosts; `failEvery`-th host's switch throws. */
function handlers(failEvery: number): Record<string, Handler> {
  return {
    "plan-rollout": (e) => ({
      rolloutId: e.rolloutId,
      hostCount: WAVE_SIZE,
      waveCount: 1,
      batchSize: 100,
      bakeSeconds: 0,
      dryRun: false,
      waves: [WAVE_SIZE],
      mode: "rollout",
    }),
    "load-wave": (e) => ({
      wave: e.wave,
      hosts: Array.from({ length: WAVE_SIZE }, (_, n) => {
        const id = `i-${String(n).padStart(17, "0")}`;
        return { hostId: id, instanceId: id };
      }),
    }),
    "host-step": (e) => {
      const host = e.host as { hostId: string };
      const n = Number(host.hostId.slice(2));
      if (e.step === "switch" && n % failEvery === 0) {
        // A Lambda error's Cause is its JSON with the stack trace: a few KB.
        throw Object.assign(new Error(`switch failed on ${host.hostId}: ${"trace ".repeat(600)}`), {
          name: "HostStepFailedError",
        });
      }
      return stepState(e.step as string, host.hostId);
    },
    "record-host": () => ({ recorded: true }),
    "evaluate-wave": (e) => ({ decision: "DONE", wave: e.wave, nextWave: 1, bakeSeconds: 0 }),
    "finish-rollout": (e) => ({ rolloutId: e.rolloutId, status: "FAILED", recorded: true }),
  };
}

async function runWave(failEvery: number) {
  const scripted = handlers(failEvery);
  const taskResourceLocalHandlers: Record<string, (input: unknown) => Promise<never>> = {};
  for (const [state, name] of Object.entries(synth.taskHandlers)) {
    taskResourceLocalHandlers[state] = async (input) => scripted[name]?.(input as Event) as never;
  }
  const machine = new StrictStateMachine(synth.definition as never);
  const execution = machine.run({} as never, {
    overrides: { taskResourceLocalHandlers: taskResourceLocalHandlers as never },
    context: {
      Execution: {
        Id: "arn:aws:states:us-east-1:000000000000:execution:local:rollout-1",
        Name: "rollout-1",
      },
    } as never,
  });
  try {
    return {
      output: (await execution.result) as Event,
      failure: undefined,
      measurements: machine.measurements,
    };
  } catch (error) {
    return {
      output: undefined,
      failure: executionFailure(error) ?? { Error: String(error) },
      measurements: machine.measurements,
    };
  }
}

describe(`a wave of ${WAVE_SIZE} hosts`, () => {
  it.each([
    ["every host upgraded", Number.POSITIVE_INFINITY],
    ["every other host failing with a long error", 2],
  ])("stays within the quotas: %s", async (_what, failEvery) => {
    // Act
    const { output, failure, measurements } = await runWave(failEvery);

    // Assess
    expect(failure).toBeUndefined();
    expect(output?.result).toMatchObject({ status: "FAILED" });
    const [parent] = measurements.executions;
    expect(parent?.historyEvents).toBeLessThan(MAX_HISTORY_EVENTS);
    expect(parent?.largestPayloadBytes).toBeLessThan(MAX_PAYLOAD_BYTES);
    // One child per host to upgrade it, one to verify it.
    expect(measurements.children.count).toBe(2 * WAVE_SIZE);
    expect(measurements.children.largestPayloadBytes).toBeLessThan(MAX_PAYLOAD_BYTES);
  });
});

describe(`a rollout of MAX_WAVES (${MAX_WAVES}) waves`, () => {
  /** Handlers: one host a wave, every wave baked and verified twice, the first 100 approved. */
  function manyWaves(): Record<string, Handler> {
    const host = (wave: number) => `i-${String(wave).padStart(17, "0")}`;
    return {
      "plan-rollout": (e) => ({
        rolloutId: e.rolloutId,
        hostCount: MAX_WAVES,
        waveCount: MAX_WAVES,
        batchSize: 1,
        bakeSeconds: 1,
        dryRun: false,
        waves: Array.from({ length: MAX_WAVES }, () => 1),
        mode: "rollout",
      }),
      "load-wave": (e) => ({
        wave: e.wave,
        hosts: [{ hostId: host(e.wave as number), instanceId: host(e.wave as number) }],
      }),
      "host-step": (e) => stepState(e.step as string, (e.host as { hostId: string }).hostId),
      "record-host": () => ({ recorded: true }),
      "evaluate-wave": (e) => {
        const wave = e.wave as number;
        if (e.action === "recordApprovalToken") return {};
        if (e.previousDecision !== "BAKE") {
          return { decision: "BAKE", wave, nextWave: wave + 1, bakeSeconds: 1 };
        }
        if (wave + 1 >= MAX_WAVES) return { decision: "DONE", wave, nextWave: wave + 1 };
        return {
          decision: "CONTINUE",
          wave,
          nextWave: wave + 1,
          bakeSeconds: 0,
          ...(wave < 100 ? { approvalTimeoutSeconds: 60 } : {}),
        };
      },
      "finish-rollout": (e) => ({ rolloutId: e.rolloutId, status: "SUCCEEDED", recorded: true }),
    };
  }

  it("stays under the history quota, every wave baked and 100 of them approved", async () => {
    // Prepare
    const scripted = manyWaves();
    const taskResourceLocalHandlers: Record<string, (input: unknown) => Promise<never>> = {};
    for (const [state, name] of Object.entries(synth.taskHandlers)) {
      taskResourceLocalHandlers[state] = async (input) => scripted[name]?.(input as Event) as never;
    }
    // Without the approval's TimeoutSecondsPath, which aws-local-stepfunctions reads too early.
    const machine = new StrictStateMachine(localDefinition(synth.definition) as never);

    // Act
    const execution = machine.run({} as never, {
      overrides: {
        taskResourceLocalHandlers: taskResourceLocalHandlers as never,
        waitTimeOverrides: { BakeWave: 0 },
      },
      context: {
        Execution: {
          Id: "arn:aws:states:us-east-1:000000000000:execution:local:rollout-waves",
          Name: "rollout-waves",
        },
        Task: { Token: "token" },
      } as never,
    });
    const output = (await execution.result) as Event;

    // Assess: 16 + 45 per baked wave + 8 per approval (docs/benchmarks.md)
    expect(output.result).toMatchObject({ status: "SUCCEEDED" });
    const [parent] = machine.measurements.executions;
    expect(parent?.historyEvents).toBeLessThan(MAX_HISTORY_EVENTS);
    expect(parent?.historyEvents).toBeGreaterThan(45 * MAX_WAVES);
  }, 120_000);
});
