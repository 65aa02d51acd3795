import aslValidator from "asl-validator";
import { beforeAll, describe, expect, it } from "vitest";
import { APPROVAL_REJECTED_ERROR as FUNCTION_APPROVAL_REJECTED_ERROR } from "../../lambdas/evaluate-wave/approval.js";
import {
  APPROVAL_REJECTED_ERROR,
  LAMBDA_TRANSIENT_ERRORS,
  PLANNING_ERRORS,
  THROTTLING_ERRORS,
} from "../../lib/rollout-state-machine.js";
import {
  type AslDefinition,
  type AslState,
  forEachState,
  type SynthesizedRollout,
  synthesizeRollout,
} from "../../local/synthesize.js";

let synth: SynthesizedRollout;
let parent: AslDefinition;
let processor: AslDefinition;
let verifier: AslDefinition;

beforeAll(() => {
  synth = synthesizeRollout();
  parent = synth.definition;
  processor = parent.States.UpgradeWaveHosts?.ItemProcessor as AslDefinition;
  verifier = parent.States.VerifyWaveHosts?.ItemProcessor as AslDefinition;
});

const state = (definition: AslDefinition, name: string): AslState => {
  const found = definition.States[name];
  if (found === undefined) throw new Error(`no state ${name}`);
  return found;
};

const tasks = (definition: AslDefinition) =>
  Object.entries(definition.States).filter(([, s]) => s.Type === "Task");

type Catcher = { ErrorEquals: string[]; Next: string; ResultPath?: string | null };
type Retrier = { ErrorEquals: string[]; BackoffRate?: number; MaxAttempts?: number };

