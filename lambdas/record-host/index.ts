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

/** Step Functions tasks `RecordHostResult` and `RecordHostFailure` → {@link RecordHostResult}. */
export const handler = defineHandler({
  name: "record-host",
  eventSchema: RecordHostEventSchema,
  deps: (env) => containerDeps(env, {}),
  run: recordHost,
});
