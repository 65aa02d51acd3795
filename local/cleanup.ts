import type { LocalEnvironment } from "./environment.js";
import { logOffset, type RunMetric, readRunMetrics } from "./run-metrics.js";

/** One old release the cleanup looked at. */
export interface CleanupEntry {
  hostId: string;
  rolloutId: string;
  release?: string;
  reason?: string;
}

/** What the nightly cleanup handler reports. */
export interface CleanupReport {
  checked: number;
  deleted: CleanupEntry[];
  kept: CleanupEntry[];
  failed: CleanupEntry[];
  /** The metrics the function emitted during the run. */
  metrics: RunMetric[];
}

/**
 * Runs the nightly cleanup now: the same handler the EventBridge schedule invokes,
 * with the event EventBridge sends, against the local ledger and fleet.
 */
export async function runCleanup(env: LocalEnvironment): Promise<CleanupReport> {
  const event = {
    version: "0",
    id: crypto.randomUUID(),
    "detail-type": "Scheduled Event",
    source: "aws.events",
    account: "000000000000",
    time: new Date().toISOString(),
    region: "us-east-1",
    resources: ["arn:aws:events:us-east-1:000000000000:rule/local-nightly-cleanup"],
    detail: {},
  };
  const logStart = await logOffset(env.lambdaLogFile);
  const result = (await env.invoke("nightly-cleanup", event)) as Omit<CleanupReport, "metrics">;
  return { ...result, metrics: await readRunMetrics(env.lambdaLogFile, logStart) };
}
