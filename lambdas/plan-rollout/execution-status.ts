/**
 * Whether a rollout's execution still runs: what `breakLock` must know before it takes
 * a lock. On AWS, Step Functions' DescribeExecution answers; local mode answers from
 * its runner (`useExecutionStatus`).
 *
 * @module
 */
import { DescribeExecutionCommand, type SFNClient } from "@aws-sdk/client-sfn";

/** The answer: RUNNING, ENDED (any final status, or no such execution), or UNKNOWN. */
export type ExecutionStatus = "RUNNING" | "ENDED" | "UNKNOWN";

/** The execution of a rollout: its id (execution name) and, where known, its ARN. */
export interface RolloutExecution {
  readonly rolloutId: string;
  readonly executionArn?: string;
}

/** Asks whether a rollout's execution still runs. */
export type ExecutionStatusSource = (execution: RolloutExecution) => Promise<ExecutionStatus>;

/** The ARN of execution `name` of the state machine that runs `executionArn`. */
export function siblingExecutionArn(executionArn: string, name: string): string {
  return executionArn.replace(/:[^:]+$/, `:${name}`);
}

/** {@link ExecutionStatusSource} on Step Functions' DescribeExecution. */
export function stepFunctionsExecutionStatus(sfn: () => SFNClient): ExecutionStatusSource {
  return async ({ executionArn }) => {
    if (executionArn === undefined) return "UNKNOWN";
    try {
      const out = await sfn().send(new DescribeExecutionCommand({ executionArn }));
      // PENDING_REDRIVE: a redrive may run it again, so it still owns its lock.
      return out.status === "RUNNING" || out.status === "PENDING_REDRIVE" ? "RUNNING" : "ENDED";
    } catch (error) {
      if (error instanceof Error && error.name === "ExecutionDoesNotExist") return "ENDED";
      throw error;
    }
  };
}
