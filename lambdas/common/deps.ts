/**
 * What the domain functions receive instead of importing clients: the ledger store,
 * the SDK clients, a clock, their configuration, a logger and the metrics. Tests build these by hand with
 * mocked clients; the handlers build them once per container from the environment.
 *
 * @module
 */
import type { S3Client } from "@aws-sdk/client-s3";
import type { SSMClient } from "@aws-sdk/client-ssm";
import type { AlarmReader } from "./alarms.js";
import { getDocumentClient, getS3Client, getSsmClient } from "./clients.js";
import { type Clock, systemClock } from "./clock.js";
import type { BaseEnv, NightlyCleanupEnv } from "./env.js";
import { DynamoLedgerStore, type LedgerStore } from "./ledger/index.js";
import { domainLogger, getContainerLogger, type Logger } from "./logger.js";
import {
  containerMetricsPublisher,
  createRolloutMetrics,
  powertoolsSink,
  type RolloutMetrics,
} from "./metrics.js";

/** Dependencies of a domain function with configuration `C`. */
export interface Deps<C> {
  readonly store: LedgerStore;
  readonly ssm: SSMClient;
  readonly s3: S3Client;
  readonly clock: Clock;
  readonly config: C;
  /** @default silent */
  readonly logger?: Logger;
  /** Where outcomes are measured (see metrics.ts). @default none */
  readonly metrics?: RolloutMetrics;
  /** The alarm gate's reader (rollouts with `alarms`). @default none: no alarm is read */
  readonly alarms?: AlarmReader;
}

/** The time left in the current invocation (a subset of the Lambda context). */
export interface RemainingTime {
  getRemainingTimeInMillis(): number;
}

/**
 * Dependencies from the container's clients, its Powertools Logger and Metrics (the
 * ones the handler chain flushes and resets) and the validated environment.
 */
export function containerDeps<C>(
  env: BaseEnv & Partial<Pick<NightlyCleanupEnv, "CLEANUP_OVERDUE_NIGHTS">>,
  config: C,
): Deps<C> {
  const logger = getContainerLogger();
  return {
    store: new DynamoLedgerStore({ client: getDocumentClient(), tableName: env.TABLE_NAME }),
    ssm: getSsmClient(),
    s3: getS3Client(),
    clock: systemClock,
    config,
    logger: domainLogger(logger),
    metrics: createRolloutMetrics(powertoolsSink(containerMetricsPublisher(logger)), {
      overdueNights: env.CLEANUP_OVERDUE_NIGHTS,
    }),
  };
}

/** Memoises a factory: handlers build their dependencies at the first invocation. */
export function once<T>(factory: () => T): () => T {
  let value: T | undefined;
  let built = false;
  return () => {
    if (!built) {
      value = factory();
      built = true;
    }
    return value as T;
  };
}

// Kept for the domain modules that import it from here; it lives in clock.ts.
export { isoTime } from "./clock.js";
