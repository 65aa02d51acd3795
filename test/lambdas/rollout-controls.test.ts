/**
 * Rollout controls at the Lambda boundary: growing waves (`waves`) and the gates'
 * input fields, checked by the schema and applied by PlanRollout.
 */
import { DescribeInstanceInformationCommand, SSMClient } from "@aws-sdk/client-ssm";
import { mockClient } from "aws-sdk-client-mock";
import { beforeEach, describe, expect, it } from "vitest";
import { InvalidInputError } from "../../lambdas/common/errors.js";
import { parseOrThrow, RolloutInputSchema, type StepState } from "../../lambdas/common/schemas.js";
import { withSuspendLimit } from "../../lambdas/host-step/host-step.js";
import {
  MAX_WAVES,
  planRollout,
  splitGrowingWaves,
  waveSizeOf,
} from "../../lambdas/plan-rollout/plan-rollout.js";
import { recordHost } from "../../lambdas/record-host/record-host.js";
import {
  hostItem,
  I1,
  ROLLOUT_ID,
  rolloutItem,
  storedInput,
  testDeps,
  validInput,
} from "./helpers.js";

const ssmMock = mockClient(SSMClient);
const CONFIG = { profileNames: ["demo"], targetTagKey: "agent-rollout", targetTagValue: "enabled" };

function hexId(n: number): string {
  return `i-${n.toString(16).padStart(17, "0")}`;
}

/** Every id is a managed instance carrying the target tag. */
function managed(ids: readonly string[]) {
  ssmMock
    .on(DescribeInstanceInformationCommand)
    .resolves({ InstanceInformationList: ids.map((InstanceId) => ({ InstanceId })) });
}

beforeEach(() => ssmMock.reset());

describe("waves", () => {
  it("sizes a wave by count or by percentage of the fleet, rounded up, at least one host", () => {
    expect(waveSizeOf(5, 200)).toBe(5);
    expect(waveSizeOf("20%", 200)).toBe(40);
    expect(waveSizeOf("20%", 7)).toBe(2);
    expect(waveSizeOf("1%", 3)).toBe(1);
    expect(waveSizeOf("100%", 3)).toBe(3);
  });

  it("grows the waves as listed, the last size repeating until every host has a wave", () => {
    const hosts = Array.from({ length: 100 }, (_, n) => n);

    const waves = splitGrowingWaves(hosts, [1, 5, "20%"]);

    expect(waves.map((wave) => wave.length)).toEqual([1, 5, 20, 20, 20, 20, 14]);
    expect(waves.flat()).toEqual(hosts);
    expect(splitGrowingWaves(hosts, [1, 5, "20%", "100%"]).map((w) => w.length)).toEqual([
      1, 5, 20, 74,
    ]);
    expect(splitGrowingWaves([1, 2], [5])).toEqual([[1, 2]]);
  });

  it("refuses waves together with canary or waveSize, naming each field", () => {
    expect(() =>
      parseOrThrow(RolloutInputSchema, validInput({ waves: [1, "50%"], waveSize: 10 })),
    ).toThrow(
      "canary: give canary/waveSize or waves, not both; waveSize: give canary/waveSize or waves, not both",
    );
  });

  it("needs canary when waves is absent, and no canary nor waveSize default with waves", () => {
    const { canary: _, ...noCanary } = validInput();
    expect(() => parseOrThrow(RolloutInputSchema, noCanary)).toThrow(
      "canary: required (or give waves)",
    );
    const parsed = parseOrThrow(RolloutInputSchema, { ...noCanary, waves: [1, "100%"] });
    expect(parsed).not.toHaveProperty("waveSize");
    expect(parsed).not.toHaveProperty("canary");
    expect(parseOrThrow(RolloutInputSchema, validInput()).waveSize).toBe(100);
    // What the ledger stores parses again to itself.
    expect(parseOrThrow(RolloutInputSchema, parsed)).toEqual(parsed);
  });

  it.each([
    [[], "waves: must list at least one wave size"],
    [[0], "waves[0]:"],
    [["0%"], 'waves[0]: "0%" is not a wave size'],
    [["101%"], 'waves[0]: "101%" is not a wave size'],
    [["5"], 'waves[0]: "5" is not a wave size'],
  ])("refuses waves %j", (waves, text) => {
    const { canary: _, ...input } = validInput({ waves });
    expect(() => parseOrThrow(RolloutInputSchema, input)).toThrow(text);
  });

  it("plans growing waves and writes each host's wave", async () => {
    // Prepare
    const ids = Array.from({ length: 10 }, (_, n) => hexId(100 + n));
    managed(ids);
    const deps = testDeps(CONFIG);
    const { canary: _, ...input } = validInput({
      hosts: { instanceIds: ids },
      waves: [1, 2, "50%"],
    });

    // Act
    const plan = await planRollout(deps, { rolloutId: "r-grow", input });

    // Assess
    expect(plan.waves).toEqual([1, 2, 5, 2]);
    const hosts = await deps.store.listHosts("r-grow");
    expect(hosts.map((host) => host.wave)).toEqual([0, 1, 1, 2, 2, 2, 2, 2, 3, 3]);
    expect((await deps.store.getRollout("r-grow"))?.input.waves).toEqual([1, 2, "50%"]);
  });

  it("refuses growing waves that make more waves than one execution holds, naming waves", async () => {
    const ids = Array.from({ length: MAX_WAVES + 1 }, (_, n) => hexId(5000 + n));
    managed(ids);
    const deps = testDeps(CONFIG);
    const { canary: _, ...input } = validInput({ hosts: { instanceIds: ids }, waves: [1] });

    await expect(planRollout(deps, { rolloutId: "r-many", input })).rejects.toThrow(
      `waves: ${MAX_WAVES + 1} hosts in waves of [1] make ${MAX_WAVES + 1} waves`,
    );
    expect(deps.store.calls).toEqual([]);
  });
});

