/**
 * The {@link Backend} of a local work dir whose rollout is running in another CLI
 * (`start --local DIR`). That process holds the ledger's database files, so this one
 * reaches its DynamoDB endpoint, named in `live-ledger.json` while the run lasts, and
 * answers approvals through the work dir (local/task-tokens.ts). Starting a rollout
 * or the cleanup waits for the run to end.
 *
 * @module
 */
import { existsSync, readFileSync } from "node:fs";
import { readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { DynamoLedgerStore } from "../lambdas/common/ledger/index.js";
import { executionPidState } from "../local/executions.js";
import { openFleet } from "../local/fleet.js";
import type { RolloutReport } from "../local/runner.js";
import { LocalTaskTokens } from "../local/task-tokens.js";
import { pidAlive } from "../local/work-dir.js";
import type { Backend, ExecutionState } from "./backend.js";
import { CliError } from "./errors.js";

/** What a running local `start` publishes about its ledger. */
export interface LiveLedger {
  readonly pid: number;
  readonly endpoint: string;
  readonly tableName: string;
}

const liveLedgerFile = (workDir: string): string => join(workDir, "live-ledger.json");

/** Where the rollout's reports are kept in a work dir. */
export const reportFile = (workDir: string, rolloutId: string): string =>
  join(workDir, "reports", `${rolloutId}.json`);

/** Publishes this process's ledger endpoint; returns the function that withdraws it. */
export async function publishLiveLedger(
  workDir: string,
  ledger: Omit<LiveLedger, "pid">,
): Promise<() => Promise<void>> {
  const file = liveLedgerFile(workDir);
  await writeFile(file, JSON.stringify({ pid: process.pid, ...ledger }));
  return () => rm(file, { force: true });
}

/** The ledger of a live local run in `workDir` by another process; undefined when none. */
export function readLiveLedger(workDir: string): LiveLedger | undefined {
  const file = liveLedgerFile(workDir);
  if (!existsSync(file)) return undefined;
  try {
    const live = JSON.parse(readFileSync(file, "utf8")) as LiveLedger;
    return live.pid !== process.pid && pidAlive(live.pid) ? live : undefined;
  } catch {
    return undefined;
  }
}

/** How a local execution runs: its pid file names a live process, or one that died. */
export function localExecutionState(workDir: string, rolloutId: string): ExecutionState {
  const state = executionPidState(workDir, rolloutId);
  // A pid file left by a process that died: the run was cut short.
  return state === "DIED" ? "ABORTED" : state;
}

/** A ledger store on a local DynamoDB endpoint, and the client to destroy on close. */
export function localLedgerStore(endpoint: string, tableName: string) {
  const client = DynamoDBDocumentClient.from(
    new DynamoDBClient({
      endpoint,
      region: "us-east-1",
      credentials: { accessKeyId: "local", secretAccessKey: "local" },
    }),
    { marshallOptions: { removeUndefinedValues: true } },
  );
  return { client, store: new DynamoLedgerStore({ client, tableName }) };
}

/** The backend of `workDir` while another process runs a rollout in it. */
export async function attachedBackend(workDir: string, live: LiveLedger): Promise<Backend> {
  const { client, store } = localLedgerStore(live.endpoint, live.tableName);
  const fleet = await openFleet(workDir);
  const busy = (what: string) => async (): Promise<never> => {
    throw new CliError(
      `${what}: work dir ${workDir} is running a rollout (pid ${live.pid}); wait for it to end`,
    );
  };
  return {
    where: `local work dir ${workDir} (rollout running in pid ${live.pid})`,
    store,
    pollMs: 500,
    hostNames: new Map(fleet.hosts.map((h) => [h.instanceId, h.computerName])),
    taskTokens: new LocalTaskTokens(workDir),
    startRollout: busy("start"),
    executionState: async (rolloutId) => localExecutionState(workDir, rolloutId),
    runCleanup: busy("cleanup"),
    // The agents belong to the running rollout: their versions are its to read.
    runningVersion: async () => undefined,
    async jobFigures(rolloutId) {
      const file = reportFile(workDir, rolloutId);
      if (!existsSync(file)) return undefined;
      return (JSON.parse(await readFile(file, "utf8")) as RolloutReport).jobs;
    },
    close: async () => client.destroy(),
  };
}
