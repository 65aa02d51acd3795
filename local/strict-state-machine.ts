/**
 * aws-local-stepfunctions with the limits Step Functions enforces and the library does
 * not: the 256 KiB payload quota and the 25,000-event execution history. Local mode and
 * the tests run the rollout through {@link StrictStateMachine}, so a definition that
 * would die on AWS dies locally too, with AWS's error and without running any Catch.
 *
 * How: every execution the library runs (the root, each Map iteration, each Parallel
 * branch) goes through `StateMachine.prototype.execute`. It is wrapped once, and for
 * executions started by {@link StrictStateMachine} only, the execution's own event
 * logger is instrumented: the library dispatches `StateEntered`/`StateExited`/... from
 * inside the execution loop, synchronously, so a check that throws there fails the
 * execution at that very transition, outside the state's Retry and Catch handling.
 * Nested executions find their parent through an `AsyncLocalStorage`.
 *
 * The checks and the AWS pages they come from are listed in docs/aws-fidelity.md.
 *
 * @module
 */
import "./polyfills.js";
import { AsyncLocalStorage } from "node:async_hooks";
import { ExecutionError, type RunOptions, StateMachine } from "aws-local-stepfunctions";

/** Step Functions' payload quota: 256 KiB of UTF-8 JSON per state input or output. */
export const MAX_PAYLOAD_BYTES = 262_144;
/** Step Functions' hard quota of history events per execution. */
export const MAX_HISTORY_EVENTS = 25_000;

/** The limits a {@link StrictStateMachine} enforces (tests lower them). */
export interface ExecutionLimits {
  /** @default MAX_PAYLOAD_BYTES */
  readonly maxPayloadBytes: number;
  /** @default MAX_HISTORY_EVENTS */
  readonly maxHistoryEvents: number;
}

/**
 * An error Step Functions raises itself and no Retry or Catch handles
 * (`States.DataLimitExceeded`, `States.Runtime`). The library honours
 * `isRetryable`/`isCatchable` on any thrown error.
 */
export class UncatchableStatesError extends Error {
  readonly isRetryable = false;
  readonly isCatchable = false;

  constructor(name: "States.DataLimitExceeded" | "States.Runtime", cause: string) {
    super(cause);
    this.name = name;
  }
}

/** What one execution came closest to the quotas with. */
export interface ExecutionMeasure {
  /** Largest payload checked (a state's input or output, a Task's input or raw result, a Map's collected results), UTF-8 bytes. */
  readonly largestPayloadBytes: number;
  /** Which payload that was, e.g. `LoadWaveHosts output`. */
  readonly largestPayloadAt: string;
  /** History events written, the last one included. */
  readonly historyEvents: number;
}

/** What the executions of one {@link StrictStateMachine} measured against the quotas. */
export interface StrictMeasurements {
  /** Each run's top-level execution, in the order they ended. */
  readonly executions: ExecutionMeasure[];
  /** Distributed Map child executions: how many ended, and the largest of each figure. */
  readonly children: {
    count: number;
    largestPayloadBytes: number;
    largestPayloadAt: string;
    mostHistoryEvents: number;
  };
}

/** `{Error, Cause}` of a failed execution, as `DescribeExecution` reports it. */
export interface ExecutionFailure {
  readonly Error: string;
  readonly Cause: string;
}

/**
 * The error and cause of an execution's failure, from what `result` rejected with; the
 * library wraps the error that ended the execution in an `ExecutionError`.
 */
export function executionFailure(error: unknown): ExecutionFailure | undefined {
  if (!(error instanceof ExecutionError)) return undefined;
  const cause = error.cause;
  if (cause instanceof Error) return { Error: cause.name, Cause: cause.message };
  return { Error: "States.Runtime", Cause: String(cause) };
}

type Json = Parameters<StateMachine["run"]>[0];
type Execution = ReturnType<StateMachine["run"]>;
type AslState = { Type: string; ItemProcessor?: { ProcessorConfig?: { Mode?: string } } } & Record<
  string,
  unknown
>;

const LIMITS = Symbol("strictExecutionLimits");
const MEASUREMENTS = Symbol("strictExecutionMeasurements");

