/**
 * EvaluateWave Lambda entry. Environment: `TABLE_NAME` (read at the first invocation).
 *
 * @module
 */
import { getAlarmReader } from "../common/alarms.js";
import { containerDeps } from "../common/deps.js";
import { defineHandler } from "../common/handler.js";
import { EvaluateWaveEventSchema } from "../common/schemas.js";
import { type EvaluateWaveResult, evaluateWave } from "./evaluate-wave.js";

export * from "./evaluate-wave.js";

/** Step Functions task `EvaluateWave`: `{rolloutId, wave}` → {@link EvaluateWaveResult}. */
export const handler = defineHandler({
  name: "evaluate-wave",
  eventSchema: EvaluateWaveEventSchema,
  deps: (env) => ({ ...containerDeps(env, {}), alarms: getAlarmReader() }),
  run: evaluateWave,
});
