/**
 * PlanRollout given `{"rollback": "<rolloutId>"}`: the hosts that rollout upgraded,
 * each with the versions its rollback step checks, under that rollout's waves and
 * thresholds; refused with nothing written when there is nothing it could roll back.
 */
import { DescribeInstanceInformationCommand, SSMClient } from "@aws-sdk/client-ssm";
import { mockClient } from "aws-sdk-client-mock";
import { beforeEach, describe, expect, it } from "vitest";
import type { HostItem } from "../../lambdas/common/ledger/items.js";
import { rolloutPk } from "../../lambdas/common/ledger/keys.js";
import { type PlanRolloutConfig, planRollout } from "../../lambdas/plan-rollout/plan-rollout.js";
import { hostItem, I1, I2, I3, rolloutItem, storedInput, T0, testDeps } from "./helpers.js";

const ssmMock = mockClient(SSMClient);
const CONFIG: PlanRolloutConfig = {
  profileNames: ["demo"],
  targetTagKey: "agent-rollout",
  targetTagValue: "enabled",
};
const ORIGINAL = "r-up";
const I4 = "i-0123456789abcdef4";

beforeEach(() => {
  ssmMock.reset();
  // The four hosts are managed instances carrying the target tag (one page).
  ssmMock.on(DescribeInstanceInformationCommand).resolves({
    InstanceInformationList: [I1, I2, I3, I4].map((id) => ({ InstanceId: id })),
  });
});

/** A finished rollout 1.0.0 -> 2.0.0 of four hosts, in the store of fresh deps. */
function depsWithOriginal(status: "SUCCEEDED" | "RUNNING" = "SUCCEEDED") {
  const deps = testDeps(CONFIG);
  const input = storedInput({
    hosts: { instanceIds: [I1, I2, I3, I4] },
    batchSize: 2,
    canary: 1,
    waveSize: 2,
    failureThreshold: 1,
    maxSuspendMs: 5000,
  });
  deps.store.putItem(
    rolloutItem({ pk: rolloutPk(ORIGINAL), rolloutId: ORIGINAL, status, input, hostCount: 4 }),
  );
  const host = (hostId: string, order: number, fields: Partial<HostItem>) =>
    hostItem({ rolloutId: ORIGINAL, hostId, instanceId: hostId, wave: order, order, ...fields });
  const switched = { commands: { preflight: "c1", stage: "c2", switch: "c3" } };
  for (const item of [
    host(I1, 0, { status: "UPGRADED", fromVersion: "1.0.0", toVersion: "2.0.0", ...switched }),
    host(I2, 1, { status: "SKIPPED", fromVersion: "2.0.0", commands: { preflight: "c1" } }),
    host(I3, 2, { status: "UPGRADED", fromVersion: "1.5.0", toVersion: "2.0.0", ...switched }),
    host(I4, 3, {
      status: "ROLLED_BACK",
      fromVersion: "1.0.0",
      toVersion: "1.0.0",
      ...switched,
    }),
  ]) {
    deps.store.putItem(item);
  }
  return deps;
}

