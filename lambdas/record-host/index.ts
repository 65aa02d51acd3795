/**
 * RecordHostResult / RecordHostFailure Lambda entry. Environment: `TABLE_NAME`
 * (read at the first invocation).
 *
 * @module
 */
import middy from "@middy/core";
import { containerDeps, once } from "../common/deps.js";
import { BaseEnvSchema, loadEnv } from "../common/env.js";
import { eventValidator, invocationLogger, type LambdaEntry } from "../common/middleware.js";
import { type RecordHostEvent, RecordHostEventSchema } from "../common/schemas.js";
import { type RecordHostResult, recordHost } from "./record-host.js";

export * from "./record-host.js";

const deps = once(() => containerDeps(loadEnv(BaseEnvSchema), {}));

/** Step Functions tasks `RecordHostResult` and `RecordHostFailure` → {@link RecordHostResult}. */
export const handler = middy()
  .use(invocationLogger({ name: "record-host" }))
  .use(eventValidator({ schema: RecordHostEventSchema }))
  .handler((event) =>
    recordHost(deps(), event as RecordHostEvent),
  ) as unknown as LambdaEntry<RecordHostResult>;
