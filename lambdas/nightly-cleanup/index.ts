/**
 * NightlyCleanup Lambda entry (EventBridge schedule, or on demand with `{}`).
 * Environment: `TABLE_NAME`, `DOCUMENT_CLEANUP`, `OUTPUT_BUCKET`, optional
 * `DELIVERY_TIMEOUT_SECONDS`, `CLEANUP_CONCURRENCY` (read at the first invocation).
 *
 * @module
 */
import middy from "@middy/core";
import { containerDeps, once } from "../common/deps.js";
import { loadEnv, NightlyCleanupEnvSchema } from "../common/env.js";
import {
  eventValidator,
  type InvocationContext,
  invocationLogger,
  type LambdaEntry,
} from "../common/middleware.js";
import { NightlyCleanupEventSchema } from "../common/schemas.js";
import {
  type NightlyCleanupConfig,
  type NightlyCleanupResult,
  nightlyCleanup,
} from "./nightly-cleanup.js";

export * from "./nightly-cleanup.js";

const deps = once(() => {
  const env = loadEnv(NightlyCleanupEnvSchema);
  return containerDeps<NightlyCleanupConfig>(env, {
    document: env.DOCUMENT_CLEANUP,
    outputBucket: env.OUTPUT_BUCKET,
    deliveryTimeoutSeconds: env.DELIVERY_TIMEOUT_SECONDS,
    concurrency: env.CLEANUP_CONCURRENCY,
  });
});

/** Scheduled event → {@link NightlyCleanupResult}. */
export const handler = middy()
  .use(invocationLogger({ name: "nightly-cleanup" }))
  .use(eventValidator({ schema: NightlyCleanupEventSchema }))
  .handler((event, context) =>
    nightlyCleanup(deps(), event, context as InvocationContext),
  ) as unknown as LambdaEntry<NightlyCleanupResult>;