/** The history and largest payload of one execution (inline children share their parent's). */
interface Tally {
  count: number;
  largestPayloadBytes: number;
  largestPayloadAt: string;
}

/** State of one execution (root, Map iteration or Parallel branch) being checked. */
interface Guard {
  readonly limits: ExecutionLimits;
  readonly states: Record<string, AslState>;
  readonly parent: Guard | undefined;
  /** Events of the execution history this execution writes to (shared by inline children). */
  readonly history: Tally;
  /** Whether {@link history} is this execution's own (top level or Distributed Map child). */
  readonly ownsHistory: boolean;
  /** Where an execution that owns its history reports it when it ends. */
  readonly measurements: StrictMeasurements | undefined;
  /** State now running, and the result array it collects if it is a Map or Parallel. */
  current?: { name: string; state: AslState; collectedBytes: number; collected: number };
}

const guards = new AsyncLocalStorage<Guard>();

/** History events AWS writes when a state of `type` is entered (and its first attempt ends). */
function enteredEvents(state: AslState): number {
  switch (state.Type) {
    // TaskStateEntered, LambdaFunctionScheduled, LambdaFunctionStarted, LambdaFunctionSucceeded|Failed.
    case "Task":
      return 4;
    // MapStateEntered, MapStateStarted (+ MapRunStarted in distributed mode).
    case "Map":
      return isDistributed(state) ? 3 : 2;
    // ParallelStateEntered, ParallelStateStarted.
    case "Parallel":
      return 2;
    default:
      return 1;
  }
}

/** History events AWS writes when a state of `type` is exited. */
function exitedEvents(state: AslState): number {
  switch (state.Type) {
    // MapStateSucceeded, MapStateExited (+ MapRunSucceeded).
    case "Map":
      return isDistributed(state) ? 3 : 2;
    // ParallelStateSucceeded, ParallelStateExited.
    case "Parallel":
      return 2;
    // <Type>StateExited; a Fail state has none (the execution fails).
    default:
      return 1;
  }
}

function isDistributed(state: AslState | undefined): boolean {
  return state?.Type === "Map" && state.ItemProcessor?.ProcessorConfig?.Mode === "DISTRIBUTED";
}

function bytes(value: unknown): number {
  const text = JSON.stringify(value);
  return text === undefined ? 0 : Buffer.byteLength(text, "utf8");
}

function dataLimit(message: string): UncatchableStatesError {
  return new UncatchableStatesError("States.DataLimitExceeded", message);
}

/** Adds non-final history events; the execution's last event must still fit. */
function addEvents(guard: Guard, count: number): void {
  guard.history.count += count;
  if (guard.history.count > guard.limits.maxHistoryEvents - 1) {
    throw new UncatchableStatesError(
      "States.Runtime",
      `The execution reached the maximum number of history events (${guard.limits.maxHistoryEvents}).`,
    );
  }
}

/** Keeps the largest payload of the execution `guard` writes its history to. */
function notePayload(guard: Guard | undefined, size: number, at: string): void {
  if (guard !== undefined && size > guard.history.largestPayloadBytes) {
    guard.history.largestPayloadBytes = size;
    guard.history.largestPayloadAt = at;
  }
}

/** Reports an execution that owns its history to the machine's measurements. */
function noteEnded(guard: Guard): void {
  const sink = guard.measurements;
  if (!guard.ownsHistory || sink === undefined) return;
  const { count, largestPayloadBytes, largestPayloadAt } = guard.history;
  if (guard.parent === undefined) {
    sink.executions.push({ largestPayloadBytes, largestPayloadAt, historyEvents: count });
    return;
  }
  const children = sink.children;
  children.count += 1;
  children.mostHistoryEvents = Math.max(children.mostHistoryEvents, count);
  if (largestPayloadBytes > children.largestPayloadBytes) {
    children.largestPayloadBytes = largestPayloadBytes;
    children.largestPayloadAt = largestPayloadAt;
  }
}

