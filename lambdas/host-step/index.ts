/**
 * host-step Lambda entry (Send<Step>Command / Poll<Step>Command). Environment:
 * `TABLE_NAME`, `DOCUMENT_PREFIX`, `OUTPUT_BUCKET`, optional `INLINE_POLL_SECONDS`, `DELIVERY_TIMEOUT_SECONDS`
 * (read at the first invocation).
 *
 * @module
 */
import { getAlarmReader } from "../common/alarms.js";
import { containerDeps } from "../common/deps.js";
import { defineHandler } from "../common/handler.js";
import type { Rollout } from "../common/ledger/index.js";
import { HostStepEventSchema, type StepState } from "../common/schemas.js";
import { type HostStepConfig, type HostStepDeps, runHostStep } from "./host-step.js";

export * from "./host-step.js";

/** `{action, step, host, command?}` → {@link StepState}. */
export const handler = defineHandler({
  name: "host-step",
  eventSchema: HostStepEventSchema,
  deps: (env): HostStepDeps => ({
    ...containerDeps<HostStepConfig>(env, {
      documentPrefix: env.DOCUMENT_PREFIX,
      outputBucket: env.OUTPUT_BUCKET,
      inlinePollSeconds: env.INLINE_POLL_SECONDS,
      deliveryTimeoutSeconds: env.DELIVERY_TIMEOUT_SECONDS,
    }),
    rolloutCache: new Map<string, Rollout>(),
    alarms: getAlarmReader(),
  }),
  run: runHostStep,
});
