/**
 * EvaluateWave Lambda entry. Environment: `TABLE_NAME` (read at the first invocation).
 *
 * @module
 */
import middy from "@middy/core";
import { containerDeps, once } from "../common/deps.js";
import { BaseEnvSchema, loadEnv } from "../common/env.js";
import { eventValidator, invocationLogger, type LambdaEntry } from "../common/middleware.js";
import { type EvaluateWaveEvent, EvaluateWaveEventSchema } from "../common/schemas.js";
import { type EvaluateWaveResult, evaluateWave } from "./evaluate-wave.js";

export * from "./evaluate-wave.js";

const deps = once(() => containerDeps(loadEnv(BaseEnvSchema), {}));

/** Step Functions task `EvaluateWave`: `{rolloutId, wave}` → {@link EvaluateWaveResult}. */
export const handler = middy()
  .use(invocationLogger({ name: "evaluate-wave" }))
  .use(eventValidator({ schema: EvaluateWaveEventSchema }))
  .handler((event) =>
    evaluateWave(deps(), event as EvaluateWaveEvent),
  ) as unknown as LambdaEntry<EvaluateWaveResult>;