describe("parent state machine", () => {
  it("has the states of the contract", () => {
    expect(Object.keys(parent.States).sort()).toEqual(
      [
        "PlanRollout",
        "IsDryRun",
        "DryRunSucceeded",
        "StartFirstWave",
        "LoadWaveHosts",
        "UpgradeWaveHosts",
        "VerifyWaveHosts",
        "EvaluateWave",
        "IsRolloutHalted",
        "HasMoreWaves",
        "BakeWave",
        "NeedsApproval",
        "WaitForApproval",
        "ApprovalRejected",
        "ApprovalTimedOut",
        "FinishRollout",
        "RolloutSucceeded",
        "FinishHaltedRollout",
        "RolloutHalted",
        "RecordRolloutFailure",
        "RolloutFailed",
        "RolloutRejected",
      ].sort(),
    );
    expect(parent.StartAt).toBe("PlanRollout");
  });

  it("passes the execution input and name to PlanRollout and keeps its result in $.plan", () => {
    expect(state(parent, "PlanRollout")).toMatchObject({
      Parameters: { "input.$": "$", "rolloutId.$": "$$.Execution.Name" },
      ResultPath: "$.plan",
    });
  });

  it("rejects planning errors without writing anything, and records any other failure", () => {
    // Assess
    expect(state(parent, "PlanRollout").Catch).toEqual([
      { ErrorEquals: [...PLANNING_ERRORS], Next: "RolloutRejected" },
      { ErrorEquals: ["States.ALL"], ResultPath: "$.error", Next: "RecordRolloutFailure" },
    ]);
    expect(state(parent, "RolloutRejected")).toEqual({
      Type: "Fail",
      ErrorPath: "$.Error",
      CausePath: "$.Cause",
    });
    expect(state(parent, "RolloutFailed")).toEqual({
      Type: "Fail",
      ErrorPath: "$.error.Error",
      CausePath: "$.error.Cause",
    });
  });

  it("sends any error after planning to RecordRolloutFailure (finish-rollout, FAILED)", () => {
    for (const name of [
      "LoadWaveHosts",
      "UpgradeWaveHosts",
      "EvaluateWave",
      "FinishRollout",
      "FinishHaltedRollout",
    ]) {
      expect(state(parent, name).Catch, name).toEqual([
        { ErrorEquals: ["States.ALL"], ResultPath: "$.error", Next: "RecordRolloutFailure" },
      ]);
    }
    expect(state(parent, "RecordRolloutFailure")).toMatchObject({
      Parameters: { "rolloutId.$": "$$.Execution.Name", outcome: "FAILED", "error.$": "$.error" },
      ResultPath: null,
      Next: "RolloutFailed",
    });
    expect(synth.taskHandlers.RecordRolloutFailure).toBe("finish-rollout");
  });

  it("loops over waves through the ledger, verifying each wave after it and after its bake", () => {
    expect(state(parent, "StartFirstWave")).toEqual({
      Type: "Pass",
      Parameters: {
        "plan.$": "$.plan",
        evaluation: { decision: "CONTINUE", nextWave: 0, bakeSeconds: 0 },
      },
      Next: "LoadWaveHosts",
    });
    expect(state(parent, "LoadWaveHosts")).toMatchObject({
      Parameters: { "rolloutId.$": "$$.Execution.Name", "wave.$": "$.evaluation.nextWave" },
      ResultPath: "$.wave",
      Next: "UpgradeWaveHosts",
    });
    expect(state(parent, "EvaluateWave")).toMatchObject({
      Parameters: {
        "rolloutId.$": "$$.Execution.Name",
        "wave.$": "$.wave.wave",
        "previousDecision.$": "$.evaluation.decision",
      },
      ResultPath: "$.evaluation",
      Next: "IsRolloutHalted",
    });
    expect(state(parent, "IsRolloutHalted")).toMatchObject({
      Choices: [
        { Variable: "$.evaluation.decision", StringEquals: "HALT", Next: "FinishHaltedRollout" },
      ],
      Default: "HasMoreWaves",
    });
    expect(state(parent, "HasMoreWaves")).toMatchObject({
      Choices: [
        { Variable: "$.evaluation.decision", StringEquals: "CONTINUE", Next: "NeedsApproval" },
        { Variable: "$.evaluation.decision", StringEquals: "BAKE", Next: "BakeWave" },
      ],
      Default: "FinishRollout",
    });
    expect(state(parent, "BakeWave")).toEqual({
      Type: "Wait",
      SecondsPath: "$.evaluation.bakeSeconds",
      Next: "VerifyWaveHosts",
    });
    expect(state(parent, "FinishRollout")).toMatchObject({
      Parameters: { "rolloutId.$": "$$.Execution.Name", outcome: "DONE" },
      Next: "RolloutSucceeded",
    });
    expect(state(parent, "FinishHaltedRollout")).toMatchObject({
      Parameters: {
        "rolloutId.$": "$$.Execution.Name",
        outcome: "HALTED",
        "reason.$": "$.evaluation.reason",
      },
      Next: "RolloutHalted",
    });
    expect(state(parent, "RolloutHalted")).toEqual({
      Type: "Fail",
      Error: "RolloutHalted",
      CausePath: "$.evaluation.reason",
    });
  });

  it("upgrades a wave's hosts in a Distributed Map of Standard child executions", () => {
    expect(state(parent, "UpgradeWaveHosts")).toMatchObject({
      Type: "Map",
      ItemsPath: "$.wave.hosts",
      MaxConcurrencyPath: "$.plan.batchSize",
      ResultPath: null,
      ItemSelector: {
        outcome: "result",
        "mode.$": "$.plan.mode",
        host: {
          "rolloutId.$": "$$.Execution.Name",
          "wave.$": "$.wave.wave",
          "hostId.$": "$$.Map.Item.Value.hostId",
          "instanceId.$": "$$.Map.Item.Value.instanceId",
        },
      },
      ItemProcessor: { ProcessorConfig: { Mode: "DISTRIBUTED", ExecutionType: "STANDARD" } },
      Next: "VerifyWaveHosts",
    });
  });

  it("verifies a wave's hosts in a Distributed Map, seeding the stopped-serving record", () => {
    expect(state(parent, "VerifyWaveHosts")).toMatchObject({
      Type: "Map",
      ItemsPath: "$.wave.hosts",
      MaxConcurrencyPath: "$.plan.batchSize",
      ResultPath: null,
      ItemSelector: {
        outcome: "stoppedServing",
        host: {
          "rolloutId.$": "$$.Execution.Name",
          "wave.$": "$.wave.wave",
          "hostId.$": "$$.Map.Item.Value.hostId",
          "instanceId.$": "$$.Map.Item.Value.instanceId",
        },
      },
      ItemProcessor: { ProcessorConfig: { Mode: "DISTRIBUTED", ExecutionType: "STANDARD" } },
      Next: "EvaluateWave",
    });
  });
});

