/**
 * FinishRollout / RecordRolloutFailure Lambda entry. Environment: `TABLE_NAME`
 * (read at the first invocation).
 *
 * @module
 */
import { containerDeps } from "../common/deps.js";
import { defineHandler } from "../common/handler.js";
import { FinishRolloutEventSchema } from "../common/schemas.js";
import { type FinishRolloutResult, finishRollout } from "./finish-rollout.js";

export * from "./finish-rollout.js";

/**
 * Step Functions tasks `FinishRollout` (`{rolloutId, outcome: DONE|HALTED}`) and
 * `RecordRolloutFailure` (`{rolloutId, outcome: FAILED, error}`) → {@link FinishRolloutResult}.
 */
export const handler = defineHandler({
  name: "finish-rollout",
  eventSchema: FinishRolloutEventSchema,
  deps: (env) => containerDeps(env, {}),
  run: finishRollout,
});
