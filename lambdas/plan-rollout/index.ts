/**
 * PlanRollout Lambda entry. Environment: `TABLE_NAME`, `PROFILE_NAMES`,
 * `TARGET_TAG_KEY`, `TARGET_TAG_VALUE`, `HOST_STEP_CONCURRENCY`, optional
 * `ARTIFACT_DIRS` (read at the first invocation).
 *
 * @module
 */
import { containerDeps } from "../common/deps.js";
import { defineHandler } from "../common/handler.js";
import { PlanRolloutEventSchema } from "../common/schemas.js";
import { type PlanResult, type PlanRolloutConfig, planRollout } from "./plan-rollout.js";

export * from "./plan-rollout.js";

/** Step Functions task `PlanRollout`: `{rolloutId, input}` → {@link PlanResult}. */
export const handler = defineHandler({
  name: "plan-rollout",
  eventSchema: PlanRolloutEventSchema,
  deps: (env) =>
    containerDeps<PlanRolloutConfig>(env, {
      profileNames: env.PROFILE_NAMES,
      targetTagKey: env.TARGET_TAG_KEY,
      targetTagValue: env.TARGET_TAG_VALUE,
      hostStepConcurrency: env.HOST_STEP_CONCURRENCY,
      artifactDirs: env.ARTIFACT_DIRS,
    }),
  run: planRollout,
});