describe("suspend-window gate", () => {
  const switched = (summary: StepState["summary"]): StepState => ({
    step: "switch",
    commandId: "cmd-switch",
    done: true,
    waitSeconds: 0,
    status: "SWITCHED",
    summary,
  });
  const HOST = { rolloutId: ROLLOUT_ID, wave: 0, hostId: I1, instanceId: I1 };

  function ledger() {
    const deps = testDeps({});
    deps.store.putItem(rolloutItem({ failedCount: 0 }));
    deps.store.putItem(hostItem({ wave: 0, status: "SWITCHING" }));
    return deps;
  }

  it("hands the rollout's maxSuspendMs to RecordHostResult in the switch summary", () => {
    const limited = rolloutItem({ input: storedInput({ maxSuspendMs: 500 }) });
    expect(withSuspendLimit(limited, { suspendMs: 800 })).toEqual({
      suspendMs: 800,
      suspendLimitMs: 500,
    });
    expect(withSuspendLimit(rolloutItem(), { suspendMs: 800 })).toEqual({ suspendMs: 800 });
  });

  it("fails a host whose jobs were suspended longer than the limit, counting a failure", async () => {
    const deps = ledger();

    const result = await recordHost(deps, {
      outcome: "result",
      host: HOST,
      switch: switched({ suspendMs: 812, suspendLimitMs: 500 }),
    });

    expect(result).toEqual({ hostId: I1, status: "FAILED" });
    expect((await deps.store.getHost(HOST))?.error).toEqual({
      name: "SuspendWindowExceeded",
      message:
        "jobs were suspended for 812 ms, over the limit maxSuspendMs 500 ms; the host stays on the new release",
    });
    expect((await deps.store.getRollout(ROLLOUT_ID))?.failedCount).toBe(1);
  });

  it("upgrades a host whose suspend window is within the limit, or that has no limit", async () => {
    const summaries: StepState["summary"][] = [
      { suspendMs: 500, suspendLimitMs: 500 },
      { suspendMs: 90_000 },
    ];
    for (const summary of summaries) {
      const deps = ledger();
      const result = await recordHost(deps, {
        outcome: "result",
        host: HOST,
        switch: switched(summary),
      });
      expect(result.status).toBe("UPGRADED");
    }
  });

  it("refuses a maxSuspendMs that is not a positive whole number of ms", () => {
    expect(() => parseOrThrow(RolloutInputSchema, validInput({ maxSuspendMs: 0 }))).toThrow(
      "maxSuspendMs:",
    );
    expect(parseOrThrow(RolloutInputSchema, validInput({ maxSuspendMs: 250 })).maxSuspendMs).toBe(
      250,
    );
  });
});

describe("approval.afterWaves against the plan", () => {
  const ids = Array.from({ length: 6 }, (_, n) => hexId(300 + n));
  const waves = { canary: 1, waveSize: 2 }; // 6 hosts: waves of 1, 2, 2, 1 (0..3)

  it.each([
    [[0], undefined],
    [[0, 1, 2], undefined],
    [[3], "approval.afterWaves[0]: wave 3 is not followed by another wave (the plan has 4 waves"],
    [[0, 7], "approval.afterWaves[1]: wave 7 is not followed by another wave"],
    [[4, 3], "approval.afterWaves[0]: wave 4 is not followed by another wave"],
  ])("afterWaves %j on a plan of 4 waves: %s", async (afterWaves, refusal) => {
    // Prepare
    managed(ids);
    const deps = testDeps(CONFIG);
    const input = validInput({ hosts: { instanceIds: ids }, ...waves, approval: { afterWaves } });

    // Act
    const planned = planRollout(deps, { rolloutId: "r-gate", input });

    // Assess
    if (refusal === undefined) {
      expect((await planned).waveCount).toBe(4);
      return;
    }
    await expect(planned).rejects.toThrow(refusal);
    await expect(planned).rejects.toBeInstanceOf(InvalidInputError);
    expect(deps.store.calls).toEqual([]);
  });

  it("names every entry past the plan, and a one-wave plan has none to approve", async () => {
    managed([I1]);
    const deps = testDeps(CONFIG);
    const input = validInput({
      hosts: { instanceIds: [I1] },
      canary: 0,
      dryRun: true,
      approval: { afterWaves: [0, 1] },
    });

    await expect(planRollout(deps, { rolloutId: "r-one", input })).rejects.toThrow(
      "approval.afterWaves[0]: wave 0 is not followed by another wave (the plan has 1 wave, " +
        "numbered from 0; a plan of one wave has no next wave to approve); approval.afterWaves[1]:",
    );
  });
});
