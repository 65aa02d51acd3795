/**
 * LoadWaveHosts Lambda entry. Environment: `TABLE_NAME`, `DOCUMENT_PREFIX`, optional
 * `JOB_COUNT_SECONDS` (read at the first invocation).
 *
 * @module
 */
import { containerDeps } from "../common/deps.js";
import { defineHandler } from "../common/handler.js";
import { LoadWaveEventSchema } from "../common/schemas.js";
import { type LoadWaveConfig, type LoadWaveResult, loadWave } from "./load-wave.js";

export * from "./load-wave.js";

/** Step Functions task `LoadWaveHosts`: `{rolloutId, wave}` → {@link LoadWaveResult}. */
export const handler = defineHandler({
  name: "load-wave",
  eventSchema: LoadWaveEventSchema,
  deps: (env) =>
    containerDeps<LoadWaveConfig>(env, {
      documentPrefix: env.DOCUMENT_PREFIX,
      jobCountSeconds: env.JOB_COUNT_SECONDS,
    }),
  run: loadWave,
});
