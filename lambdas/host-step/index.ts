/**
 * host-step Lambda entry (Send<Step>Command / Poll<Step>Command). Environment:
 * `TABLE_NAME`, `DOCUMENT_PREFLIGHT`, `DOCUMENT_STAGE`, `DOCUMENT_SWITCH`,
 * `OUTPUT_BUCKET`, optional `INLINE_POLL_SECONDS`, `DELIVERY_TIMEOUT_SECONDS`
 * (read at the first invocation).
 *
 * @module
 */
import middy from "@middy/core";
import { containerDeps, once } from "../common/deps.js";
import { HostStepEnvSchema, loadEnv } from "../common/env.js";
import {
  eventValidator,
  type InvocationContext,
  invocationLogger,
  type LambdaEntry,
} from "../common/middleware.js";
import { type HostStepEvent, HostStepEventSchema, type StepState } from "../common/schemas.js";
import type { RolloutItem } from "../common/store.js";
import { type HostStepConfig, type HostStepDeps, runHostStep } from "./host-step.js";

export * from "./host-step.js";

const deps = once((): HostStepDeps => {
  const env = loadEnv(HostStepEnvSchema);
  return {
    ...containerDeps<HostStepConfig>(env, {
      documents: {
        preflight: env.DOCUMENT_PREFLIGHT,
        stage: env.DOCUMENT_STAGE,
        switch: env.DOCUMENT_SWITCH,
      },
      outputBucket: env.OUTPUT_BUCKET,
      inlinePollSeconds: env.INLINE_POLL_SECONDS,
      deliveryTimeoutSeconds: env.DELIVERY_TIMEOUT_SECONDS,
    }),
    rolloutCache: new Map<string, RolloutItem>(),
  };
});

/** `{action, step, host, command?}` → {@link StepState}. */
export const handler = middy()
  .use(invocationLogger({ name: "host-step" }))
  .use(eventValidator({ schema: HostStepEventSchema }))
  .handler((event, context) =>
    runHostStep(deps(), event as HostStepEvent, context as InvocationContext),
  ) as unknown as LambdaEntry<StepState>;
