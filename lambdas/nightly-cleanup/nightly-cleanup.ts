/**
 * NightlyCleanup: for each snapshot whose cleanup is pending, ask its host (cleanup
 * document) to delete the old release once none of the recorded jobs runs any more.
 *
 * @module
 */
import type { Deps, RemainingTime } from "../common/deps.js";
import { hostDocumentName } from "../common/document-names.js";
import { CommandOutputError, CommandTimedOutError, describeError } from "../common/errors.js";
import type { CleanupAttempt, Snapshot } from "../common/ledger/index.js";
import { type Logger, silentLogger } from "../common/logger.js";
import { CleanupResultSchema, formatIssues } from "../common/schemas.js";
import { interpretInvocation, pollInvocation, sendCommand } from "../common/ssm-command.js";

/** Configuration of {@link nightlyCleanup}. */
export interface NightlyCleanupConfig {
  /**
   * Prefix of the document names (`DOCUMENT_PREFIX`): a snapshot is cleaned by
   * `<prefix>-Cleanup-<profile>`, the document of the snapshot's profile.
   */
  readonly documentPrefix: string;
  /** Command output bucket (`OUTPUT_BUCKET`). */
  readonly outputBucket: string;
  /** SendCommand `TimeoutSeconds`. @default 60 */
  readonly deliveryTimeoutSeconds: number;
  /** Hosts cleaned in parallel. @default 8 */
  readonly concurrency: number;
}

/** One snapshot in the result. */
export interface CleanupEntry {
  readonly hostId: string;
  readonly rolloutId: string;
  /** Release directory concerned. */
  readonly release: string;
  readonly reason: string;
}

/** What nightly-cleanup returns. */
export interface NightlyCleanupResult {
  /** Snapshots for which a cleanup command was attempted. */
  readonly checked: number;
  readonly deleted: CleanupEntry[];
  readonly kept: CleanupEntry[];
  readonly failed: CleanupEntry[];
  /** Pending snapshots left for the next run because the invocation ran out of time. */
  readonly deferred: number;
  /** Keys (partition and sort key) of pending snapshot items that fail their schema: skipped, never cleaned. */
  readonly corrupt: string[];
}

/** Time kept free at the end of the invocation. */
export const CLEANUP_RESERVE_MS = 5000;
/** A snapshot is not started with less time than this left (its result would be lost). */
export const MIN_TIME_PER_SNAPSHOT_MS = 10_000;

/**
 * Runs one cleanup command per pending snapshot: hosts in parallel (at most
 * `concurrency`), one command at a time per host (the host mutex would serialise them
 * anyway; this keeps them from waiting on each other's lock). DELETED and
 * ALREADY_DELETED mark the snapshot DONE and drop it from the index; KEPT and any
 * failure count an attempt and leave it pending for the next night.
 *
 * @param context - remaining invocation time; work stops 5 s before the end
 */
export async function nightlyCleanup(
  deps: Deps<NightlyCleanupConfig>,
  _event: unknown,
  context?: RemainingTime,
): Promise<NightlyCleanupResult> {
  const log = deps.logger ?? silentLogger;
  const start = deps.clock.now();
  const deadline =
    start + (context?.getRemainingTimeInMillis() ?? 15 * 60_000) - CLEANUP_RESERVE_MS;
  const { items: pending, corrupt } = await deps.store.listPendingCleanups();
  for (const key of corrupt) {
    log.error("corrupt snapshot item skipped; repair or delete it", { key });
  }
  const byHost = new Map<string, Snapshot[]>();
  for (const snapshot of pending) {
    const list = byHost.get(snapshot.hostId) ?? [];
    list.push(snapshot);
    byHost.set(snapshot.hostId, list);
  }

  const lists: Record<"deleted" | "kept" | "failed", CleanupEntry[]> = {
    deleted: [],
    kept: [],
    failed: [],
  };
  let checked = 0;
  let deferred = 0;
  await runPool([...byHost.values()], deps.config.concurrency, async (snapshots) => {
    for (const snapshot of snapshots) {
      if (deps.clock.now() + MIN_TIME_PER_SNAPSHOT_MS > deadline) {
        deferred++;
        continue;
      }
      checked++;
      const outcome = await cleanOne(deps, snapshot, deadline, log);
      lists[outcome.list].push(outcome.entry);
    }
  });
  const result: NightlyCleanupResult = { checked, ...lists, deferred, corrupt };
  log.info("nightly cleanup done", {
    pending: pending.length,
    checked,
    deleted: lists.deleted.length,
    kept: lists.kept.length,
    failed: lists.failed.length,
    deferred,
    corrupt: corrupt.length,
  });
  const done = new Set(lists.deleted.map((e) => `${e.hostId}/${e.rolloutId}`));
  const stillPending = pending.filter((s) => !done.has(`${s.hostId}/${s.rolloutId}`));
  const counts = {
    deleted: lists.deleted.length,
    kept: lists.kept.length,
    failed: lists.failed.length,
  };
  deps.metrics?.cleanupRun({ ...counts, deferred, stillPending, now: deps.clock.now() });
  return result;
}

