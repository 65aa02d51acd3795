/**
 * The real rollout definition under the strict runner: a wave of the largest size the
 * input allows stays within Step Functions' quotas, whatever its hosts report.
 * Handlers are stubs shaped like the real ones' results, so this runs in seconds.
 */
import { beforeAll, describe, expect, it } from "vitest";
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
    status: step === "preflight" ? "READY" : step === "stage" ? "STAGED" : "SWITCHED",
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
    expect(measurements.children.count).toBe(WAVE_SIZE);
    expect(measurements.children.largestPayloadBytes).toBeLessThan(MAX_PAYLOAD_BYTES);
  });
});
