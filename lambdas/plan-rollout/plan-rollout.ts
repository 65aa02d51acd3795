/**
 * PlanRollout: validate the execution input, resolve and order the hosts, split them
 * into waves, take the fleet lock and the hosts' leases, and write the rollout ledger.
 *
 * @module
 */
import type { Deps } from "../common/deps.js";
import {
  FleetLockedError,
  InvalidInputError,
  LedgerConflictError,
  UnknownProfileError,
} from "../common/errors.js";
import type { NewHost, Rollout } from "../common/ledger/index.js";
import { silentLogger } from "../common/logger.js";
import { artifactDirOf } from "../common/patterns.js";
import {
  DEFAULT_WAVE_SIZE,
  type PlanRolloutEvent,
  parseOrThrow,
  RollbackInputSchema,
  type RolloutInput,
  RolloutInputSchema,
  type RolloutMode,
  type WaveSize,
} from "../common/schemas.js";
import { type ExecutionStatusSource, siblingExecutionArn } from "./execution-status.js";
import { planRollback, type RollbackPlan } from "./plan-rollback.js";
import { resolveHosts } from "./resolve-hosts.js";

export { MAX_HOSTS, resolveHosts } from "./resolve-hosts.js";

/**
 * Configuration of {@link planRollout} (from `PROFILE_NAMES`, `TARGET_TAG_KEY`,
 * `TARGET_TAG_VALUE`, `HOST_STEP_CONCURRENCY`, `ARTIFACT_DIRS`).
 */
export interface PlanRolloutConfig {
  /**
   * Directories a file:// artifact may come from (the stack's `artifactDirs`).
   * @default none: file:// artifacts are refused
   */
  readonly artifactDirs?: readonly string[];
  /** Profiles deployed with the stack. */
  readonly profileNames: readonly string[];
  /** Only instances carrying this tag and value can be targeted. */
  readonly targetTagKey: string;
  /** See {@link targetTagKey}. */
  readonly targetTagValue: string;
  /**
   * The largest `batchSize` accepted: a Map batch runs one host-step invocation per
   * host at a time, so this bounds the stack's Lambda concurrency. @default 100
   */
  readonly hostStepConcurrency?: number;
}

/** Default of {@link PlanRolloutConfig.hostStepConcurrency} (context `hostStepConcurrency`). */
export const DEFAULT_HOST_STEP_CONCURRENCY = 100;

/** Dependencies of {@link planRollout}: the common ones and who answers whether an execution runs. */
export type PlanRolloutDeps = Deps<PlanRolloutConfig> & {
  /** @default none: breakLock is refused, as no owner can be shown to be dead */
  readonly executionStatus?: ExecutionStatusSource;
};

/** What PlanRollout returns (state `$.plan`): small, whatever the host count. */
export interface PlanResult {
  readonly rolloutId: string;
  readonly hostCount: number;
  readonly waveCount: number;
  readonly batchSize: number;
  readonly bakeSeconds: number;
  readonly dryRun: boolean;
  /** Number of hosts in each wave. */
  readonly waves: number[];
  /** What each host's item processor runs: the rollout steps, or the rollback step. */
  readonly mode: RolloutMode;
}

/**
 * Plans a rollout. Invalid input, an unknown profile or unknown hosts are refused
 * before anything is written; with `dryRun` nothing is written at all.
 *
 * @throws InvalidInputError, UnknownProfileError, NoHostsError, FleetLockedError
 */
