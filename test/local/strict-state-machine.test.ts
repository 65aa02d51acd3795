/**
 * The strict local runner refuses what Step Functions refuses: payloads above 256 KiB
 * (States.DataLimitExceeded) and histories above 25,000 events (States.Runtime), both
 * without running any Catch.
 */
import { describe, expect, it } from "vitest";
import {
  executionFailure,
  MAX_HISTORY_EVENTS,
  MAX_PAYLOAD_BYTES,
  StrictStateMachine,
} from "../../local/strict-state-machine.js";

type Definition = ConstructorParameters<typeof StrictStateMachine>[0];
type Handlers = Record<string, (input: never) => Promise<unknown>>;

const KIB = 1024;
const text = (bytes: number) => "x".repeat(bytes);
const catchAll = [{ ErrorEquals: ["States.ALL"], Next: "Caught", ResultPath: "$.error" }];
const caught = { Caught: { Type: "Pass", End: true } } as const;

/** Runs `definition` to its end; returns its output or its failure, and the states entered. */
async function run(definition: Definition, handlers: Handlers = {}, input: unknown = {}) {
  const machine = new StrictStateMachine(definition);
  const { measurements } = machine;
  const execution = machine.run(input as never, {
    overrides: { taskResourceLocalHandlers: handlers as never },
  });
  const entered: string[] = [];
  const events = (async () => {
    for await (const event of execution.eventLogs) {
      if (event.type === "StateEntered") entered.push(event.state.name);
    }
  })();
  try {
    const output = await execution.result;
    await events;
    return { output, failure: undefined, entered, measurements };
  } catch (error) {
    await events;
    return { output: undefined, failure: executionFailure(error), entered, measurements };
  }
}

describe("payload quota", () => {
  it("fails a state whose output crosses 256 KiB with States.DataLimitExceeded; its Catch does not run", async () => {
    // Prepare: each result fits, but the second one merged into the state does not.
    const definition = {
      StartAt: "First",
      States: {
        First: {
          Type: "Task",
          Resource: "arn:aws:lambda:us-east-1:0:function:f",
          ResultPath: "$.a",
          Next: "Second",
        },
        Second: {
          Type: "Task",
          Resource: "arn:aws:lambda:us-east-1:0:function:f",
          ResultPath: "$.b",
          Catch: catchAll,
          Next: "Done",
        },
        Done: { Type: "Succeed" },
        ...caught,
      },
    } as Definition;
    const handlers = {
      First: async () => text(150 * KIB),
      Second: async () => text(150 * KIB),
    };

    // Act
    const { failure, entered } = await run(definition, handlers);

    // Assess
    expect(failure).toEqual({
      Error: "States.DataLimitExceeded",
      Cause:
        "The state/task 'Second' returned a result with a size exceeding the maximum number of bytes service limit.",
    });
    expect(entered).toEqual(["First", "Second"]);
  });

  it("fails a Task whose raw result is above the quota, whatever its ResultPath", async () => {
    // Prepare
    const definition = {
      StartAt: "Big",
      States: {
        Big: {
          Type: "Task",
          Resource: "arn:aws:lambda:us-east-1:0:function:f",
          ResultPath: null,
          Catch: catchAll,
          End: true,
        },
        ...caught,
      },
    } as Definition;

    // Act
    const { failure, entered } = await run(definition, {
      Big: async () => text(MAX_PAYLOAD_BYTES),
    });

    // Assess
    expect(failure?.Error).toBe("States.DataLimitExceeded");
    expect(entered).not.toContain("Caught");
  });

  it("lets a state output of exactly 256 KiB through", async () => {
    // Prepare: the JSON string "xxx…" is the payload, quotes included.
    const definition = {
      StartAt: "Exact",
      States: {
        Exact: { Type: "Task", Resource: "arn:aws:lambda:us-east-1:0:function:f", End: true },
      },
    } as Definition;

    // Act
    const { output, failure, measurements } = await run(definition, {
      Exact: async () => text(MAX_PAYLOAD_BYTES - 2),
    });

    // Assess
    expect(failure).toBeUndefined();
    expect(output).toHaveLength(MAX_PAYLOAD_BYTES - 2);
    expect(measurements.executions).toEqual([
      {
        largestPayloadBytes: MAX_PAYLOAD_BYTES,
        largestPayloadAt: "Exact task result",
        historyEvents: 7,
      },
    ]);
  });

  it.each(["INLINE", "DISTRIBUTED"])(
    "fails a %s Map whose collected results pass 256 KiB even when ResultPath discards them",
    async (mode) => {
      // Prepare: 300 items of 1 KiB each, every one far below the quota.
      const definition = {
        StartAt: "EachItem",
        States: {
          EachItem: {
            Type: "Map",
            ItemsPath: "$.items",
            ItemProcessor: {
              ProcessorConfig: { Mode: mode, ExecutionType: "STANDARD" },
              StartAt: "Work",
              States: {
                Work: {
                  Type: "Task",
                  Resource: "arn:aws:lambda:us-east-1:0:function:f",
                  End: true,
                },
              },
            },
            ResultPath: null,
            Catch: catchAll,
            End: true,
          },
          ...caught,
        },
      } as Definition;
      const items = Array.from({ length: 300 }, (_, i) => i);

      // Act
      const { failure, entered } = await run(
        definition,
        { Work: async () => text(KIB) },
        { items },
      );

      // Assess
      expect(failure).toEqual({
        Error: "States.DataLimitExceeded",
        Cause:
          "The state/task 'EachItem' returned a result with a size exceeding the maximum number of bytes service limit.",
      });
      expect(entered).not.toContain("Caught");
    },
  );
});

