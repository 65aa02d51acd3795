/** A Backend on the in-memory ledger store, and an io that records what is printed. */
import type { Backend, ExecutionState } from "../../cli/backend.js";
import type { CommandIo } from "../../cli/commands/io.js";
import type { CleanupReport } from "../../local/cleanup.js";
import { MemoryLedgerStore } from "../lambdas/memory-ledger-store.js";

/** An io whose clock advances by each sleep, and the lines it printed. */
export function recordingIo(
  start: number,
): CommandIo & { lines: string[]; clock: { now: number } } {
  const lines: string[] = [];
  const clock = { now: start };
  return {
    lines,
    clock,
    out: (line) => lines.push(...line.split("\n")),
    now: () => clock.now,
    sleep: async (ms) => {
      clock.now += ms;
    },
  };
}

/** A backend on a fresh in-memory store; the execution states are given per rollout. */
export function memoryBackend(
  options: {
    states?: Record<string, ExecutionState>;
    cleanup?: CleanupReport;
    names?: Record<string, string>;
    taskTokens?: Backend["taskTokens"];
  } = {},
): Backend & { store: MemoryLedgerStore; started: Array<{ input: unknown; rolloutId: string }> } {
  const started: Array<{ input: unknown; rolloutId: string }> = [];
  return {
    where: "memory",
    store: new MemoryLedgerStore(),
    pollMs: 1000,
    hostNames: new Map(Object.entries(options.names ?? {})),
    started,
    taskTokens: options.taskTokens ?? {
      send: async () => {
        throw new Error("this test answers no task token");
      },
    },
    async startRollout(input, rolloutId) {
      started.push({ input, rolloutId });
      return { rolloutId, executionArn: `arn:exec:${rolloutId}`, consoleUrl: "https://console" };
    },
    executionState: async (rolloutId) => options.states?.[rolloutId] ?? "NOT_FOUND",
    runCleanup: async () =>
      options.cleanup ?? { checked: 0, deleted: [], kept: [], failed: [], metrics: [] },
    runningVersion: async () => undefined,
    jobFigures: async () => undefined,
    close: async () => undefined,
  };
}