export async function planRollout(
  deps: PlanRolloutDeps,
  event: PlanRolloutEvent,
): Promise<PlanResult> {
  const log = (deps.logger ?? silentLogger).child({ rolloutId: event.rolloutId });
  if (typeof event.input !== "object" || event.input === null || Array.isArray(event.input)) {
    throw new InvalidInputError("input: the execution input must be a JSON object");
  }
  const rollback =
    "rollback" in event.input
      ? await planRollback(deps.store, parseOrThrow(RollbackInputSchema, event.input))
      : undefined;
  const input = rollback?.input ?? parseOrThrow(RolloutInputSchema, event.input);
  checkBatchSize(input.batchSize, deps.config.hostStepConcurrency ?? DEFAULT_HOST_STEP_CONCURRENCY);
  // A rollback stages nothing: the artifact is the rolled-back rollout's, never fetched.
  if (rollback === undefined) checkArtifactDir(input.artifact.url, deps.config.artifactDirs ?? []);
  if (!deps.config.profileNames.includes(input.profile)) {
    throw new UnknownProfileError(
      `profile: "${input.profile}" is not deployed (deployed: ${deps.config.profileNames.join(", ")})`,
    );
  }
  const hosts = await resolveHosts(deps.ssm, deps.config, input.hosts);
  const waves = planWaves(hosts, input);
  if (waves.length > MAX_WAVES) throw tooManyWaves(hosts.length, waves.length, input);
  checkApprovalWaves(input, waves.length);
  const plan: PlanResult = {
    rolloutId: event.rolloutId,
    hostCount: hosts.length,
    waveCount: waves.length,
    batchSize: input.batchSize,
    bakeSeconds: input.bakeSeconds,
    dryRun: input.dryRun,
    waves: waves.map((wave) => wave.length),
    mode: rollback === undefined ? "rollout" : "rollback",
  };
  if (input.dryRun) {
    log.info("dry run planned", { hostCount: plan.hostCount, waveCount: plan.waveCount });
    return plan;
  }

  // An execution name already used by another rollout (another state machine, or a
  // name reused after 90 days) is refused before anything is written.
  const existing = await deps.store.getRollout(event.rolloutId);
  if (existing !== undefined && !isSamePlan(existing, input)) {
    throw new InvalidInputError(
      `rolloutId: ${event.rolloutId} already names another rollout (${existing.status}); start the execution under a new name`,
    );
  }

  const now = deps.clock.now();
  if (input.breakLock !== undefined) await checkOwnerEnded(deps, event, input, now);
  const lock = await deps.store.acquireLock({
    fleet: input.fleet,
    owner: event.rolloutId,
    now,
    ttlSeconds: input.lockTtlSeconds,
    breakLock: input.breakLock,
  });
  log.info("fleet lock taken", { fleet: input.fleet, expiresAt: lock.expiresAt });
  try {
    // No host may be in two running rollouts, whatever their fleets: refused here,
    // before anything else is written.
    await deps.store.acquireLeases({
      owner: event.rolloutId,
      fleet: input.fleet,
      hostIds: hosts,
      now,
      breakLock: input.breakLock,
    });
    await writeLedger(deps, event.rolloutId, input, waves, now, rollback);
  } catch (error) {
    // Planning errors end the execution without RecordRolloutFailure, so the lock and
    // the leases would otherwise be held until the lock expires.
    await deps.store
      .releaseLeases(event.rolloutId, hosts)
      .then(() => deps.store.releaseLock(input.fleet, event.rolloutId))
      .catch((releaseError: unknown) => {
        log.error("could not release the fleet lock and leases after a failed plan", {
          error: releaseError,
        });
      });
    throw error;
  }
  log.info("rollout planned", { hostCount: plan.hostCount, waveCount: plan.waveCount });
  return plan;
}

/**
 * Refuses an `approval.afterWaves` entry that gates no wave: approval is asked after a
 * wave and lets the next one start, so the last wave and waves past it name nothing.
 */
export function checkApprovalWaves(input: RolloutInput, waveCount: number): void {
  const afterWaves = input.approval?.afterWaves ?? [];
  const allowed =
    waveCount < 2
      ? "a plan of one wave has no next wave to approve"
      : `approval may follow waves 0 to ${waveCount - 2}`;
  const lines = afterWaves.flatMap((wave, index) =>
    wave < waveCount - 1
      ? []
      : [
          `approval.afterWaves[${index}]: wave ${wave} is not followed by another wave ` +
            `(the plan has ${waveCount} wave${waveCount === 1 ? "" : "s"}, numbered from 0; ${allowed})`,
        ],
  );
  if (lines.length > 0) throw new InvalidInputError(lines.join("; "));
}

