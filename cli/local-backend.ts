/**
 * The {@link Backend} of local mode's kept work dir: the same local environment
 * `npm start` runs (dynalite on the dir's ledger, the local SSM endpoint, the fleet),
 * with the ledger store's DynamoDB client pointed at the local endpoint.
 *
 * A rollout started here runs to its end in this process (the local state machine
 * lives in it); while it runs, `executions/<rolloutId>.pid` in the work dir says so,
 * and other CLIs reach its ledger and answer its approvals through
 * cli/local-attached-backend.ts.
 *
 * @module
 */
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import {
  type RollbackInput,
  RollbackInputSchema,
  type RolloutInput,
  RolloutInputSchema,
} from "../lambdas/common/schemas.js";
import { type CleanupReport, runCleanup } from "../local/cleanup.js";
import { type LocalEnvironment, startEnvironment } from "../local/environment.js";
import { executionEnded, executionPidState, executionStarted } from "../local/executions.js";
import { fleetExists } from "../local/fleet.js";
import { formatProgress } from "../local/format.js";
import { stopFleetProcesses } from "../local/processes.js";
import { type RolloutReport, runRollout, writeReport } from "../local/runner.js";
import { LocalTaskTokens, workDirApprover } from "../local/task-tokens.js";
import type { Backend, ExecutionState, StartedRollout, StartOptions } from "./backend.js";
import { CliError, EXIT } from "./errors.js";
import {
  attachedBackend,
  localExecutionState,
  localLedgerStore,
  publishLiveLedger,
  readLiveLedger,
  reportFile,
} from "./local-attached-backend.js";

