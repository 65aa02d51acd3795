/**
 * EvaluateWave Lambda entry. Environment: `TABLE_NAME` (read at the first invocation).
 *
 * @module
 */
import { getAlarmReader } from "../common/alarms.js";
import { containerDeps } from "../common/deps.js";
import { defineHandler } from "../common/handler.js";
import { EvaluateWaveFunctionEventSchema } from "../common/schemas.js";
import { type ApprovalTokenResult, recordApprovalToken } from "./approval.js";
import { type EvaluateWaveResult, evaluateWave } from "./evaluate-wave.js";

export * from "./approval.js";
export * from "./evaluate-wave.js";

/**
 * Step Functions task `EvaluateWave`: `{rolloutId, wave}` → {@link EvaluateWaveResult};
 * and `WaitForApproval` (`.waitForTaskToken`): `{action: "recordApprovalToken", ...}`.
 */
export const handler = defineHandler({
  name: "evaluate-wave",
  eventSchema: EvaluateWaveFunctionEventSchema,
  deps: (env) => ({ ...containerDeps(env, {}), alarms: getAlarmReader() }),
  run: (deps, event): Promise<EvaluateWaveResult | ApprovalTokenResult> =>
    "action" in event ? recordApprovalToken(deps, event) : evaluateWave(deps, event),
});
