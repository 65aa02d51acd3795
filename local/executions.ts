/**
 * The executions local mode is running, and the answer PlanRollout's `breakLock` needs
 * from them: Step Functions' DescribeExecution, as the local runner knows it. An
 * execution not running in this process has ended (a previous process's included).
 *
 * @module
 */
import type { ExecutionStatusSource } from "../lambdas/plan-rollout/execution-status.js";

/** Rollout ids (execution names) of the executions running now. */
export const runningExecutions = new Set<string>();

/** Whether a rollout's execution runs, as the local runner knows it. */
export const localExecutionStatus: ExecutionStatusSource = async ({ rolloutId }) =>
  runningExecutions.has(rolloutId) ? "RUNNING" : "ENDED";