describe("verification item processor", () => {
  it("checks the host with the verify step, rolls back one that stopped serving, records it", () => {
    expect(verifier.StartAt).toBe("SendVerifyCommand");
    expect(state(verifier, "SendVerifyCommand")).toMatchObject({
      Parameters: { action: "send", step: "verify", "host.$": "$.host" },
      ResultPath: "$.verify",
      Next: "IsVerifyDone",
    });
    expect(state(verifier, "IsVerifyDone")).toMatchObject({ Default: "WaitBeforeVerifyPoll" });
    expect(state(verifier, "IsHostStillServing")).toMatchObject({
      Choices: [
        {
          And: [
            { Variable: "$.verify.status", IsPresent: true },
            { Variable: "$.verify.status", StringEquals: "STOPPED_SERVING" },
          ],
          Next: "SendRevertCommand",
        },
      ],
      Default: "VerifyDone",
    });
    expect(state(verifier, "SendRevertCommand")).toMatchObject({
      Parameters: { action: "send", step: "revert", "host.$": "$.host" },
      ResultPath: "$.revert",
    });
    expect(state(verifier, "RecordStoppedServing")).toMatchObject({
      ResultPath: null,
      Next: "VerifyDone",
    });
    expect(state(verifier, "RecordStoppedServing").Parameters).toBeUndefined();
    expect(state(verifier, "VerifyDone")).toEqual({ Type: "Pass", Result: {}, End: true });
  });

  it("records a rollback's error as a failed rollback and a verify error as unverified", () => {
    for (const name of ["SendRevertCommand", "PollRevertCommand"]) {
      expect(state(verifier, name).Catch).toEqual([
        {
          ErrorEquals: ["States.ALL"],
          ResultPath: "$.revertError",
          Next: "RecordStoppedServing",
        },
      ]);
    }
    for (const name of ["SendVerifyCommand", "PollVerifyCommand"]) {
      expect(state(verifier, name).Catch).toEqual([
        { ErrorEquals: ["States.ALL"], ResultPath: "$.error", Next: "RecordVerifyFailure" },
      ]);
    }
    expect(state(verifier, "RecordVerifyFailure")).toMatchObject({
      Parameters: { outcome: "unverified", "host.$": "$.host", "error.$": "$.error" },
      Next: "VerifyDone",
    });
  });
});

describe("host item processor", () => {
  it("has the send/done/wait/poll states of each step and the record states", () => {
    const perStep = ["Preflight", "Stage", "Switch", "Rollback"].flatMap((step) => [
      `Send${step}Command`,
      `Is${step}Done`,
      `WaitBefore${step}Poll`,
      `Poll${step}Command`,
    ]);
    expect(Object.keys(processor.States).sort()).toEqual(
      [
        ...perStep,
        "IsRollbackRollout",
        "IsHostAlreadyUpgraded",
        "RecordHostResult",
        "RecordHostFailure",
        "HostDone",
      ].sort(),
    );
    expect(processor.StartAt).toBe("IsRollbackRollout");
  });

  it("runs the rollback step alone for a whole-rollout rollback, the rollout steps otherwise", () => {
    expect(state(processor, "IsRollbackRollout")).toEqual({
      Type: "Choice",
      Choices: [
        {
          And: [
            { Variable: "$.mode", IsPresent: true },
            { Variable: "$.mode", StringEquals: "rollback" },
          ],
          Next: "SendRollbackCommand",
        },
      ],
      Default: "SendPreflightCommand",
    });
  });

  it("chains each step's command loop as the contract describes", () => {
    const steps = [
      ["preflight", "IsHostAlreadyUpgraded"],
      ["stage", "SendSwitchCommand"],
      ["switch", "RecordHostResult"],
      ["rollback", "RecordHostResult"],
    ] as const;
    for (const [step, onDone] of steps) {
      const name = `${step.charAt(0).toUpperCase()}${step.slice(1)}`;
      expect(state(processor, `Send${name}Command`)).toMatchObject({
        Parameters: { action: "send", step, "host.$": "$.host" },
        ResultPath: `$.${step}`,
        Next: `Is${name}Done`,
      });
      expect(state(processor, `Is${name}Done`)).toMatchObject({
        Choices: [{ Variable: `$.${step}.done`, BooleanEquals: true, Next: onDone }],
        Default: `WaitBefore${name}Poll`,
      });
      expect(state(processor, `WaitBefore${name}Poll`)).toEqual({
        Type: "Wait",
        SecondsPath: `$.${step}.waitSeconds`,
        Next: `Poll${name}Command`,
      });
      expect(state(processor, `Poll${name}Command`)).toMatchObject({
        Parameters: { action: "poll", step, "host.$": "$.host", "command.$": `$.${step}` },
        ResultPath: `$.${step}`,
        Next: `Is${name}Done`,
      });
    }
  });

  it("goes on after preflight only when it is READY", () => {
    expect(state(processor, "IsHostAlreadyUpgraded")).toMatchObject({
      Choices: [
        {
          And: [
            { Variable: "$.preflight.status", IsPresent: true },
            { Variable: "$.preflight.status", StringEquals: "READY" },
          ],
          Next: "SendStageCommand",
        },
      ],
      Default: "RecordHostResult",
    });
  });

  it("catches every error of a host into RecordHostFailure, which never fails the map", () => {
    for (const [name, task] of tasks(processor)) {
      if (name === "RecordHostFailure") continue;
      expect(task.Catch, name).toEqual([
        { ErrorEquals: ["States.ALL"], ResultPath: "$.error", Next: "RecordHostFailure" },
      ]);
    }
    expect(state(processor, "RecordHostFailure")).toMatchObject({
      Parameters: { outcome: "failure", "host.$": "$.host", "error.$": "$.error" },
      Next: "HostDone",
    });
    expect(state(processor, "RecordHostResult").Parameters).toBeUndefined();
    // A fixed 2-byte output: the map collects every child's output (docs/aws-fidelity.md).
    expect(state(processor, "HostDone")).toEqual({ Type: "Pass", Result: {}, End: true });
  });
});

