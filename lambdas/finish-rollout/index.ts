/**
 * FinishRollout / RecordRolloutFailure Lambda entry. Environment: `TABLE_NAME`
 * (read at the first invocation).
 *
 * @module
 */
import middy from "@middy/core";
import { containerDeps, once } from "../common/deps.js";
import { BaseEnvSchema, loadEnv } from "../common/env.js";
import { eventValidator, invocationLogger, type LambdaEntry } from "../common/middleware.js";
import { type FinishRolloutEvent, FinishRolloutEventSchema } from "../common/schemas.js";
import { type FinishRolloutResult, finishRollout } from "./finish-rollout.js";

export * from "./finish-rollout.js";

const deps = once(() => containerDeps(loadEnv(BaseEnvSchema), {}));

/**
 * Step Functions tasks `FinishRollout` (`{rolloutId, outcome: DONE|HALTED}`) and
 * `RecordRolloutFailure` (`{rolloutId, outcome: FAILED, error}`) → {@link FinishRolloutResult}.
 */
export const handler = middy()
  .use(invocationLogger({ name: "finish-rollout" }))
  .use(eventValidator({ schema: FinishRolloutEventSchema }))
  .handler((event) =>
    finishRollout(deps(), event as FinishRolloutEvent),
  ) as unknown as LambdaEntry<FinishRolloutResult>;
