import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HOST_DOCUMENT_STEPS, hostDocumentName } from "../../lambdas/common/document-names.js";
import { projectPath } from "../../lib/config.js";
import { assembleProfileDocuments, deployedContent } from "../../lib/host-documents/index.js";
import { HANDLER_NAMES } from "../../lib/rollout-function.js";
import { type SynthesizedRollout, synthesizeRollout } from "../../local/synthesize.js";

let synth: SynthesizedRollout;

beforeAll(() => {
  synth = synthesizeRollout();
});

const FUNCTION_ARN = /^arn:aws:lambda:us-east-1:000000000000:function:([A-Za-z0-9]+)$/;

describe("synthesizeRollout", () => {
  it("maps every Task, item processor included, to its handler folder", () => {
    expect(synth.taskHandlers).toEqual({
      PlanRollout: "plan-rollout",
      LoadWaveHosts: "load-wave",
      EvaluateWave: "evaluate-wave",
      WaitForApproval: "evaluate-wave",
      FinishRollout: "finish-rollout",
      FinishHaltedRollout: "finish-rollout",
      RecordRolloutFailure: "finish-rollout",
      SendPreflightCommand: "host-step",
      PollPreflightCommand: "host-step",
      SendStageCommand: "host-step",
      PollStageCommand: "host-step",
      SendSwitchCommand: "host-step",
      PollSwitchCommand: "host-step",
      SendRollbackCommand: "host-step",
      PollRollbackCommand: "host-step",
      RecordHostResult: "record-host",
      RecordHostFailure: "record-host",
      SendVerifyCommand: "host-step",
      PollVerifyCommand: "host-step",
      SendRevertCommand: "host-step",
      PollRevertCommand: "host-step",
      RecordStoppedServing: "record-host",
      RecordVerifyFailure: "record-host",
    });
  });

  it("resolves every token of the definition to placeholders", () => {
    // Act
    const text = JSON.stringify(synth.definition);

    // Assess
    expect(text).not.toMatch(/Fn::|"Ref"|\$\{Token|AWS::/);
    const plan = synth.definition.States.PlanRollout;
    const [, logicalId] = FUNCTION_ARN.exec(String(plan?.Resource)) ?? [];
    expect(logicalId).toMatch(/^PlanRolloutFunction[0-9A-F]{8}$/);
  });

  it("gives each handler its environment with tokens resolved to the same placeholders", () => {
    // Assess
    expect(Object.keys(synth.functionEnvironments).sort()).toEqual([...HANDLER_NAMES].sort());
    const tableName = synth.functionEnvironments["load-wave"]?.TABLE_NAME;
    expect(tableName).toMatch(/^LedgerTable[0-9A-F]{8}$/);
    for (const env of Object.values(synth.functionEnvironments)) {
      expect(env.TABLE_NAME).toBe(tableName);
      for (const value of Object.values(env)) expect(typeof value).toBe("string");
    }
    const hostStep = synth.functionEnvironments["host-step"];
    expect(hostStep).toMatchObject({
      DOCUMENT_PREFIX: "AgentRollout",
      INLINE_POLL_SECONDS: "20",
    });
    // A valid bucket name: lower case, at most 63 characters.
    expect(hostStep?.OUTPUT_BUCKET).toMatch(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/);
    expect(synth.functionEnvironments["nightly-cleanup"]?.OUTPUT_BUCKET).toBe(
      hostStep?.OUTPUT_BUCKET,
    );
  });

  it("returns the documents under the names the functions receive", () => {
    // Prepare
    const expected = assembleProfileDocuments({ profilesDir: projectPath("profiles") });

    // Assess
    expect(synth.documents).toEqual(
      Object.fromEntries(
        Object.entries(expected).flatMap(([profile, steps]) =>
          HOST_DOCUMENT_STEPS.map((step) => [
            hostDocumentName("AgentRollout", step, profile),
            deployedContent(steps[step]),
          ]),
        ),
      ),
    );
  });

  it("returns the table's key schema and index, timeouts and the state machine name", () => {
    expect(synth.tableProperties).toMatchObject({
      KeySchema: [
        { AttributeName: "pk", KeyType: "HASH" },
        { AttributeName: "sk", KeyType: "RANGE" },
      ],
      GlobalSecondaryIndexes: [expect.objectContaining({ IndexName: "gsi1" })],
    });
    expect(synth.functionTimeoutsMs).toMatchObject({
      "host-step": 300_000,
      "record-host": 30_000,
      "nightly-cleanup": 900_000,
    });
    expect(synth.stateMachineName).toBe("AgentRollout-Rollout");
  });

  it("applies context knobs", () => {
    // Act
    const custom = synthesizeRollout({ context: { inlinePollSeconds: "5", targetTagKey: "team" } });

    // Assess
    expect(custom.functionEnvironments["host-step"]?.INLINE_POLL_SECONDS).toBe("5");
    expect(custom.functionEnvironments["plan-rollout"]?.TARGET_TAG_KEY).toBe("team");
  });

  describe("with another profiles directory", () => {
    let dir: string;
    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), "agent-rollout-profiles-"));
      writeFileSync(
        join(dir, "probe.profile"),
        [
          "description=probe agent",
          "install_root=/opt/probe",
          "hook.version=cat VERSION",
          "hook.suspend=true",
          "hook.resume=true",
          "hook.stopListener=true",
          "hook.startListener=true",
          "hook.health=true",
          "hook.listJobs=true",
          "",
        ].join("\n"),
      );
    });
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it("deploys the profiles of that directory", () => {
      // Act
      const custom = synthesizeRollout({ profilesDir: dir });

      // Assess
      expect(custom.functionEnvironments["plan-rollout"]?.PROFILE_NAMES).toBe("probe");
    });
  });
});
