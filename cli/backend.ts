/**
 * What a command needs from where the rollouts run: the ledger store, and the few
 * control-plane calls that differ between a deployed stack and local mode. The
 * commands themselves are the same code for both.
 *
 * @module
 */
import type { SFNClient } from "@aws-sdk/client-sfn";
import type { LedgerStore } from "../lambdas/common/ledger/index.js";
import type { CleanupReport } from "../local/cleanup.js";
import type { RolloutReport } from "../local/runner.js";

/** Status of the execution that runs a rollout: Step Functions' own, or NOT_FOUND. */
export type ExecutionState =
  | "RUNNING"
  | "SUCCEEDED"
  | "FAILED"
  | "TIMED_OUT"
  | "ABORTED"
  | "PENDING_REDRIVE"
  | "NOT_FOUND";

/** What {@link Backend.startRollout} started. */
export interface StartedRollout {
  readonly rolloutId: string;
  /** AWS: the execution ARN. */
  readonly executionArn?: string;
  /** AWS: the execution's page in the Step Functions console. */
  readonly consoleUrl?: string;
  /** Local mode: the rollout ran to its end; what local mode measured. */
  readonly report?: RolloutReport;
}

/** Options of {@link Backend.startRollout}. */
export interface StartOptions {
  /** Progress lines (local mode runs the rollout while the command waits). */
  readonly say: (line: string) => void;
  /** Local mode: jobs kept running on each host during the rollout. */
  readonly jobsPerHost: number;
  /** Local mode: stops the rollout (Ctrl-C). */
  readonly signal?: AbortSignal;
}

/** A deployed stack or a local work dir, as the commands see it. */
export interface Backend {
  /** Says where, for messages: `stack AgentRollout` or `local work dir …`. */
  readonly where: string;
  /** The functions' own ledger store, on the stack's table or the local one. */
  readonly store: LedgerStore;
  /** How often `watch` reads the ledger. */
  readonly pollMs: number;
  /** Host id → a readable name, when there is one (local mode's host names). */
  readonly hostNames: ReadonlyMap<string, string>;
  /** Starts a rollout of an input already validated with `RolloutInputSchema`. */
  startRollout(input: unknown, rolloutId: string, options: StartOptions): Promise<StartedRollout>;
  /**
   * Answers a task token: Step Functions' SendTaskSuccess / SendTaskFailure, or local
   * mode's stand-in for them (local/task-tokens.ts).
   */
  readonly taskTokens: Pick<SFNClient, "send">;
  /** Whether the execution of this rollout still runs. */
  executionState(rolloutId: string): Promise<ExecutionState>;
  /** Runs the nightly cleanup now and returns its result. */
  runCleanup(): Promise<CleanupReport>;
  /** Version a host runs, read on the host; undefined where the CLI cannot look (AWS). */
  runningVersion(hostId: string): Promise<string | undefined>;
  /** Local mode: the job figures a `start` recorded for this rollout. */
  jobFigures(rolloutId: string): Promise<RolloutReport["jobs"] | undefined>;
  close(): Promise<void>;
}
