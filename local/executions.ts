/**
 * The executions local mode is running, and the answer PlanRollout's `breakLock` needs
 * from them: Step Functions' DescribeExecution, as the local runner knows it. An
 * execution runs while this process runs it, or while the process whose pid its pid
 * file holds (`<workDir>/executions/<rolloutId>.pid`) is alive: the execution of a CLI
 * killed with -9 has ended, as Step Functions would say of a stopped execution. The
 * operator CLI's local backend reads and writes the same files through this module.
 *
 * @module
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { ExecutionStatusSource } from "../lambdas/plan-rollout/execution-status.js";
import { pidAlive } from "./work-dir.js";

/** Rollout ids (execution names) of the executions running now in this process. */
export const runningExecutions = new Set<string>();

/** The work dir whose pid files this process keeps; set by the environment of a work dir. */
let trackedWorkDir: string | undefined;

/** Keeps a pid file per running execution under `<workDir>/executions`. */
export function trackExecutionsIn(workDir: string): void {
  trackedWorkDir = workDir;
}

/** The pid file of a rollout's execution in a work dir. */
export const executionPidFile = (workDir: string, rolloutId: string): string =>
  join(workDir, "executions", `${rolloutId}.pid`);

/** Marks an execution running in this process (and writes its pid file); idempotent. */
export function executionStarted(rolloutId: string): void {
  runningExecutions.add(rolloutId);
  if (trackedWorkDir === undefined) return;
  mkdirSync(join(trackedWorkDir, "executions"), { recursive: true });
  writeFileSync(executionPidFile(trackedWorkDir, rolloutId), `${process.pid}\n`);
}

/** Marks an execution ended (and removes its pid file); idempotent. */
export function executionEnded(rolloutId: string): void {
  runningExecutions.delete(rolloutId);
  if (trackedWorkDir !== undefined) {
    rmSync(executionPidFile(trackedWorkDir, rolloutId), { force: true });
  }
}

/**
 * What the pid file of a rollout's execution in `workDir` says: none (`NOT_FOUND`), a
 * live process or this one (`RUNNING`), or a process that died without ending the
 * execution (`DIED`: a CLI killed with -9).
 */
export function executionPidState(
  workDir: string,
  rolloutId: string,
): "NOT_FOUND" | "RUNNING" | "DIED" {
  let text: string;
  try {
    text = readFileSync(executionPidFile(workDir, rolloutId), "utf8");
  } catch {
    return "NOT_FOUND";
  }
  if (runningExecutions.has(rolloutId)) return "RUNNING";
  const pid = Number(text.trim());
  return pid !== process.pid && pidAlive(pid) ? "RUNNING" : "DIED";
}

/** Whether a rollout's execution runs, as the local runner knows it. */
export const localExecutionStatus: ExecutionStatusSource = async ({ rolloutId }) => {
  if (runningExecutions.has(rolloutId)) return "RUNNING";
  if (trackedWorkDir === undefined) return "ENDED";
  return executionPidState(trackedWorkDir, rolloutId) === "RUNNING" ? "RUNNING" : "ENDED";
};