describe("every task", () => {
  const allTasks = () => [...tasks(parent), ...tasks(processor), ...tasks(verifier)];

  it("invokes its function directly (payloadResponseOnly) and maps to a handler", () => {
    for (const [name, task] of allTasks()) {
      if (name === "WaitForApproval") continue; // .waitForTaskToken: see "approval gate"
      expect(task.Resource, name).toMatch(
        /^arn:aws:lambda:us-east-1:000000000000:function:[A-Za-z0-9]+$/,
      );
      expect(synth.taskHandlers[name], name).toBeDefined();
    }
    expect(Object.keys(synth.taskHandlers).sort()).toEqual(
      allTasks()
        .map(([name]) => name)
        .sort(),
    );
  });

  it("retries Lambda service faults and throttling with backoff", () => {
    for (const [name, task] of allTasks()) {
      const retry = task.Retry as Retrier[];
      expect(
        retry.map((r) => r.ErrorEquals),
        name,
      ).toEqual([[...LAMBDA_TRANSIENT_ERRORS], [...THROTTLING_ERRORS]]);
      for (const retrier of retry) {
        expect(retrier.BackoffRate, name).toBeGreaterThan(1);
        expect(retrier.MaxAttempts, name).toBeGreaterThan(1);
      }
      expect(retry.flatMap((r) => r.ErrorEquals)).toEqual(
        expect.arrayContaining([
          "Lambda.ServiceException",
          "Lambda.AWSLambdaException",
          "Lambda.SdkClientException",
          "Lambda.TooManyRequestsException",
          "ThrottlingException",
        ]),
      );
    }
  });

  it("routes every Catch to a state that exists", () => {
    forEachState(parent, (name, s) => {
      for (const catcher of (s.Catch as Catcher[] | undefined) ?? []) {
        const scope =
          name in parent.States ? parent : name in processor.States ? processor : verifier;
        expect(scope.States[catcher.Next], `${name} → ${catcher.Next}`).toBeDefined();
      }
    });
  });
});