/** Refuses a batch that would run more host-step invocations at once than the stack allows. */
function checkBatchSize(batchSize: number, bound: number): void {
  if (batchSize > bound) {
    throw new InvalidInputError(
      `batchSize: ${batchSize} is above this stack's host concurrency bound ${bound} (context hostStepConcurrency)`,
    );
  }
}

async function writeLedger(
  deps: Deps<PlanRolloutConfig>,
  rolloutId: string,
  input: RolloutInput,
  waves: readonly string[][],
  now: number,
  rollback: RollbackPlan | undefined,
): Promise<void> {
  const hostCount = waves.reduce((sum, wave) => sum + wave.length, 0);
  const created = await deps.store.createRollout({
    rolloutId,
    input,
    hostCount,
    waveCount: waves.length,
    ...(rollback === undefined ? {} : { rollbackOf: rollback.rollbackOf }),
    now,
  });
  if (created === "exists") {
    // A Lambda retry of this very plan may find its own rollout; anything else is a clash.
    const existing = await deps.store.getRollout(rolloutId);
    if (existing === undefined || !isSamePlan(existing, input)) {
      throw new LedgerConflictError(
        `rollout ${rolloutId} already exists (${existing?.status ?? "unreadable"}) with another plan`,
      );
    }
  }
  let order = 0;
  const versions = new Map(rollback?.hosts.map((host) => [host.hostId, host]));
  const hosts: NewHost[] = waves.flatMap((wave, waveIndex) =>
    wave.map((instanceId) => {
      const expected = versions.get(instanceId);
      return {
        hostId: instanceId,
        instanceId,
        wave: waveIndex,
        order: order++,
        ...(expected === undefined
          ? {}
          : { fromVersion: expected.fromVersion, toVersion: expected.toVersion }),
      };
    }),
  );
  await deps.store.putHosts(rolloutId, hosts, now);
}

/**
 * `breakLock` takes only the lock (and leases) of a rollout that no longer runs: one
 * whose lock of this fleet has expired by its raw `expiresAt`, or whose execution has
 * ended. A lock item that fails its schema is judged by its raw owner and expiry.
 *
 * @throws FleetLockedError naming the owner when it still runs or cannot be shown dead
 */
async function checkOwnerEnded(
  deps: PlanRolloutDeps,
  event: PlanRolloutEvent,
  input: RolloutInput,
  now: number,
): Promise<void> {
  const owner = input.breakLock as string;
  const held = await deps.store.getHeldLock(input.fleet);
  const expiresAt = held?.owner === owner ? (held.expiresAt ?? 0) : 0;
  if (held?.owner === owner && expiresAt <= Math.floor(now / 1000)) return;
  const executionArn =
    event.executionArn === undefined ? undefined : siblingExecutionArn(event.executionArn, owner);
  const status =
    deps.executionStatus === undefined
      ? "UNKNOWN"
      : await deps.executionStatus({ rolloutId: owner, executionArn });
  if (status === "ENDED") return;
  const why =
    status === "RUNNING"
      ? "is still running"
      : "cannot be shown to have ended (its execution status is unknown)";
  throw new FleetLockedError(
    `breakLock: rollout ${owner} ${why}; breakLock takes only the lock of a rollout that no longer runs ` +
      "(wait for it to end, or stop its execution first)",
    owner,
    expiresAt,
  );
}

/**
 * Refuses a file:// artifact outside the stack's `artifactDirs`: the stage step runs
 * as root and would read any file (`/etc/shadow`, `/proc/self/environ`, `/dev/zero`).
 */
function checkArtifactDir(url: string, dirs: readonly string[]): void {
  if (!url.startsWith("file://") || artifactDirOf(url, dirs) !== undefined) return;
  throw new InvalidInputError(
    dirs.length === 0
      ? "artifact.url: file:// artifacts are refused: this stack allows none (list the directories they may come from in the CDK context knob artifactDirs, or use https://)"
      : `artifact.url: must lie below one of the stack's artifactDirs (${dirs.join(", ")})`,
  );
}

