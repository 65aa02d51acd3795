/**
 * PlanRollout Lambda entry. Environment: `TABLE_NAME`, `PROFILE_NAMES`,
 * `TARGET_TAG_KEY`, `TARGET_TAG_VALUE`, `HOST_STEP_CONCURRENCY`, optional
 * `ARTIFACT_DIRS` (read at the first invocation).
 *
 * @module
 */
import { SFNClient } from "@aws-sdk/client-sfn";
import { containerDeps } from "../common/deps.js";
import { defineHandler } from "../common/handler.js";
import { PlanRolloutEventSchema } from "../common/schemas.js";
import { type ExecutionStatusSource, stepFunctionsExecutionStatus } from "./execution-status.js";
import {
  type PlanResult,
  type PlanRolloutConfig,
  type PlanRolloutDeps,
  planRollout,
} from "./plan-rollout.js";

export * from "./execution-status.js";
export * from "./plan-rollout.js";

let executionStatusSource: ExecutionStatusSource | undefined;

/**
 * Replaces how the handler asks whether a rollout's execution still runs (before its
 * first invocation): local mode answers from its runner instead of Step Functions.
 */
export function useExecutionStatus(source: ExecutionStatusSource): void {
  executionStatusSource = source;
}

let sfnClient: SFNClient | undefined;
const getSfn = (): SFNClient => {
  sfnClient ??= new SFNClient({});
  return sfnClient;
};

/** Step Functions task `PlanRollout`: `{rolloutId, input}` → {@link PlanResult}. */
export const handler = defineHandler({
  name: "plan-rollout",
  eventSchema: PlanRolloutEventSchema,
  deps: (env): PlanRolloutDeps => ({
    ...containerDeps<PlanRolloutConfig>(env, {
      profileNames: env.PROFILE_NAMES,
      targetTagKey: env.TARGET_TAG_KEY,
      targetTagValue: env.TARGET_TAG_VALUE,
      hostStepConcurrency: env.HOST_STEP_CONCURRENCY,
      artifactDirs: env.ARTIFACT_DIRS,
    }),
    executionStatus: executionStatusSource ?? stepFunctionsExecutionStatus(getSfn),
  }),
  run: planRollout,
});