describe("planRollout with a rollback input", () => {
  it("plans the hosts the rollout upgraded, each with its own versions, under its waves and thresholds", async () => {
    // Prepare
    const deps = depsWithOriginal();

    // Act
    const plan = await planRollout(deps, { rolloutId: "r-back", input: { rollback: ORIGINAL } });

    // Assess
    expect(plan).toEqual({
      rolloutId: "r-back",
      hostCount: 2,
      waveCount: 2,
      batchSize: 2,
      bakeSeconds: 0,
      dryRun: false,
      waves: [1, 1],
      mode: "rollback",
    });
    expect(await deps.store.getRollout("r-back")).toMatchObject({
      status: "PLANNED",
      rollbackOf: ORIGINAL,
      targetVersion: "1.0.0",
      failureThreshold: 1,
      input: {
        hosts: { instanceIds: [I1, I3] },
        batchSize: 2,
        canary: 1,
        waveSize: 2,
        maxSuspendMs: 5000,
        failureThreshold: 1,
      },
    });
    const hosts = await deps.store.listHosts("r-back");
    expect(hosts.map((h) => [h.hostId, h.wave, h.status, h.fromVersion, h.toVersion])).toEqual([
      [I1, 0, "PENDING", "2.0.0", "1.0.0"],
      [I3, 1, "PENDING", "2.0.0", "1.5.0"],
    ]);
    expect(await deps.store.getLock("default")).toMatchObject({ owner: "r-back" });
    expect((await deps.store.getLease(I3))?.owner).toBe("r-back");
  });

  it("writes nothing for a dry run", async () => {
    // Prepare
    const deps = depsWithOriginal();

    // Act
    const plan = await planRollout(deps, {
      rolloutId: "r-dry",
      input: { rollback: ORIGINAL, dryRun: true },
    });

    // Assess
    expect(plan).toMatchObject({ hostCount: 2, dryRun: true, mode: "rollback" });
    expect(await deps.store.getRollout("r-dry")).toBeUndefined();
    expect(await deps.store.getLock("default")).toBeUndefined();
  });

  it.each([
    [
      "an unknown rollout",
      { rollback: "r-none" },
      "SUCCEEDED",
      "InvalidInputError",
      /rollback: no rollout r-none in the ledger/,
    ],
    [
      "a running rollout",
      { rollback: ORIGINAL },
      "RUNNING",
      "InvalidInputError",
      /rollback: rollout r-up is still RUNNING/,
    ],
    [
      "an unknown field",
      { rollback: ORIGINAL, batchSize: 3 },
      "SUCCEEDED",
      "InvalidInputError",
      /batchSize: unknown field/,
    ],
    [
      "a bad rollout id",
      { rollback: "r up" },
      "SUCCEEDED",
      "InvalidInputError",
      /rollback: "r up" is not a rollout id/,
    ],
  ] as const)("refuses %s, with nothing written", async (_case, input, status, name, message) => {
    // Prepare
    const deps = depsWithOriginal(status);

    // Act
    const result = planRollout(deps, { rolloutId: "r-back", input });

    // Assess
    await expect(result).rejects.toMatchObject({ name, message: expect.stringMatching(message) });
    expect(await deps.store.getRollout("r-back")).toBeUndefined();
    expect(await deps.store.getLock("default")).toBeUndefined();
  });

  it("refuses the rollback of a rollback, and of a rollout that upgraded no host", async () => {
    // Prepare
    const deps = depsWithOriginal();
    await planRollout(deps, { rolloutId: "r-back", input: { rollback: ORIGINAL } });
    await deps.store.finishRollout({
      rolloutId: "r-back",
      status: "SUCCEEDED",
      counts: {},
      now: T0,
      from: "any",
    });
    await deps.store.releaseLock("default", "r-back");
    deps.store.putItem(
      rolloutItem({
        pk: rolloutPk("r-noop"),
        rolloutId: "r-noop",
        status: "SUCCEEDED",
        input: storedInput(),
      }),
    );
    deps.store.putItem(hostItem({ rolloutId: "r-noop", status: "SKIPPED", fromVersion: "2.0.0" }));

    // Act
    const again = planRollout(deps, { rolloutId: "r-again", input: { rollback: "r-back" } });
    const noop = planRollout(deps, { rolloutId: "r-none", input: { rollback: "r-noop" } });

    // Assess
    await expect(again).rejects.toMatchObject({
      name: "InvalidInputError",
      message: expect.stringContaining("rollback: rollout r-back is itself the rollback of r-up"),
    });
    await expect(noop).rejects.toMatchObject({
      name: "NoHostsError",
      message: "rollback: rollout r-noop upgraded no host; there is nothing to roll back",
    });
    expect(await deps.store.getRollout("r-again")).toBeUndefined();
    expect(await deps.store.getLock("default")).toBeUndefined();
  });
});