async function cleanOne(
  deps: Deps<NightlyCleanupConfig>,
  snapshot: Snapshot,
  deadline: number,
  parentLog: Logger,
): Promise<{ list: "deleted" | "kept" | "failed"; entry: CleanupEntry }> {
  const log = parentLog.child({ rolloutId: snapshot.rolloutId, hostId: snapshot.hostId });
  const key = { hostId: snapshot.hostId, rolloutId: snapshot.rolloutId };
  const entry = (release: string | null | undefined, reason: string): CleanupEntry => ({
    ...key,
    release: release ?? snapshot.oldRelease,
    reason,
  });
  try {
    const commandId = await sendCommand(deps.ssm, {
      documentName: hostDocumentName(deps.config.documentPrefix, "cleanup", snapshot.profile),
      instanceId: snapshot.instanceId,
      parameters: {
        profile: snapshot.profile,
        releaseVersion: snapshot.oldVersion,
        rolloutId: snapshot.rolloutId,
        snapshotSha256: snapshot.jobsSha256,
      },
      deliveryTimeoutSeconds: deps.config.deliveryTimeoutSeconds,
      outputBucket: deps.config.outputBucket,
      outputKeyPrefix: `commands/cleanup/${snapshot.rolloutId}/${snapshot.hostId}`,
      comment: `agent-rollout cleanup ${snapshot.rolloutId}`,
    });
    const poll = await pollInvocation({
      ssm: deps.ssm,
      clock: deps.clock,
      commandId,
      instanceId: snapshot.instanceId,
      deadline,
    });
    if (poll.invocation === undefined) {
      throw new CommandTimedOutError(
        `cleanup command ${commandId} still ${poll.lastStatus ?? "unknown to SSM"} when the run ended`,
      );
    }
    const line = await interpretInvocation({
      invocation: poll.invocation,
      s3: deps.s3,
      outputBucket: deps.config.outputBucket,
      what: "cleanup",
    });
    const parsed = CleanupResultSchema.safeParse(line, { reportInput: true });
    if (!parsed.success) {
      throw new CommandOutputError(`cleanup result line: ${formatIssues(parsed.error)}`);
    }
    const found = parsed.data;
    const attempt: CleanupAttempt = {
      status: found.status,
      ...(found.reason == null ? {} : { reason: found.reason }),
      ...(found.alive == null ? {} : { alive: found.alive }),
    };
    const now = deps.clock.now();
    if (found.status === "KEPT") {
      await deps.store.recordCleanupAttempt({ ...key, result: attempt, now });
      const reason = found.reason ?? `${found.alive ?? "some"} recorded job(s) still running`;
      log.info("old release kept", { reason });
      return { list: "kept", entry: entry(found.release, reason) };
    }
    if (!(await deps.store.completeCleanup({ ...key, result: attempt, now }))) {
      log.warn("snapshot no longer pending; another run completed it");
    }
    log.info("old release deleted", { status: found.status });
    return { list: "deleted", entry: entry(found.release, found.status) };
  } catch (error) {
    const info = describeError(error);
    log.warn("cleanup failed; retried next run", { error: info });
    try {
      await deps.store.recordCleanupAttempt({
        ...key,
        result: { status: "ERROR", error: info },
        now: deps.clock.now(),
      });
    } catch (recordError) {
      log.error("could not record the failed cleanup attempt", { error: recordError });
    }
    return { list: "failed", entry: entry(undefined, `${info.name}: ${info.message}`) };
  }
}

/** Runs `work` over `items` with at most `limit` in flight. */
async function runPool<T>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    for (;;) {
      const index = next++;
      const item = items[index];
      if (index >= items.length || item === undefined) return;
      await work(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
