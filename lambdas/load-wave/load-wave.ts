/**
 * LoadWaveHosts: the hosts of one wave, in rollout order, for the Map state. For a
 * `fewest-jobs` rollout it first fills the wave with the hosts, among those not
 * started yet, that run the fewest jobs (their answers to a job-count command) and
 * records each one's count and place in the ledger.
 *
 * @module
 */
import type { Deps } from "../common/deps.js";
import { hostDocumentName } from "../common/document-names.js";
import type { Host, Rollout } from "../common/ledger/index.js";
import type { LoadWaveEvent } from "../common/schemas.js";
import { planWaves } from "../plan-rollout/plan-rollout.js";
import { placeFewestJobsFirst, type WaitingHost } from "./fewest-jobs.js";
import { countJobs } from "./job-counts.js";

/** Configuration of {@link loadWave} (from `DOCUMENT_PREFIX`, `JOB_COUNT_SECONDS`). */
export interface LoadWaveConfig {
  /** The job-count probe is `<documentPrefix>-Preflight-<profile>` with `mode=jobCount`. */
  readonly documentPrefix?: string;
  /** How long a fewest-jobs wave waits for the job counts. @default 60 */
  readonly jobCountSeconds?: number;
}

/** What LoadWaveHosts returns (state `$.wave`). */
export interface LoadWaveResult {
  readonly wave: number;
  readonly hosts: { hostId: string; instanceId: string }[];
}

/**
 * Reads the wave's host items. Loading wave 0 also marks the rollout RUNNING
 * (conditional on PLANNED, so later waves and retries leave it alone).
 */
export async function loadWave(
  deps: Deps<LoadWaveConfig>,
  event: LoadWaveEvent,
): Promise<LoadWaveResult> {
  if (event.wave === 0) await deps.store.markRolloutRunning(event.rolloutId, deps.clock.now());
  const rollout = await deps.store.getRollout(event.rolloutId);
  if (rollout?.input.order === "fewest-jobs") await placeFewestJobs(deps, rollout, event.wave);
  const hosts = await deps.store.listWaveHosts(event.rolloutId, event.wave);
  deps.logger?.info("wave loaded", {
    rolloutId: event.rolloutId,
    wave: event.wave,
    hostCount: hosts.length,
  });
  return {
    wave: event.wave,
    hosts: hosts.map((host) => ({ hostId: host.hostId, instanceId: host.instanceId })),
  };
}

/**
 * Asks every host of this wave and the later ones how many jobs it runs and fills
 * the wave's planned slots with the idlest ones (placeFewestJobsFirst); a retry asks
 * again and finishes whatever placement an interrupted attempt left half done.
 */
async function placeFewestJobs(
  deps: Deps<LoadWaveConfig>,
  rollout: Rollout,
  wave: number,
): Promise<void> {
  const { rolloutId, input } = rollout;
  const waiting = waitingHosts(await deps.store.listHosts(rolloutId), wave);
  if (waiting.hosts.length === 0) return;
  const slots = planWaves(Array.from({ length: rollout.hostCount }), input)[wave]?.length ?? 0;
  const prefix = deps.config.documentPrefix;
  if (prefix === undefined) throw new Error("load-wave: DOCUMENT_PREFIX is not set");
  const counts = await countJobs(deps, {
    documentName: hostDocumentName(prefix, "preflight", input.profile),
    instanceIds: waiting.hosts.map((h) => h.hostId),
    parameters: { profile: input.profile, targetVersion: input.targetVersion, rolloutId },
    deadline: deps.clock.now() + (deps.config.jobCountSeconds ?? 60) * 1000,
  });
  const placements = placeFewestJobsFirst(waiting.hosts, counts, wave, slots);
  const now = deps.clock.now();
  for (const placement of placements) {
    await deps.store.placeHost({
      rolloutId,
      hostId: placement.hostId,
      fromWaves: waiting.waves.get(placement.hostId) ?? [placement.fromWave],
      toWave: placement.toWave,
      order: placement.order,
      ...("jobCount" in placement.count
        ? { jobCount: placement.count.jobCount }
        : { jobCountReason: placement.count.reason }),
      now,
    });
  }
  deps.logger?.info("wave ordered by fewest jobs", {
    rolloutId,
    wave,
    order: placements
      .filter((p) => p.toWave === wave)
      .map((p) => [p.hostId, "jobCount" in p.count ? p.count.jobCount : p.count.reason]),
  });
}

/**
 * The PENDING hosts of `wave` and later, one entry per host at its earliest wave, and
 * every wave that holds a copy of it (two after an interrupted placement).
 */
function waitingHosts(
  hosts: readonly Host[],
  wave: number,
): { hosts: WaitingHost[]; waves: Map<string, number[]> } {
  const waves = new Map<string, number[]>();
  const first = new Map<string, WaitingHost>();
  for (const host of hosts) {
    if (host.wave < wave || host.status !== "PENDING") continue;
    waves.set(host.hostId, [...(waves.get(host.hostId) ?? []), host.wave]);
    if (!first.has(host.hostId)) first.set(host.hostId, host);
  }
  return { hosts: [...first.values()], waves };
}
