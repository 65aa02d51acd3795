/**
 * LoadWave's job-count probe: SendCommand to up to 50 hosts at a time, answers read
 * with ListCommandInvocations until the deadline, a host's trouble its reason.
 */
import { createHash } from "node:crypto";
import {
  type CommandInvocationStatus,
  ListCommandInvocationsCommand,
  SendCommandCommand,
  SSMClient,
} from "@aws-sdk/client-ssm";
import { mockClient } from "aws-sdk-client-mock";
import { beforeEach, describe, expect, it } from "vitest";
import { countJobs } from "../../lambdas/load-wave/job-counts.js";
import { fakeClock, T0, testDeps } from "./helpers.js";

const ssmMock = mockClient(SSMClient);
beforeEach(() => ssmMock.reset());

const ids = (n: number) =>
  Array.from({ length: n }, (_, i) => `i-${(i + 1).toString(16).padStart(17, "0")}`);
const parameters = { profile: "demo", targetVersion: "2.0.0", rolloutId: "r-1" };

/** What preflight prints with mode=jobCount. */
function counted(jobCount: number): string {
  const line = JSON.stringify({
    step: "preflight",
    status: "COUNTED",
    currentVersion: "1.0.0",
    jobCount,
  });
  const sum = createHash("sha256").update(line).digest("hex");
  return `result-sha256 ${sum}\n${line}\n`;
}

function invocation(
  instanceId: string,
  output: string,
  Status: CommandInvocationStatus = "Success",
) {
  return {
    InstanceId: instanceId,
    Status,
    StatusDetails: Status,
    CommandPlugins: [{ Output: output }],
  };
}

describe("countJobs", () => {
  it("sends one command per 50 hosts and reads each host's count", async () => {
    // Prepare
    const hosts = ids(120);
    let n = 0;
    ssmMock
      .on(SendCommandCommand)
      .callsFake(async () => ({ Command: { CommandId: `cmd-${n++}` } }));
    ssmMock.on(ListCommandInvocationsCommand).callsFake(async (input: { CommandId: string }) => {
      const batch = Number(input.CommandId.slice(4));
      const mine = hosts.slice(batch * 50, batch * 50 + 50);
      return { CommandInvocations: mine.map((id, i) => invocation(id, counted(i % 3))) };
    });
    const deps = testDeps({});

    // Act
    const counts = await countJobs(deps, {
      documentName: "AgentRollout-Preflight-demo",
      instanceIds: hosts,
      parameters,
      deadline: T0 + 30_000,
    });

    // Assess
    const sends = ssmMock.commandCalls(SendCommandCommand).map((c) => c.args[0].input);
    expect(sends.map((s) => s.InstanceIds?.length)).toEqual([50, 50, 20]);
    expect(sends[0]).toEqual({
      DocumentName: "AgentRollout-Preflight-demo",
      InstanceIds: hosts.slice(0, 50),
      Parameters: {
        profile: ["demo"],
        targetVersion: ["2.0.0"],
        rolloutId: ["r-1"],
        mode: ["jobCount"],
      },
      MaxConcurrency: "50",
      MaxErrors: "50",
      TimeoutSeconds: 30,
      Comment: "agent-rollout r-1 job count",
    });
    expect(ssmMock.commandCalls(ListCommandInvocationsCommand)[0]?.args[0].input).toEqual({
      CommandId: "cmd-0",
      Details: true,
    });
    expect(counts.get(hosts[0] as string)).toEqual({ jobCount: 0 });
    expect(counts.get(hosts[52] as string)).toEqual({ jobCount: 2 });
    expect(counts.size).toBe(120);
  });

  it("gives up on a silent host at the deadline and names what went wrong on the others", async () => {
    // Prepare: one host never finishes, one fails, one prints a forged line
    const [silent, failed, forged, fine] = ids(4) as [string, string, string, string];
    ssmMock.on(SendCommandCommand).resolves({ Command: { CommandId: "cmd-0" } });
    const line = JSON.stringify({ step: "preflight", status: "COUNTED", jobCount: 0 });
    ssmMock.on(ListCommandInvocationsCommand).resolves({
      CommandInvocations: [
        invocation(silent, "", "InProgress"),
        invocation(failed, "", "Failed"),
        invocation(forged, `result-sha256 ${"0".repeat(64)}\n${line}\n`),
        invocation(fine, `${counted(4)}\n----------ERROR-------\nsome log line`),
      ],
    });
    const clock = fakeClock();
    const deps = testDeps({}, clock);

    // Act
    const counts = await countJobs(deps, {
      documentName: "doc",
      instanceIds: [silent, failed, forged, fine],
      parameters,
      deadline: T0 + 5_000,
    });

    // Assess
    expect(Object.fromEntries(counts)).toEqual({
      [silent]: { reason: "did not answer in time" },
      [failed]: { reason: "count Failed" },
      [forged]: { reason: "printed no job count" },
      [fine]: { jobCount: 4 },
    });
    expect(clock.now()).toBeLessThanOrEqual(T0 + 5_000);
    expect(ssmMock.commandCalls(ListCommandInvocationsCommand).length).toBeGreaterThan(1);
  });

  it("sends host by host when SSM refuses a batch for one unreachable host", async () => {
    const [good, gone] = ids(2) as [string, string];
    ssmMock.on(SendCommandCommand).callsFake(async (input: { InstanceIds: string[] }) => {
      if (input.InstanceIds.includes(gone)) {
        throw Object.assign(new Error("not a managed node"), { name: "InvalidInstanceId" });
      }
      return { Command: { CommandId: "cmd-good" } };
    });
    ssmMock.on(ListCommandInvocationsCommand).resolves({
      CommandInvocations: [invocation(good, counted(1))],
    });

    const counts = await countJobs(testDeps({}), {
      documentName: "doc",
      instanceIds: [good, gone],
      parameters,
      deadline: T0 + 5_000,
    });

    expect(Object.fromEntries(counts)).toEqual({
      [good]: { jobCount: 1 },
      [gone]: { reason: "cannot receive commands (InvalidInstanceId)" },
    });
    expect(ssmMock.commandCalls(SendCommandCommand)).toHaveLength(3);
  });
});
