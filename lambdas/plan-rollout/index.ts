/**
 * PlanRollout Lambda entry. Environment: `TABLE_NAME`, `PROFILE_NAMES`,
 * `TARGET_TAG_KEY`, `TARGET_TAG_VALUE` (read at the first invocation).
 *
 * @module
 */
import middy from "@middy/core";
import { containerDeps, once } from "../common/deps.js";
import { loadEnv, PlanRolloutEnvSchema } from "../common/env.js";
import { eventValidator, invocationLogger, type LambdaEntry } from "../common/middleware.js";
import { type PlanRolloutEvent, PlanRolloutEventSchema } from "../common/schemas.js";
import { type PlanResult, type PlanRolloutConfig, planRollout } from "./plan-rollout.js";

export * from "./plan-rollout.js";

const deps = once(() => {
  const env = loadEnv(PlanRolloutEnvSchema);
  return containerDeps<PlanRolloutConfig>(env, {
    profileNames: env.PROFILE_NAMES,
    targetTagKey: env.TARGET_TAG_KEY,
    targetTagValue: env.TARGET_TAG_VALUE,
  });
});

/** Step Functions task `PlanRollout`: `{rolloutId, input}` → {@link PlanResult}. */
export const handler = middy()
  .use(invocationLogger({ name: "plan-rollout" }))
  .use(eventValidator({ schema: PlanRolloutEventSchema }))
  .handler((event) =>
    planRollout(deps(), event as PlanRolloutEvent),
  ) as unknown as LambdaEntry<PlanResult>;
