/**
 * The executions local mode is running, and the answer PlanRollout's `breakLock` needs
 * from them: Step Functions' DescribeExecution, as the local runner knows it. An
 * execution runs while this process runs it, or while the process whose pid its pid
 * file holds (`<workDir>/executions/<rolloutId>.pid`) is alive: the execution of a CLI
 * killed with -9 has ended, as Step Functions would say of a stopped execution.
 *
 * @module
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { ExecutionStatusSource } from "../lambdas/plan-rollout/execution-status.js";
import { pidAlive } from "./work-dir.js";

/** Rollout ids (execution names) of the executions running now in this process. */
export const runningExecutions = new Set<string>();

/** Where pid files of executions are kept; set by the environment of a work dir. */
let pidDir: string | undefined;

/** Keeps a pid file per running execution under `<workDir>/executions`. */
export function trackExecutionsIn(workDir: string): void {
  pidDir = join(workDir, "executions");
}

const pidFile = (rolloutId: string) =>
  pidDir === undefined ? undefined : join(pidDir, `${rolloutId}.pid`);

/** Marks an execution running in this process (and writes its pid file). */
export function executionStarted(rolloutId: string): void {
  runningExecutions.add(rolloutId);
  const file = pidFile(rolloutId);
  if (file === undefined || pidDir === undefined) return;
  mkdirSync(pidDir, { recursive: true });
  writeFileSync(file, `${process.pid}\n`);
}

/** Marks an execution ended (and removes its pid file). */
export function executionEnded(rolloutId: string): void {
  runningExecutions.delete(rolloutId);
  const file = pidFile(rolloutId);
  if (file !== undefined) rmSync(file, { force: true });
}

/** Whether a rollout's execution runs, as the local runner knows it. */
export const localExecutionStatus: ExecutionStatusSource = async ({ rolloutId }) => {
  if (runningExecutions.has(rolloutId)) return "RUNNING";
  const file = pidFile(rolloutId);
  if (file === undefined) return "ENDED";
  let pid: number;
  try {
    pid = Number(readFileSync(file, "utf8").trim());
  } catch {
    return "ENDED";
  }
  return pid !== process.pid && pidAlive(pid) ? "RUNNING" : "ENDED";
};