describe("definition", () => {
  it("is plain JSONPath: no QueryLanguage, JSONata fields, Assign, ItemReader or ResultWriter", () => {
    const forbidden = [
      "QueryLanguage",
      "Arguments",
      "Output",
      "Assign",
      "ItemReader",
      "ResultWriter",
    ];
    const found: string[] = [];
    const walk = (value: unknown, path: string) => {
      if (Array.isArray(value)) {
        value.forEach((v, i) => {
          walk(v, `${path}[${i}]`);
        });
      } else if (typeof value === "object" && value !== null) {
        for (const [key, v] of Object.entries(value)) {
          if (forbidden.includes(key)) found.push(`${path}.${key}`);
          walk(v, `${path}.${key}`);
        }
      } else if (typeof value === "string" && value.startsWith("{%")) {
        found.push(`${path} (JSONata expression)`);
      }
    };
    walk(parent, "$");
    expect(found).toEqual([]);
  });

  it("is valid ASL for an independent validator (asl-validator)", () => {
    const result = aslValidator(parent);
    expect(result.errorsText()).toBe("");
    expect(result.isValid).toBe(true);
  });

  it("has an item processor that is valid ASL on its own", () => {
    // The processor is a state machine definition; ProcessorConfig belongs to the Map.
    const { ProcessorConfig: _config, ...standalone } = processor;
    const result = aslValidator(standalone);
    expect(result.errorsText()).toBe("");
    expect(result.isValid).toBe(true);
  });

  it("would be rejected by the validator if a transition dangled", () => {
    // Prepare: proves the validator checks the graph, not only the shape.
    const broken = structuredClone(parent) as AslDefinition & {
      States: Record<string, Record<string, unknown>>;
    };
    (broken.States.IsDryRun as Record<string, unknown>).Default = "NoSuchState";

    // Act
    const result = aslValidator(broken);

    // Assess
    expect(result.isValid).toBe(false);
    expect(result.errorsText()).toContain("NoSuchState");
  });
});

describe("approval gate", () => {
  it("waits for approval after a wave EvaluateWave names, on a task token, then loads the next", () => {
    expect(state(parent, "NeedsApproval")).toMatchObject({
      Type: "Choice",
      Choices: [
        {
          Variable: "$.evaluation.approvalTimeoutSeconds",
          IsPresent: true,
          Next: "WaitForApproval",
        },
      ],
      Default: "LoadWaveHosts",
    });
    const wait = state(parent, "WaitForApproval");
    expect(wait).toMatchObject({
      Type: "Task",
      Resource: "arn:aws:states:::lambda:invoke.waitForTaskToken",
      Parameters: {
        FunctionName: state(parent, "EvaluateWave").Resource,
        Payload: {
          action: "recordApprovalToken",
          "rolloutId.$": "$$.Execution.Name",
          "wave.$": "$.evaluation.wave",
          "timeoutSeconds.$": "$.evaluation.approvalTimeoutSeconds",
          "taskToken.$": "$$.Task.Token",
        },
      },
      TimeoutSecondsPath: "$.evaluation.approvalTimeoutSeconds",
      ResultPath: null,
      Next: "LoadWaveHosts",
    });
    expect(synth.taskHandlers.WaitForApproval).toBe("evaluate-wave");
  });

  it("halts with the reason on a rejection or a timeout; any other error fails the rollout", () => {
    expect(state(parent, "WaitForApproval").Catch).toEqual([
      {
        ErrorEquals: [APPROVAL_REJECTED_ERROR],
        ResultPath: "$.approvalError",
        Next: "ApprovalRejected",
      },
      { ErrorEquals: ["States.Timeout"], ResultPath: "$.approvalError", Next: "ApprovalTimedOut" },
      { ErrorEquals: ["States.ALL"], ResultPath: "$.error", Next: "RecordRolloutFailure" },
    ]);
    expect(state(parent, "ApprovalRejected")).toMatchObject({
      Type: "Pass",
      Parameters: {
        "plan.$": "$.plan",
        evaluation: {
          decision: "HALT",
          "wave.$": "$.evaluation.wave",
          "reason.$":
            "States.Format('approval after wave {} was rejected: {}', $.evaluation.wave, $.approvalError.Cause)",
        },
      },
      Next: "FinishHaltedRollout",
    });
    expect(state(parent, "ApprovalTimedOut")).toMatchObject({
      Parameters: {
        evaluation: {
          decision: "HALT",
          "reason.$":
            "States.Format('no approval within {} seconds after wave {}', $.evaluation.approvalTimeoutSeconds, $.evaluation.wave)",
        },
      },
      Next: "FinishHaltedRollout",
    });
  });

  it("names the same rejection error as the function that sends it", () => {
    expect(APPROVAL_REJECTED_ERROR).toBe(FUNCTION_APPROVAL_REJECTED_ERROR);
  });
});