/** Opens local mode's work dir `dir` (made by `npm start -- --work-dir DIR`). */
export async function openLocalBackend(dir: string): Promise<Backend> {
  const workDir = resolve(dir);
  if (!fleetExists(workDir)) {
    throw new CliError(
      `no local fleet in ${workDir} (make one with: npm start -- --work-dir ${dir})`,
      EXIT.NOT_FOUND,
    );
  }
  // Another CLI runs a rollout here and holds the ledger: reach it through that run.
  const live = readLiveLedger(workDir);
  if (live !== undefined) return attachedBackend(workDir, live);
  const env = await startEnvironment({ workDir });
  const backend = localEnvironmentBackend(env);
  return {
    ...backend,
    taskTokens: new LocalTaskTokens(workDir),
    async startRollout(input, rolloutId, options): Promise<StartedRollout> {
      const rollback = RollbackInputSchema.safeParse(input);
      const report = await runLocally(
        rollback.success ? rollback.data : RolloutInputSchema.parse(input),
        rolloutId,
        options,
      );
      return { rolloutId, report };
    },
    executionState: async (rolloutId): Promise<ExecutionState> =>
      localExecutionState(workDir, rolloutId),
    runCleanup: (): Promise<CleanupReport> => runCleanup(env),
    async jobFigures(rolloutId) {
      const file = reportFile(workDir, rolloutId);
      if (!existsSync(file)) return undefined;
      return (JSON.parse(await readFile(file, "utf8")) as RolloutReport).jobs;
    },
    close: async () => {
      await backend.close();
      await env.close();
    },
  };

  /**
   * Runs the rollout on the local fleet as `npm start` does: what the input says about
   * versions, hosts, waves and threshold; the artifact is the fleet's own build of the
   * target version and the fleet is `local` (what local mode deploys).
   */
  async function runLocally(
    input: RolloutInput | RollbackInput,
    rolloutId: string,
    options: StartOptions,
  ): Promise<RolloutReport> {
    if ("rollback" in input) {
      // A rollback takes its hosts, waves and thresholds from the rollout it undoes.
      // The options below only build an input when none is given: unused here.
      return runExecution(
        rolloutId,
        {
          rolloutId,
          targetVersion: "",
          batchSize: 1,
          canary: 0,
          failureThreshold: 0,
          jobsPerHost: options.jobsPerHost,
          signal: options.signal,
          input: { ...input },
          onHostChange: (host, ms) => options.say(formatProgress(host, ms, env.fleet)),
        },
        options,
      );
    }
    if (input.hosts.instanceIds === undefined) {
      throw new CliError(
        "local mode selects hosts by instanceIds only (hosts.tags is for a deployed stack)",
        EXIT.USAGE,
      );
    }
    const known = new Set(env.fleet.hosts.map((h) => h.instanceId));
    const unknown = input.hosts.instanceIds.filter((id) => !known.has(id));
    if (unknown.length > 0) {
      throw new CliError(
        `hosts.instanceIds: not in the local fleet: ${unknown.join(", ")}`,
        EXIT.USAGE,
      );
    }
    return runExecution(
      rolloutId,
      {
        rolloutId,
        targetVersion: input.targetVersion,
        batchSize: input.batchSize,
        canary: input.canary ?? 0,
        failureThreshold: input.failureThreshold,
        waveSize: input.waveSize,
        bakeSeconds: input.bakeSeconds,
        jobsPerHost: options.jobsPerHost,
        hostIds: input.hosts.instanceIds,
        signal: options.signal,
        // The validated input itself (waves, gates, …), on the fleet's own artifact.
        input: { ...input, artifact: "fleet", fleet: "local" },
        onHostChange: (host, ms) => options.say(formatProgress(host, ms, env.fleet)),
      },
      options,
    );
  }

  /** Runs one execution on the kept fleet under its pid file, and keeps its report. */
  async function runExecution(
    rolloutId: string,
    rollout: Parameters<typeof runRollout>[1],
    options: StartOptions,
  ): Promise<RolloutReport> {
    if (
      existsSync(reportFile(workDir, rolloutId)) ||
      executionPidState(workDir, rolloutId) !== "NOT_FOUND"
    ) {
      throw new CliError(`rollout ${rolloutId} was already started: pick another --rollout-id`);
    }
    // Running from here on, booting the fleet included (the runner marks it again).
    executionStarted(rolloutId);
    // `approve`/`reject` and the reading commands reach this run's ledger meanwhile.
    const withdraw = await publishLiveLedger(workDir, env.ledger);
    try {
      // A kept fleet's listeners were stopped when the run that made it ended.
      await env.fleet.boot();
      const report = await runRollout(env, {
        ...rollout,
        approver: workDirApprover(workDir, ({ wave }) =>
          options.say(
            `Rollout ${rolloutId} waits for approval after wave ${wave}: ` +
              `npx agent-rollout --local ${workDir} approve ${rolloutId} ` +
              `(or reject ${rolloutId} --reason TEXT)`,
          ),
        ),
      });
      await writeReport(reportFile(workDir, rolloutId), report);
      return report;
    } finally {
      await withdraw();
      await stopFleetProcesses(join(workDir, "fleet"));
      executionEnded(rolloutId);
    }
  }
}

/**
 * The reading side of a running local environment: the ledger store on its local
 * DynamoDB endpoint, the fleet's host names and versions. `report` (a run that just
 * ended in this process) supplies its job figures; nothing runs or is cleaned here.
 */
export function localEnvironmentBackend(env: LocalEnvironment, report?: RolloutReport): Backend {
  const { client, store } = localLedgerStore(env.ledger.endpoint, env.ledger.tableName);
  const refuse = (what: string) => () => {
    throw new CliError(`${what} is not available on a rollout's own environment`);
  };
  return {
    where: `local work dir ${env.workDir}`,
    store,
    pollMs: 500,
    hostNames: new Map(env.fleet.hosts.map((h) => [h.instanceId, h.computerName])),
    startRollout: refuse("start"),
    taskTokens: { send: refuse("approve and reject") },
    executionState: async () => "NOT_FOUND",
    runCleanup: refuse("cleanup"),
    runningVersion: async (hostId) => (await env.fleet.runningVersion(hostId)) ?? undefined,
    jobFigures: async (rolloutId) => (report?.rolloutId === rolloutId ? report.jobs : undefined),
    close: async () => client.destroy(),
  };
}
