/**
 * The `fewest-jobs` order: which hosts fill a wave's slots, and where the hosts they
 * push out go. Pure: LoadWave hands it the hosts not yet started and their job
 * counts, and applies the placements it returns.
 *
 * @module
 */
import type { JobCount } from "./job-counts.js";

/** A host not yet started, where the plan (or an earlier wave's choice) put it. */
export interface WaitingHost {
  readonly hostId: string;
  readonly wave: number;
  readonly order: number;
}

/** Where a host goes, and what it reported. */
export interface Placement {
  readonly hostId: string;
  readonly fromWave: number;
  readonly toWave: number;
  readonly order: number;
  readonly count: JobCount;
}

/**
 * Fills wave `wave` (`slots` hosts) with the hosts that run the fewest jobs, ties and
 * hosts without an answer (last) in planned order. A host pushed out of the wave takes
 * the wave and position of the host that took its place, so every later wave keeps
 * its size. Returns a placement for each host of the wave, then each host pushed out,
 * in that order; the wave's hosts keep the wave's positions, given in rank order.
 */
export function placeFewestJobsFirst(
  hosts: readonly WaitingHost[],
  counts: ReadonlyMap<string, JobCount>,
  wave: number,
  slots: number,
): Placement[] {
  const countOf = (host: WaitingHost): JobCount =>
    counts.get(host.hostId) ?? { reason: "was not asked" };
  const planned = [...hosts].sort((a, b) => a.wave - b.wave || a.order - b.order);
  const jobs = (host: WaitingHost) => {
    const count = countOf(host);
    return "jobCount" in count ? count.jobCount : Number.POSITIVE_INFINITY;
  };
  // A stable sort keeps the planned order among equals.
  const ranked = [...planned].sort((a, b) => jobs(a) - jobs(b));
  const chosen = ranked.slice(0, slots);
  const chosenIds = new Set(chosen.map((h) => h.hostId));
  const positions = planned
    .filter((h) => h.wave === wave)
    .map((h) => h.order)
    .sort((a, b) => a - b);
  const incoming = planned.filter((h) => h.wave !== wave && chosenIds.has(h.hostId));
  const pushedOut = planned.filter((h) => h.wave === wave && !chosenIds.has(h.hostId));
  const placements: Placement[] = chosen.map((host, rank) => ({
    hostId: host.hostId,
    fromWave: host.wave,
    toWave: wave,
    // Positions of the planned wave first; a wave left short by an interrupted
    // placement gets new ones after every other.
    order: positions[rank] ?? maxOrder(hosts) + 1 + rank,
    count: countOf(host),
  }));
  pushedOut.forEach((host, index) => {
    const taken = incoming[index];
    placements.push({
      hostId: host.hostId,
      fromWave: host.wave,
      toWave: taken?.wave ?? laterWave(planned, wave),
      order: taken?.order ?? maxOrder(hosts) + 1 + slots + index,
      count: countOf(host),
    });
  });
  return placements;
}

function maxOrder(hosts: readonly WaitingHost[]): number {
  return hosts.reduce((max, h) => Math.max(max, h.order), -1);
}

/** The next wave after `wave` that holds a waiting host, else the one right after. */
function laterWave(planned: readonly WaitingHost[], wave: number): number {
  return planned.find((h) => h.wave > wave)?.wave ?? wave + 1;
}
