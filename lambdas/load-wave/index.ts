/**
 * LoadWaveHosts Lambda entry. Environment: `TABLE_NAME` (read at the first invocation).
 *
 * @module
 */
import middy from "@middy/core";
import { containerDeps, once } from "../common/deps.js";
import { BaseEnvSchema, loadEnv } from "../common/env.js";
import { eventValidator, invocationLogger, type LambdaEntry } from "../common/middleware.js";
import { type LoadWaveEvent, LoadWaveEventSchema } from "../common/schemas.js";
import { type LoadWaveResult, loadWave } from "./load-wave.js";

export * from "./load-wave.js";

const deps = once(() => containerDeps(loadEnv(BaseEnvSchema), {}));

/** Step Functions task `LoadWaveHosts`: `{rolloutId, wave}` → {@link LoadWaveResult}. */
export const handler = middy()
  .use(invocationLogger({ name: "load-wave" }))
  .use(eventValidator({ schema: LoadWaveEventSchema }))
  .handler((event) =>
    loadWave(deps(), event as LoadWaveEvent),
  ) as unknown as LambdaEntry<LoadWaveResult>;
