/**
 * NightlyCleanup Lambda entry (EventBridge schedule, or on demand with `{}`).
 * Environment: `TABLE_NAME`, `DOCUMENT_PREFIX`, `OUTPUT_BUCKET`, optional
 * `DELIVERY_TIMEOUT_SECONDS`, `CLEANUP_CONCURRENCY` (read at the first invocation).
 *
 * @module
 */
import { containerDeps } from "../common/deps.js";
import { defineHandler } from "../common/handler.js";
import { NightlyCleanupEventSchema } from "../common/schemas.js";
import {
  type NightlyCleanupConfig,
  type NightlyCleanupResult,
  nightlyCleanup,
} from "./nightly-cleanup.js";

export * from "./nightly-cleanup.js";

/** Scheduled event → {@link NightlyCleanupResult}. */
export const handler = defineHandler({
  name: "nightly-cleanup",
  eventSchema: NightlyCleanupEventSchema,
  deps: (env) =>
    containerDeps<NightlyCleanupConfig>(env, {
      documentPrefix: env.DOCUMENT_PREFIX,
      outputBucket: env.OUTPUT_BUCKET,
      deliveryTimeoutSeconds: env.DELIVERY_TIMEOUT_SECONDS,
      concurrency: env.CLEANUP_CONCURRENCY,
    }),
  run: nightlyCleanup,
});
