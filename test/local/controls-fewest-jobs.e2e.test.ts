/**
 * `order: "fewest-jobs"` end to end, in local mode, on three demo-agent hosts in waves
 * of one: the first host (planned first) runs jobs, the others are idle. At each wave
 * LoadWave asks the hosts not started yet for their job count through the local SSM
 * endpoint (SendCommand to several instances, ListCommandInvocations), so the busy host
 * goes last; the ledger records each host's count and wave.
 */
import { request } from "node:http";
import { describe, expect, it } from "vitest";
import { readLedger } from "../../local/ledger-view.js";
import { runRollout } from "../../local/runner.js";
import { fleetSuite, inputFor } from "./faults-harness.js";

const fleet = fleetSuite("controls-fewest-jobs", { hosts: 3, faults: [] });

/** Starts a job on the demo agent listening on `port` (POST /jobs). */
function submitJob(port: number, id: string, seconds: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const body = JSON.stringify({ id, seconds, exitCode: 0 });
    const req = request(
      {
        host: "127.0.0.1",
        port,
        path: "/jobs",
        method: "POST",
        headers: { "content-type": "application/json" },
      },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

describe("fewest-jobs order", () => {
  it("upgrades the idle hosts first and the busy one last, recording the counts", async () => {
    // Prepare: host 1 runs two jobs through the whole rollout
    const busy = fleet.host(1);
    for (const id of ["busy-a", "busy-b"]) {
      expect(await submitJob(busy.agentPort, id, 90)).toBe(202);
    }
    const { canary: _, ...base } = await inputFor(fleet.env, fleet.hosts);
    const input = { ...base, waves: [1], order: "fewest-jobs" };

    // Act
    const report = await runRollout(fleet.env, {
      targetVersion: "2.0.0",
      batchSize: 1,
      canary: 0,
      failureThreshold: 0,
      rolloutId: "fewest-jobs-1",
      jobsPerHost: 0,
      input,
    });

    // Assess
    expect([report.status, report.error]).toEqual(["SUCCEEDED", null]);
    const { hosts } = await readLedger(fleet.env.ledger, "fewest-jobs-1");
    const byWave = [...hosts].sort((a, b) => a.wave - b.wave);
    expect(byWave.map((h) => [h.hostId, h.wave, h.status])).toEqual([
      [fleet.host(2).instanceId, 0, "UPGRADED"],
      [fleet.host(3).instanceId, 1, "UPGRADED"],
      [busy.instanceId, 2, "UPGRADED"],
    ]);
    expect(byWave.map((h) => h.jobCount)).toEqual([0, 0, 2]);
  }, 180_000);
});