function checkPayload(guard: Guard, name: string, what: "input" | "output", value: unknown): void {
  const size = bytes(value);
  notePayload(guard, size, `${name} ${what}`);
  if (size > guard.limits.maxPayloadBytes) {
    throw dataLimit(
      what === "input"
        ? `The state/task '${name}' has an input with a size exceeding the maximum number of bytes service limit.`
        : `The state/task '${name}' returned a result with a size exceeding the maximum number of bytes service limit.`,
    );
  }
}

interface Logger {
  dispatchExecutionStartedEvent(input: unknown): void;
  dispatchExecutionSucceededEvent(output: unknown): void;
  dispatchExecutionFailedEvent(error: unknown): void;
  dispatchStateEnteredEvent(name: string, type: string, input: unknown): void;
  dispatchStateExitedEvent(name: string, type: string, input: unknown, output: unknown): void;
  dispatchStateFailedEvent(name: string, type: string, input: unknown, error: unknown): void;
  dispatchStateRetriedEvent(name: string, type: string, ...rest: unknown[]): void;
}

/** Instruments the event logger of one execution with the checks of `guard`. */
function instrument(logger: Logger, guard: Guard): void {
  const proto = Object.getPrototypeOf(logger) as Logger;
  logger.dispatchExecutionStartedEvent = (input) => {
    // ExecutionStarted, or MapIterationStarted in the parent's history.
    guard.history.count += 1;
    proto.dispatchExecutionStartedEvent.call(logger, input);
  };
  logger.dispatchStateEnteredEvent = (name, type, input) => {
    const state = guard.states[name] as AslState;
    checkPayload(guard, name, "input", input);
    addEvents(guard, enteredEvents(state));
    guard.current = { name, state, collectedBytes: 2, collected: 0 };
    proto.dispatchStateEnteredEvent.call(logger, name, type, input);
  };
  logger.dispatchStateRetriedEvent = (name, type, ...rest) => {
    // Another attempt: LambdaFunctionScheduled, Started, Succeeded|Failed.
    addEvents(guard, 3);
    proto.dispatchStateRetriedEvent.call(logger, name, type, ...rest);
  };
  logger.dispatchStateFailedEvent = (name, type, input, error) => {
    // MapStateFailed / ParallelStateFailed; a Task's failed attempt is already counted.
    if (type === "Map" || type === "Parallel") guard.history.count += 1;
    proto.dispatchStateFailedEvent.call(logger, name, type, input, error);
  };
  logger.dispatchStateExitedEvent = (name, type, input, output) => {
    const current = guard.current;
    if (current !== undefined && (type === "Map" || type === "Parallel")) {
      // Without a ResultWriter the state's result is the array of its children's
      // outputs, and it counts against the quota even when ResultPath discards it.
      if (!("ResultWriter" in current.state)) {
        notePayload(guard, current.collectedBytes, `${name} collected results`);
      }
      if (
        !("ResultWriter" in current.state) &&
        current.collectedBytes > guard.limits.maxPayloadBytes
      ) {
        throw dataLimit(
          `The state/task '${name}' returned a result with a size exceeding the maximum number of bytes service limit.`,
        );
      }
    }
    checkPayload(guard, name, "output", output);
    addEvents(guard, exitedEvents(guard.states[name] as AslState));
    proto.dispatchStateExitedEvent.call(logger, name, type, input, output);
  };
  logger.dispatchExecutionSucceededEvent = (output) => {
    guard.history.count += 1;
    const collecting = guard.parent?.current;
    if (collecting !== undefined) {
      collecting.collectedBytes += bytes(output) + (collecting.collected > 0 ? 1 : 0);
      collecting.collected += 1;
    }
    noteEnded(guard);
    proto.dispatchExecutionSucceededEvent.call(logger, output);
  };
  logger.dispatchExecutionFailedEvent = (error) => {
    guard.history.count += 1;
    noteEnded(guard);
    proto.dispatchExecutionFailedEvent.call(logger, error);
  };
}

type Execute = (input: unknown, options: ExecuteOptions, cleanup: () => void) => Promise<unknown>;
interface ExecuteOptions {
  readonly runOptions?: RunOptions & {
    [LIMITS]?: ExecutionLimits;
    [MEASUREMENTS]?: StrictMeasurements;
  };
  readonly eventLogger: Logger;
}
interface StateMachineInternals {
  readonly definition: { States: Record<string, AslState> };
  execute: Execute;
}

