/**
 * LoadWaveHosts: the hosts of one wave, in rollout order, for the Map state.
 *
 * @module
 */
import type { Deps } from "../common/deps.js";
import type { LoadWaveEvent } from "../common/schemas.js";

/** What LoadWaveHosts returns (state `$.wave`). */
export interface LoadWaveResult {
  readonly wave: number;
  readonly hosts: { hostId: string; instanceId: string }[];
}

/**
 * Reads the wave's host items. Loading wave 0 also marks the rollout RUNNING
 * (conditional on PLANNED, so later waves and retries leave it alone).
 */
export async function loadWave(deps: Deps<unknown>, event: LoadWaveEvent): Promise<LoadWaveResult> {
  if (event.wave === 0) await deps.store.markRolloutRunning(event.rolloutId, deps.clock.now());
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
