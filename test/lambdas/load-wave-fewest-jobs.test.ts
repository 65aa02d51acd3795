/**
 * LoadWave of a `fewest-jobs` rollout on the in-memory ledger: the hosts not started
 * yet report their job counts (mocked SSM), the idlest fill the wave, the ledger
 * records each one's count and place; a `planned` rollout asks nothing.
 */
import { createHash } from "node:crypto";
import { ListCommandInvocationsCommand, SendCommandCommand, SSMClient } from "@aws-sdk/client-ssm";
import { mockClient } from "aws-sdk-client-mock";
import { beforeEach, describe, expect, it } from "vitest";
import { loadWave } from "../../lambdas/load-wave/load-wave.js";
import { hostItem, I1, I2, I3, ROLLOUT_ID, rolloutItem, storedInput, testDeps } from "./helpers.js";

const ssmMock = mockClient(SSMClient);
beforeEach(() => ssmMock.reset());

function counted(jobCount: number): string {
  const line = JSON.stringify({ step: "preflight", status: "COUNTED", jobCount });
  return `result-sha256 ${createHash("sha256").update(line).digest("hex")}\n${line}\n`;
}

/** Three hosts in waves of one (canary 1, waveSize 1): I1, I2, I3 as planned. */
function rollout(order?: "fewest-jobs") {
  const deps = testDeps({ documentPrefix: "AgentRollout", jobCountSeconds: 10 });
  const input = storedInput({
    hosts: { instanceIds: [I1, I2, I3] },
    canary: 1,
    waveSize: 1,
    ...(order === undefined ? {} : { order }),
  });
  deps.store.putItem(rolloutItem({ input, hostCount: 3, waveCount: 3 }));
  [I1, I2, I3].forEach((hostId, order) => {
    deps.store.putItem(hostItem({ hostId, instanceId: hostId, wave: order, order }));
  });
  return deps;
}

describe("loadWave, fewest-jobs", () => {
  it("fills the wave with the idlest host; the one it replaces takes its place", async () => {
    // Prepare: I1 (planned first) runs 4 jobs, I2 none, I3 does not answer
    const deps = rollout("fewest-jobs");
    ssmMock.on(SendCommandCommand).resolves({ Command: { CommandId: "cmd-1" } });
    ssmMock.on(ListCommandInvocationsCommand).resolves({
      CommandInvocations: [
        { InstanceId: I1, Status: "Success", CommandPlugins: [{ Output: counted(4) }] },
        { InstanceId: I2, Status: "Success", CommandPlugins: [{ Output: counted(0) }] },
        { InstanceId: I3, Status: "InProgress", CommandPlugins: [{ Output: "" }] },
      ],
    });

    // Act
    const result = await loadWave(deps, { rolloutId: ROLLOUT_ID, wave: 0 });

    // Assess
    expect(result).toEqual({ wave: 0, hosts: [{ hostId: I2, instanceId: I2 }] });
    expect(ssmMock.commandCalls(SendCommandCommand)[0]?.args[0].input).toMatchObject({
      DocumentName: "AgentRollout-Preflight-demo",
      InstanceIds: [I1, I2, I3],
      Parameters: { mode: ["jobCount"], rolloutId: [ROLLOUT_ID] },
    });
    const placed = (await deps.store.listHosts(ROLLOUT_ID)).map((h) => [
      h.hostId,
      h.wave,
      h.order,
      h.jobCount ?? h.jobCountReason,
    ]);
    expect(placed).toEqual([
      [I2, 0, 0, 0],
      [I1, 1, 1, 4],
      [I3, 2, 2, undefined],
    ]);
  });

  it("asks again at the next wave, among the hosts not started", async () => {
    // Prepare: wave 0 done; now I3 is idle and I2 busy
    const deps = rollout("fewest-jobs");
    deps.store.putItem(hostItem({ hostId: I1, wave: 0, order: 0, status: "UPGRADED" }));
    ssmMock.on(SendCommandCommand).resolves({ Command: { CommandId: "cmd-2" } });
    ssmMock.on(ListCommandInvocationsCommand).resolves({
      CommandInvocations: [
        { InstanceId: I2, Status: "Success", CommandPlugins: [{ Output: counted(2) }] },
        { InstanceId: I3, Status: "Success", CommandPlugins: [{ Output: counted(0) }] },
      ],
    });

    // Act
    const result = await loadWave(deps, { rolloutId: ROLLOUT_ID, wave: 1 });

    // Assess
    expect(result.hosts).toEqual([{ hostId: I3, instanceId: I3 }]);
    expect(ssmMock.commandCalls(SendCommandCommand)[0]?.args[0].input.InstanceIds).toEqual([
      I2,
      I3,
    ]);
    expect((await deps.store.listWaveHosts(ROLLOUT_ID, 2)).map((h) => h.hostId)).toEqual([I2]);
  });

  it("asks nothing of a rollout in planned order", async () => {
    const deps = rollout();

    const result = await loadWave(deps, { rolloutId: ROLLOUT_ID, wave: 0 });

    expect(result.hosts).toEqual([{ hostId: I1, instanceId: I1 }]);
    expect(ssmMock.calls()).toHaveLength(0);
  });
});