describe("measurements", () => {
  it("measures each Distributed Map child apart from its parent", async () => {
    // Prepare: 3 children, each one Task returning a 1 KiB string (1,026 bytes of JSON).
    const definition = {
      StartAt: "EachItem",
      States: {
        EachItem: {
          Type: "Map",
          ItemsPath: "$.items",
          ItemProcessor: {
            ProcessorConfig: { Mode: "DISTRIBUTED", ExecutionType: "STANDARD" },
            StartAt: "Work",
            States: {
              Work: { Type: "Task", Resource: "arn:aws:lambda:us-east-1:0:function:f", End: true },
            },
          },
          ResultPath: null,
          End: true,
        },
      },
    } as Definition;

    // Act
    const { failure, measurements } = await run(
      definition,
      { Work: async () => text(KIB) },
      { items: [1, 2, 3] },
    );

    // Assess: a child writes ExecutionStarted, 5 Task events, ExecutionSucceeded; the
    // parent ExecutionStarted, 6 Map events, ExecutionSucceeded. The parent's largest
    // payload is the collected array: 3 x 1,026 bytes, 2 commas, 2 brackets.
    expect(failure).toBeUndefined();
    expect(measurements.children).toEqual({
      count: 3,
      largestPayloadBytes: KIB + 2,
      largestPayloadAt: "Work task result",
      mostHistoryEvents: 7,
    });
    expect(measurements.executions).toEqual([
      {
        largestPayloadBytes: 3 * (KIB + 2) + 4,
        largestPayloadAt: "EachItem collected results",
        historyEvents: 8,
      },
    ]);
  });
});

describe("history quota", () => {
  /**
   * Task ▶ Choice ▶ Task ▶ … for `iterations` rounds, then Succeed. Events: ExecutionStarted,
   * 7 a round (Task: Entered, Scheduled, Started, Succeeded, Exited; Choice: Entered,
   * Exited), SucceedStateEntered/Exited, ExecutionSucceeded = 7n + 4.
   */
  const loop = {
    StartAt: "Work",
    States: {
      Work: {
        Type: "Task",
        Resource: "arn:aws:lambda:us-east-1:0:function:f",
        Catch: catchAll,
        Next: "Again",
      },
      Again: {
        Type: "Choice",
        Choices: [{ Variable: "$.left", NumericGreaterThan: 0, Next: "Work" }],
        Default: "Done",
      },
      Done: { Type: "Succeed" },
      ...caught,
    },
  } as Definition;
  const countDown = { Work: async (input: { left: number }) => ({ left: input.left - 1 }) };
  const lastFitting = Math.floor((MAX_HISTORY_EVENTS - 4) / 7);

  it("runs a loop whose history is just under 25,000 events, and measures it", async () => {
    // Act
    const { output, failure, measurements } = await run(loop, countDown, { left: lastFitting });

    // Assess
    expect(failure).toBeUndefined();
    expect(output).toEqual({ left: 0 });
    expect(measurements.executions.map((e) => e.historyEvents)).toEqual([7 * lastFitting + 4]);
    expect(7 * lastFitting + 4).toBe(24_994);
  });

  it("fails a loop one round over 25,000 events with States.Runtime; its Catch does not run", async () => {
    // Act
    const { failure, entered } = await run(loop, countDown, { left: lastFitting + 1 });

    // Assess
    expect(failure).toEqual({
      Error: "States.Runtime",
      Cause: "The execution reached the maximum number of history events (25000).",
    });
    expect(entered).not.toContain("Caught");
  });
});
