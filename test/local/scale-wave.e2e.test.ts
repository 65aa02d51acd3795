/**
 * A wide wave through local mode under the strict runner: 100 lightweight hosts
 * (bench/light-fleet.ts) in one wave, at the default host concurrency bound (batch
 * 100), through the synthesized state machine, the real handlers, documents, host
 * scripts and local SSM. The 1,000-host version runs in `npm run bench` (section 5,
 * `scale-w1000`); it takes minutes.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLightFleet, LIGHT_PROFILE_FILE } from "../../bench/light-fleet.js";
import { type RolloutMeasurement, runScenario } from "../../bench/scenario.js";
import { MAX_HISTORY_EVENTS, MAX_PAYLOAD_BYTES } from "../../local/strict-state-machine.js";

const HOSTS = 100;

describe(`a rollout of ${HOSTS} hosts in one wave under the strict runner`, () => {
  let workDir: string;
  let measured: RolloutMeasurement;

  beforeAll(async () => {
    workDir = await mkdtemp(join(tmpdir(), "agent-rollout-scale-test-"));
    await createLightFleet(workDir, { hosts: HOSTS, fromVersion: "1.0.0" });
    const [rollout] = await runScenario({
      workDir,
      profileFile: LIGHT_PROFILE_FILE,
      rollouts: [
        {
          label: "wide",
          targetVersion: "2.0.0",
          batchSize: 100,
          canary: 0,
          waveSize: HOSTS,
          jobsPerHost: 0,
        },
      ],
    });
    if (rollout === undefined) throw new Error("no measurement");
    measured = rollout;
  }, 120_000);

  afterAll(async () => {
    await rm(workDir, { recursive: true, force: true });
  });

  it("upgrades every host without reaching a quota", () => {
    // Assess
    expect(measured.error).toBeNull();
    expect(measured.status).toBe("SUCCEEDED");
    expect(measured.waves).toBe(1);
    expect(measured.hostStatuses).toEqual({ UPGRADED: HOSTS });
  });

  it("reports what the strict runner counted, within the quotas and as the bench model counts", () => {
    // Prepare
    const { parent, children } = measured.quotas;
    if (parent === null) throw new Error("the strict runner measured no execution");

    // Assess
    expect(parent.historyEvents).toBe(measured.parent.historyEvents);
    expect(parent.historyEvents).toBeLessThan(MAX_HISTORY_EVENTS);
    expect(parent.largestPayloadBytes).toBeLessThan(MAX_PAYLOAD_BYTES);
    // One child per host to upgrade it, one to verify it; the upgrade's is the longer.
    expect(children.count).toBe(2 * HOSTS);
    expect(children.mostHistoryEvents).toBe(measured.childHistoryEvents.max);
    expect(children.largestPayloadBytes).toBeLessThan(MAX_PAYLOAD_BYTES);
  });
});
