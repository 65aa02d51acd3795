/**
 * RecordHostResult / RecordHostFailure Lambda entry. Environment: `TABLE_NAME`
 * (read at the first invocation).
 *
 * @module
 */
import { containerDeps } from "../common/deps.js";
import { defineHandler } from "../common/handler.js";
import { RecordHostEventSchema } from "../common/schemas.js";
import { type RecordHostResult, recordHost } from "./record-host.js";

export * from "./record-host.js";
export * from "./stopped-serving.js";

/**
 * Step Functions tasks `RecordHostResult`, `RecordHostFailure`, `RecordStoppedServing`
 * and `RecordVerifyFailure` → {@link RecordHostResult}.
 */
export const handler = defineHandler({
  name: "record-host",
  eventSchema: RecordHostEventSchema,
  deps: (env) => containerDeps(env, {}),
  run: recordHost,
});
