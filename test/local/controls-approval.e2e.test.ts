/**
 * The approval gate end to end, in local mode, on two demo-agent hosts: the execution
 * waits after wave 0 (local/approval.ts stands in for `.waitForTaskToken`); a
 * rejection halts it with the reason on the rollout item and in the Fail cause, an
 * approval lets the next wave run.
 */
import { describe, expect, it } from "vitest";
import { type ApprovalRequest, approveAll } from "../../local/approval.js";
import { readLedger } from "../../local/ledger-view.js";
import { runRollout } from "../../local/runner.js";
import { fleetSuite, inputFor } from "./faults-harness.js";

const fleet = fleetSuite("controls-approval", { hosts: 2, faults: [] });

const options = { targetVersion: "2.0.0", batchSize: 1, canary: 0, failureThreshold: 0 };

async function approvalInput() {
  const { canary: _, ...base } = await inputFor(fleet.env, fleet.hosts);
  return { ...base, waves: [1, 1], approval: { afterWaves: [0], timeoutSeconds: 60 } };
}

describe("approval gate", () => {
  it("halts with the reason when the approval after wave 0 is rejected", async () => {
    // Prepare
    const asked: ApprovalRequest[] = [];

    // Act
    const report = await runRollout(fleet.env, {
      ...options,
      rolloutId: "approval-reject-1",
      jobsPerHost: 1,
      input: await approvalInput(),
      approver: async (request) => {
        asked.push(request);
        return { decision: "reject", reason: "error rate up on the canary" };
      },
    });

    // Assess: the canary is upgraded, the second wave never ran
    expect(asked).toEqual([{ rolloutId: "approval-reject-1", wave: 0 }]);
    expect([report.status, report.error]).toEqual(["HALTED", expect.anything()]);
    expect(report.hosts.map((h) => [h.status, h.runningVersion])).toEqual([
      ["UPGRADED", "2.0.0"],
      ["PENDING", "1.0.0"],
    ]);
    const reason = "approval after wave 0 was rejected: error rate up on the canary";
    expect(report.error).toBe(`RolloutHalted: ${reason}`);
    expect((await readLedger(fleet.env.ledger, "approval-reject-1")).rollout).toMatchObject({
      status: "HALTED",
      haltReason: reason,
    });
    expect(report.jobs.lost).toBe(0);
  }, 180_000);

  it("runs the next wave once approved (--approve-all)", async () => {
    // Act
    const report = await runRollout(fleet.env, {
      ...options,
      rolloutId: "approval-approve-1",
      jobsPerHost: 1,
      input: await approvalInput(),
      approver: approveAll,
    });

    // Assess
    expect([report.status, report.error]).toEqual(["SUCCEEDED", null]);
    expect(report.hosts.map((h) => [h.status, h.runningVersion])).toEqual([
      ["SKIPPED", "2.0.0"],
      ["UPGRADED", "2.0.0"],
    ]);
    expect(report.jobs.lost).toBe(0);
  }, 180_000);
});
