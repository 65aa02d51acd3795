/**
 * LoadWaveHosts Lambda entry. Environment: `TABLE_NAME` (read at the first invocation).
 *
 * @module
 */
import { containerDeps } from "../common/deps.js";
import { defineHandler } from "../common/handler.js";
import { LoadWaveEventSchema } from "../common/schemas.js";
import { type LoadWaveResult, loadWave } from "./load-wave.js";

export * from "./load-wave.js";

/** Step Functions task `LoadWaveHosts`: `{rolloutId, wave}` → {@link LoadWaveResult}. */
export const handler = defineHandler({
  name: "load-wave",
  eventSchema: LoadWaveEventSchema,
  deps: (env) => containerDeps(env, {}),
  run: loadWave,
});
