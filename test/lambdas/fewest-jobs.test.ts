/** The fewest-jobs order: who fills a wave's slots, and where the hosts pushed out go. */
import { describe, expect, it } from "vitest";
import { placeFewestJobsFirst } from "../../lambdas/load-wave/fewest-jobs.js";
import type { JobCount } from "../../lambdas/load-wave/job-counts.js";

const host = (hostId: string, wave: number, order: number) => ({ hostId, wave, order });

describe("placeFewestJobsFirst", () => {
  it("gives the wave's slots to the idlest hosts; a host pushed out takes the place of the one that came in", () => {
    // Prepare: wave 1 (two slots) planned as a, b; c, d wait in wave 2
    const hosts = [host("a", 1, 1), host("b", 1, 2), host("c", 2, 3), host("d", 2, 4)];
    const counts = new Map<string, JobCount>([
      ["a", { jobCount: 5 }],
      ["b", { reason: "did not answer in time" }],
      ["c", { jobCount: 0 }],
      ["d", { jobCount: 5 }],
    ]);

    // Act
    const placements = placeFewestJobsFirst(hosts, counts, 1, 2);

    // Assess: c (idle) then a (5 jobs, planned before d); b, silent, goes to c's place
    expect(placements).toEqual([
      { hostId: "c", fromWave: 2, toWave: 1, order: 1, count: { jobCount: 0 } },
      { hostId: "a", fromWave: 1, toWave: 1, order: 2, count: { jobCount: 5 } },
      {
        hostId: "b",
        fromWave: 1,
        toWave: 2,
        order: 3,
        count: { reason: "did not answer in time" },
      },
    ]);
  });

  it("keeps the planned order among hosts with as many jobs", () => {
    const hosts = [host("a", 0, 0), host("b", 1, 1), host("c", 1, 2)];
    const counts = new Map<string, JobCount>(hosts.map((h) => [h.hostId, { jobCount: 1 }]));

    const placements = placeFewestJobsFirst(hosts, counts, 0, 1);

    expect(placements).toEqual([
      { hostId: "a", fromWave: 0, toWave: 0, order: 0, count: { jobCount: 1 } },
    ]);
  });
});