const prototype = StateMachine.prototype as unknown as StateMachineInternals;
const WRAPPED = Symbol.for("agent-rollout.strictExecute");
if (!(WRAPPED in prototype)) {
  const original = prototype.execute;
  if (typeof original !== "function") {
    throw new Error("aws-local-stepfunctions has no StateMachine.prototype.execute to wrap");
  }
  prototype.execute = function execute(this: StateMachineInternals, input, options, cleanup) {
    const limits = options.runOptions?.[LIMITS];
    if (limits === undefined) return original.call(this, input, options, cleanup);
    const parent = guards.getStore();
    const distributed = isDistributed(parent?.current?.state);
    // A Distributed Map child is an execution of its own with its own history;
    // inline Map iterations and Parallel branches write to their parent's.
    const ownsHistory = parent === undefined || distributed;
    const guard: Guard = {
      limits,
      states: this.definition.States,
      parent,
      history:
        ownsHistory || parent === undefined
          ? { count: 0, largestPayloadBytes: 0, largestPayloadAt: "" }
          : parent.history,
      ownsHistory,
      measurements: options.runOptions?.[MEASUREMENTS],
    };
    instrument(options.eventLogger, guard);
    return guards.run(guard, () => original.call(this, input, options, cleanup));
  };
  Object.defineProperty(prototype, WRAPPED, { value: true });
}

/**
 * A state machine that fails its executions where Step Functions would:
 * `States.DataLimitExceeded` for a state input or output (or the array a Map or
 * Parallel state collects) above the payload quota, or a Task's effective input or
 * raw result above it; `States.Runtime` when the execution history would exceed
 * 25,000 events. Neither is retried or caught.
 */
export class StrictStateMachine extends StateMachine {
  readonly limits: ExecutionLimits;
  /**
   * What every execution run on this machine came closest to the quotas with: the
   * payloads and history events counted by the same checks that enforce them.
   */
  readonly measurements: StrictMeasurements = {
    executions: [],
    children: { count: 0, largestPayloadBytes: 0, largestPayloadAt: "", mostHistoryEvents: 0 },
  };

  constructor(
    definition: ConstructorParameters<typeof StateMachine>[0],
    options: ConstructorParameters<typeof StateMachine>[1] & {
      limits?: Partial<ExecutionLimits>;
    } = {},
  ) {
    const { limits, ...machineOptions } = options;
    super(definition, machineOptions);
    this.limits = {
      maxPayloadBytes: limits?.maxPayloadBytes ?? MAX_PAYLOAD_BYTES,
      maxHistoryEvents: limits?.maxHistoryEvents ?? MAX_HISTORY_EVENTS,
    };
  }

  override run(input: Json, options: RunOptions = {}): Execution {
    const limits = this.limits;
    const handlers = options.overrides?.taskResourceLocalHandlers;
    const checked: Record<string, (input: Json) => Promise<Json>> = {};
    for (const [name, handler] of Object.entries(handlers ?? {})) {
      // The Task's effective input (after Parameters) and its raw result, before
      // ResultSelector and ResultPath: "the data sent to / returned from the service".
      checked[name] = async (taskInput) => {
        const inputBytes = bytes(taskInput);
        notePayload(guards.getStore(), inputBytes, `${name} task input`);
        if (inputBytes > limits.maxPayloadBytes) {
          throw dataLimit(
            `The state/task '${name}' has an input with a size exceeding the maximum number of bytes service limit.`,
          );
        }
        const result = await handler(taskInput);
        const resultBytes = bytes(result);
        notePayload(guards.getStore(), resultBytes, `${name} task result`);
        if (resultBytes > limits.maxPayloadBytes) {
          throw dataLimit(
            `The state/task '${name}' returned a result with a size exceeding the maximum number of bytes service limit.`,
          );
        }
        return result;
      };
    }
    const strictOptions = {
      ...options,
      overrides: { ...options.overrides, taskResourceLocalHandlers: checked },
      [LIMITS]: limits,
      [MEASUREMENTS]: this.measurements,
    };
    return super.run(input, strictOptions as RunOptions);
  }
}