/** True when `rollout` is this very plan, written by an earlier attempt (a Lambda retry). */
function isSamePlan(rollout: Rollout, input: RolloutInput): boolean {
  // Both inputs went through the same schema, so their key order is the same.
  return rollout.status === "PLANNED" && JSON.stringify(rollout.input) === JSON.stringify(input);
}

/**
 * Most waves one rollout may have. The parent execution spends 28 history events per
 * wave (LoadWaveHosts 5, UpgradeWaveHosts 6, VerifyWaveHosts 6, EvaluateWave 5, three
 * Choice states 6), 17 more with a bake (BakeWave 2, VerifyWaveHosts 6, EvaluateWave 5,
 * two Choice states 4), plus about 8 on each of at most 100 approval-gated waves and 16
 * outside the loop (docs/benchmarks.md): 16 + 45 × 500 + 8 × 100 = 23,316, so 500
 * waves stay under Step Functions' 25,000-event limit whatever the fleet size.
 */
export const MAX_WAVES = 500;

/** First wave = `canary` hosts (when > 0), then waves of `waveSize`. */
export function splitWaves<T>(hosts: readonly T[], canary: number, waveSize: number): T[][] {
  const waves: T[][] = [];
  let start = 0;
  if (canary > 0 && hosts.length > 0) {
    waves.push(hosts.slice(0, canary));
    start = Math.min(canary, hosts.length);
  }
  for (; start < hosts.length; start += waveSize) waves.push(hosts.slice(start, start + waveSize));
  return waves;
}

// ---------------------------------------------------------------------------
// Growing waves (`waves`)

/** The waves of `input`: `waves` when given, else `canary` then waves of `waveSize`. */
export function planWaves<T>(hosts: readonly T[], input: RolloutInput): T[][] {
  if (input.waves !== undefined) return splitGrowingWaves(hosts, input.waves);
  return splitWaves(hosts, input.canary ?? 0, input.waveSize ?? DEFAULT_WAVE_SIZE);
}

/** Hosts in a wave of `size` out of `hostCount`: a percentage is rounded up, at least 1. */
export function waveSizeOf(size: WaveSize, hostCount: number): number {
  if (typeof size === "number") return size;
  return Math.max(1, Math.ceil((hostCount * Number(size.slice(0, -1))) / 100));
}

/**
 * Waves of the sizes listed in `sizes`, the last one repeating until every host has a
 * wave (Ansible's `serial` list): `[1, 5, "20%", "100%"]` is a canary of one, a wave
 * of five, a fifth of the fleet, then the rest.
 */
export function splitGrowingWaves<T>(hosts: readonly T[], sizes: readonly WaveSize[]): T[][] {
  const waves: T[][] = [];
  for (let start = 0, index = 0; start < hosts.length; index++) {
    const size = sizes[Math.min(index, sizes.length - 1)] ?? DEFAULT_WAVE_SIZE;
    const count = waveSizeOf(size, hosts.length);
    waves.push(hosts.slice(start, start + count));
    start += count;
  }
  return waves;
}

/** The error for a plan of more than {@link MAX_WAVES} waves, naming the field to change. */
function tooManyWaves(hostCount: number, waveCount: number, input: RolloutInput): Error {
  if (input.waves !== undefined) {
    return new InvalidInputError(
      `waves: ${hostCount} hosts in waves of ${JSON.stringify(input.waves)} make ${waveCount} waves; ` +
        `one execution's history holds at most ${MAX_WAVES} (make the last wave size larger)`,
    );
  }
  const canary = input.canary ?? 0;
  const waveSize = input.waveSize ?? DEFAULT_WAVE_SIZE;
  const perWave = Math.ceil((hostCount - Math.min(canary, hostCount)) / (MAX_WAVES - 1));
  return new InvalidInputError(
    `waveSize: ${hostCount} hosts in waves of ${waveSize} make ${waveCount} waves; ` +
      `one execution's history holds at most ${MAX_WAVES} (use a waveSize of at least ${perWave})`,
  );
}
