import { Match, type Template } from "aws-cdk-lib/assertions";
import { beforeAll, describe, expect, it } from "vitest";
import type { AgentRolloutStack } from "../../lib/agent-rollout-stack.js";
import { projectPath } from "../../lib/config.js";
import { assembleProfileDocuments, deployedContent } from "../../lib/host-documents/index.js";
import { HANDLER_METADATA_KEY, HANDLER_NAMES } from "../../lib/rollout-function.js";
import {
  actionsWithPrefix,
  buildTemplate,
  flat,
  list,
  logicalIdOf,
  policies,
  roleOf,
  statementsOfRole,
} from "./helpers.js";

let stack: AgentRolloutStack;
let template: Template;

beforeAll(() => {
  ({ stack, template } = buildTemplate());
});

const ARN_PREFIX = "arn:<AWS::Partition>";
const REGIONAL = "<AWS::Region>:<AWS::AccountId>";

describe("functions", () => {
  it("creates one function per handler, each tagged with its handler folder", () => {
    // Act
    const functions = Object.values(template.findResources("AWS::Lambda::Function"));

    // Assess
    expect(functions.map((fn) => fn.Metadata?.[HANDLER_METADATA_KEY]).sort()).toEqual(
      [...HANDLER_NAMES].sort(),
    );
  });

  it("runs every function on Node.js 22, arm64, JSON logs and active tracing", () => {
    template.allResourcesProperties("AWS::Lambda::Function", {
      Runtime: "nodejs22.x",
      Architectures: ["arm64"],
      TracingConfig: { Mode: "Active" },
      LoggingConfig: { LogFormat: "JSON", LogGroup: { Ref: Match.anyValue() } },
    });
  });

  it("gives every function its own log group with 90 days retention", () => {
    // Act
    const functions = Object.values(template.findResources("AWS::Lambda::Function"));
    const groups = template.findResources("AWS::Logs::LogGroup");
    const used = functions.map((fn) => fn.Properties.LoggingConfig.LogGroup.Ref as string);

    // Assess
    expect(new Set(used).size).toBe(HANDLER_NAMES.length);
    for (const id of used) expect(groups[id]?.Properties.RetentionInDays).toBe(90);
  });

  it("takes log retention from the logRetentionDays context", () => {
    // Prepare
    const { template: custom } = buildTemplate({ logRetentionDays: "30" });

    // Assess
    custom.allResourcesProperties("AWS::Logs::LogGroup", { RetentionInDays: 30 });
  });

  it("uses no AWS managed policy for function roles", () => {
    template.allResourcesProperties("AWS::IAM::Role", {
      ManagedPolicyArns: Match.absent(),
    });
  });

  it("passes each function the environment its handler reads", () => {
    // Act
    const envOf = (handler: string) => {
      const [fn] = Object.values(
        template.findResources("AWS::Lambda::Function", {
          Metadata: { [HANDLER_METADATA_KEY]: handler },
        }),
      );
      return fn?.Properties.Environment.Variables as Record<string, unknown>;
    };

    // Assess
    for (const handler of HANDLER_NAMES) {
      expect(envOf(handler)).toHaveProperty("TABLE_NAME", {
        Ref: logicalIdOf(stack, stack.ledger.table),
      });
    }
    expect(envOf("plan-rollout")).toMatchObject({
      PROFILE_NAMES: expect.stringMatching(/^[a-z][a-z0-9-]*(,[a-z][a-z0-9-]*)*$/),
      TARGET_TAG_KEY: "agent-rollout:managed",
      TARGET_TAG_VALUE: "true",
    });
    expect(envOf("host-step")).toMatchObject({
      DOCUMENT_PREFIX: "AgentRollout",
      OUTPUT_BUCKET: { Ref: logicalIdOf(stack, stack.commandOutput.bucket) },
      INLINE_POLL_SECONDS: "20",
    });
    expect(envOf("nightly-cleanup")).toMatchObject({
      DOCUMENT_PREFIX: "AgentRollout",
      OUTPUT_BUCKET: { Ref: logicalIdOf(stack, stack.commandOutput.bucket) },
    });
  });
});

describe("ledger table", () => {
  it("is on demand, point-in-time recoverable, encrypted, with pk/sk and the sparse gsi1", () => {
    template.resourceCountIs("AWS::DynamoDB::Table", 1);
    template.hasResourceProperties("AWS::DynamoDB::Table", {
      BillingMode: "PAY_PER_REQUEST",
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      SSESpecification: { SSEEnabled: true },
      DeletionProtectionEnabled: true,
      KeySchema: [
        { AttributeName: "pk", KeyType: "HASH" },
        { AttributeName: "sk", KeyType: "RANGE" },
      ],
      AttributeDefinitions: Match.arrayWith([
        { AttributeName: "pk", AttributeType: "S" },
        { AttributeName: "sk", AttributeType: "S" },
        { AttributeName: "gsi1pk", AttributeType: "S" },
        { AttributeName: "gsi1sk", AttributeType: "S" },
      ]),
      GlobalSecondaryIndexes: [
        {
          IndexName: "gsi1",
          KeySchema: [
            { AttributeName: "gsi1pk", KeyType: "HASH" },
            { AttributeName: "gsi1sk", KeyType: "RANGE" },
          ],
          Projection: { ProjectionType: "ALL" },
        },
      ],
    });
  });

  it("is retained when the stack goes", () => {
    template.hasResource("AWS::DynamoDB::Table", {
      DeletionPolicy: "Retain",
      UpdateReplacePolicy: "Retain",
    });
  });
});

describe("command output bucket", () => {
  it("is encrypted, private, expires output after 30 days and logs access", () => {
    template.hasResourceProperties("AWS::S3::Bucket", {
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [
          { ServerSideEncryptionByDefault: { SSEAlgorithm: "AES256" } },
        ],
      },
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
      LifecycleConfiguration: {
        Rules: Match.arrayWith([Match.objectLike({ ExpirationInDays: 30, Status: "Enabled" })]),
      },
      LoggingConfiguration: {
        DestinationBucketName: { Ref: logicalIdOf(stack, stack.commandOutput.accessLogsBucket) },
      },
    });
  });

  it("refuses plain HTTP on both buckets", () => {
    // Act
    const bucketPolicies = Object.values(template.findResources("AWS::S3::BucketPolicy"));

    // Assess
    expect(bucketPolicies).toHaveLength(2);
    for (const policy of bucketPolicies) {
      expect(policy.Properties.PolicyDocument.Statement).toContainEqual(
        expect.objectContaining({
          Effect: "Deny",
          Condition: { Bool: { "aws:SecureTransport": "false" } },
        }),
      );
    }
  });

  it("delivers access logs through a bucket policy limited to the output bucket", () => {
    // Act
    const logsPolicy = Object.values(template.findResources("AWS::S3::BucketPolicy")).find(
      (policy) =>
        policy.Properties.Bucket.Ref === logicalIdOf(stack, stack.commandOutput.accessLogsBucket),
    );

    // Assess
    expect(logsPolicy?.Properties.PolicyDocument.Statement).toContainEqual(
      expect.objectContaining({
        Effect: "Allow",
        Principal: { Service: "logging.s3.amazonaws.com" },
        Action: "s3:PutObject",
        Condition: expect.objectContaining({
          ArnLike: {
            "aws:SourceArn": {
              "Fn::GetAtt": [logicalIdOf(stack, stack.commandOutput.bucket), "Arn"],
            },
          },
        }),
      }),
    );
  });

  it("offers the hosts a managed policy that uploads under commands/ only", () => {
    // Act
    const [hostPolicy] = policies(template).filter((p) => p.type === "AWS::IAM::ManagedPolicy");
    const bucket = logicalIdOf(stack, stack.commandOutput.bucket);

    // Assess
    expect(
      hostPolicy?.statements.map((s) => ({ action: s.Action, resource: flat(s.Resource) })),
    ).toEqual([
      { action: "s3:PutObject", resource: `<${bucket}.Arn>/commands/*` },
      { action: "s3:GetEncryptionConfiguration", resource: `<${bucket}.Arn>` },
    ]);
    template.hasOutput("HostPolicyArn", {
      Value: { Ref: logicalIdOf(stack, stack.commandOutput.hostPolicy) },
    });
  });
});

describe("host documents", () => {
  const PROFILES = ["controlm-like", "demo", "fta-like"];
  const STEPS = ["Preflight", "Stage", "Switch", "Rollback", "Cleanup"];

  it("creates the five command documents per profile with explicit names, updated as new versions", () => {
    // Act
    const documents = Object.values(template.findResources("AWS::SSM::Document"));

    // Assess
    expect(documents.map((d) => d.Properties.Name).sort()).toEqual(
      PROFILES.flatMap((p) => STEPS.map((step) => `AgentRollout-${step}-${p}`)).sort(),
    );
    template.allResourcesProperties("AWS::SSM::Document", {
      DocumentType: "Command",
      UpdateMethod: "NewVersion",
    });
  });

  it("deploys the content assembled from the host files and each profile, that profile only", () => {
    // Prepare
    const expected = assembleProfileDocuments({ profilesDir: projectPath("profiles") });

    // Assess
    expect(Object.keys(expected).sort()).toEqual(PROFILES);
    for (const [profile, steps] of Object.entries(expected)) {
      for (const [step, content] of Object.entries(steps)) {
        expect(content.parameters.profile?.allowedValues).toEqual([profile]);
        const name = `AgentRollout-${step.charAt(0).toUpperCase()}${step.slice(1)}-${profile}`;
        template.hasResourceProperties("AWS::SSM::Document", {
          Name: name,
          Content: Match.exact(JSON.parse(JSON.stringify(deployedContent(content)))),
        });
      }
    }
    template.hasOutput("DocumentNamePrefix", { Value: "AgentRollout" });
  });
});

describe("nightly cleanup", () => {
  it("runs on the default schedule, with retries and a dead-letter queue", () => {
    template.hasResourceProperties("AWS::Events::Rule", {
      ScheduleExpression: "cron(0 2 * * ? *)",
      Targets: [
        Match.objectLike({
          Arn: { "Fn::GetAtt": [Match.stringLikeRegexp("^NightlyCleanupFunction"), "Arn"] },
          RetryPolicy: { MaximumRetryAttempts: 2, MaximumEventAgeInSeconds: 7200 },
          DeadLetterConfig: { Arn: { "Fn::GetAtt": [Match.anyValue(), "Arn"] } },
        }),
      ],
    });
    template.hasResourceProperties("AWS::Lambda::EventInvokeConfig", {
      MaximumRetryAttempts: 2,
      DestinationConfig: { OnFailure: { Destination: Match.anyValue() } },
    });
  });

  it("takes the schedule from the cleanupSchedule context", () => {
    // Prepare
    const { template: custom } = buildTemplate({ cleanupSchedule: "rate(6 hours)" });

    // Assess
    custom.hasResourceProperties("AWS::Events::Rule", { ScheduleExpression: "rate(6 hours)" });
  });
});

describe("stopped executions", () => {
  it("hands stopped or timed-out rollouts to finish-rollout as FAILED", () => {
    template.hasResourceProperties("AWS::Events::Rule", {
      EventPattern: {
        source: ["aws.states"],
        "detail-type": ["Step Functions Execution Status Change"],
        detail: {
          stateMachineArn: [{ Ref: Match.stringLikeRegexp("^RolloutStateMachine") }],
          status: ["ABORTED", "TIMED_OUT"],
        },
      },
      Targets: [
        Match.objectLike({
          Arn: { "Fn::GetAtt": [Match.stringLikeRegexp("^FinishRolloutFunction"), "Arn"] },
          InputTransformer: {
            InputPathsMap: { "detail-name": "$.detail.name", "detail-status": "$.detail.status" },
            InputTemplate:
              '{"rolloutId":<detail-name>,"outcome":"FAILED","error":{"Error":"ExecutionStopped","Cause":<detail-status>}}',
          },
          DeadLetterConfig: { Arn: { "Fn::GetAtt": [Match.anyValue(), "Arn"] } },
        }),
      ],
    });
    template.hasResourceProperties("AWS::Lambda::EventInvokeConfig", {
      FunctionName: { Ref: Match.stringLikeRegexp("^FinishRolloutFunction") },
      MaximumRetryAttempts: 2,
      DestinationConfig: { OnFailure: { Destination: Match.anyValue() } },
    });
  });
});

describe("state machine resource", () => {
  it("is a Standard state machine with X-Ray and ALL-level logs without execution data", () => {
    template.hasResourceProperties("AWS::StepFunctions::StateMachine", {
      StateMachineName: "AgentRollout-Rollout",
      StateMachineType: "STANDARD",
      TracingConfiguration: { Enabled: true },
      LoggingConfiguration: {
        Level: "ALL",
        IncludeExecutionData: false,
        Destinations: [{ CloudWatchLogsLogGroup: { LogGroupArn: Match.anyValue() } }],
      },
    });
  });

  it("exports the cleanup function's name, for the CLI's cleanup --now", () => {
    template.hasOutput("CleanupFunctionName", {
      Value: { Ref: logicalIdOf(stack, stack.functions["nightly-cleanup"].function) },
    });
  });

  it("exports the state machine, table, bucket, host policy and document names", () => {
    for (const output of [
      "StateMachineArn",
      "LedgerTableName",
      "CleanupFunctionName",
      "CommandOutputBucketName",
      "HostPolicyArn",
      "DocumentNamePrefix",
    ]) {
      template.hasOutput(output, {});
    }
  });
});

describe("least privilege", () => {
  const documentArn = (name: string) => `${ARN_PREFIX}:ssm:${REGIONAL}:document/${name}`;
  const instanceArns = [
    `${ARN_PREFIX}:ec2:${REGIONAL}:instance/*`,
    `${ARN_PREFIX}:ssm:${REGIONAL}:managed-instance/*`,
  ];

  function sendCommandStatements(
    handler: "host-step" | "nightly-cleanup" | "load-wave",
    tpl = template,
  ) {
    return statementsOfRole(tpl, roleOf(stack, handler))
      .filter((s) => list(s.Action).includes("ssm:SendCommand"))
      .map((s) => ({
        actions: list(s.Action),
        resources: list(s.Resource).map(flat),
        condition: s.Condition,
      }));
  }

  it("lets host-step send only the preflight, stage, switch and rollback documents, to tagged hosts", () => {
    expect(sendCommandStatements("host-step")).toEqual([
      {
        actions: ["ssm:SendCommand"],
        resources: instanceArns,
        condition: { StringEquals: { "ssm:resourceTag/agent-rollout:managed": "true" } },
      },
      {
        actions: ["ssm:SendCommand"],
        resources: ["Preflight", "Rollback", "Stage", "Switch"].flatMap((step) =>
          ["controlm-like", "demo", "fta-like"].map((p) =>
            documentArn(`AgentRollout-${step}-${p}`),
          ),
        ),
        condition: undefined,
      },
    ]);
  });

  it("lets nightly-cleanup send only the cleanup document, to tagged hosts", () => {
    expect(sendCommandStatements("nightly-cleanup")).toEqual([
      {
        actions: ["ssm:SendCommand"],
        resources: instanceArns,
        condition: { StringEquals: { "ssm:resourceTag/agent-rollout:managed": "true" } },
      },
      {
        actions: ["ssm:SendCommand"],
        resources: ["controlm-like", "demo", "fta-like"].map((p) =>
          documentArn(`AgentRollout-Cleanup-${p}`),
        ),
        condition: undefined,
      },
    ]);
  });

  it("lets load-wave send only the preflight documents (its job count), to tagged hosts", () => {
    expect(sendCommandStatements("load-wave")).toEqual([
      {
        actions: ["ssm:SendCommand"],
        resources: instanceArns,
        condition: { StringEquals: { "ssm:resourceTag/agent-rollout:managed": "true" } },
      },
      {
        actions: ["ssm:SendCommand"],
        resources: ["controlm-like", "demo", "fta-like"].map((p) =>
          documentArn(`AgentRollout-Preflight-${p}`),
        ),
        condition: undefined,
      },
    ]);
    expect(
      actionsWithPrefix(statementsOfRole(template, roleOf(stack, "load-wave")), "ssm:").sort(),
    ).toEqual(["ssm:ListCommandInvocations", "ssm:SendCommand"]);
  });

  it("takes the target tag from the targetTagKey/targetTagValue context", () => {
    // Prepare
    const custom = buildTemplate({ targetTagKey: "team", targetTagValue: "ops" });

    // Act
    const conditions = statementsOfRole(custom.template, roleOf(custom.stack, "host-step"))
      .filter((s) => s.Condition !== undefined)
      .map((s) => s.Condition);

    // Assess
    expect(conditions).toEqual([{ StringEquals: { "ssm:resourceTag/team": "ops" } }]);
  });

  it("gives no other function ssm:SendCommand", () => {
    for (const handler of HANDLER_NAMES) {
      if (handler === "host-step" || handler === "nightly-cleanup" || handler === "load-wave") {
        continue;
      }
      expect(
        actionsWithPrefix(statementsOfRole(template, roleOf(stack, handler)), "ssm:"),
      ).not.toContain("ssm:SendCommand");
    }
  });

  it("grants each function only the DynamoDB actions its handler calls", () => {
    // Prepare: action → resource, "table" or "gsi1" (the pending-cleanup index).
    const expected: Record<string, string[]> = {
      "plan-rollout": [
        "BatchWriteItem table",
        "DeleteItem table",
        "GetItem table",
        "PutItem table",
      ],
      "load-wave": [
        "DeleteItem table",
        "GetItem table",
        "PutItem table",
        "Query table",
        "UpdateItem table",
      ],
      "host-step": ["BatchWriteItem table", "GetItem table", "PutItem table", "UpdateItem table"],
      "record-host": ["GetItem table", "UpdateItem table"],
      "evaluate-wave": ["GetItem table", "Query table", "UpdateItem table"],
      "finish-rollout": ["DeleteItem table", "GetItem table", "Query table", "UpdateItem table"],
      "nightly-cleanup": ["Query gsi1", "UpdateItem table"],
    };
    const table = logicalIdOf(stack, stack.ledger.table);
    const names: Record<string, string> = {
      [`<${table}.Arn>`]: "table",
      [`<${table}.Arn>/index/gsi1`]: "gsi1",
    };

    for (const handler of HANDLER_NAMES) {
      // Act
      const grants = statementsOfRole(template, roleOf(stack, handler)).flatMap((s) =>
        list(s.Action)
          .filter((action) => action.startsWith("dynamodb:"))
          .flatMap((action) =>
            list(s.Resource).map((r) => `${action.slice(9)} ${names[flat(r)] ?? flat(r)}`),
          ),
      );

      // Assess
      expect(grants.sort(), handler).toEqual(expected[handler]);
    }
  });

  it("lets only host-step and nightly-cleanup read command output, under commands/", () => {
    const bucket = logicalIdOf(stack, stack.commandOutput.bucket);
    for (const handler of HANDLER_NAMES) {
      // Act
      const s3 = statementsOfRole(template, roleOf(stack, handler)).filter((s) =>
        list(s.Action).some((a) => a.startsWith("s3:")),
      );

      // Assess
      const expected =
        handler === "host-step" || handler === "nightly-cleanup"
          ? [{ actions: ["s3:GetObject"], resources: [`<${bucket}.Arn>/commands/*`] }]
          : [];
      expect(
        s3.map((s) => ({ actions: list(s.Action), resources: list(s.Resource).map(flat) })),
        handler,
      ).toEqual(expected);
    }
  });

  it("uses Resource * only for actions that have no narrower resource", () => {
    // Prepare
    const allowedOnStar = new Set([
      "ssm:GetCommandInvocation",
      "ssm:ListCommandInvocations",
      "ssm:DescribeInstanceInformation",
      // Active tracing (functions and state machine).
      "xray:PutTraceSegments",
      "xray:PutTelemetryRecords",
      "xray:GetSamplingRules",
      "xray:GetSamplingTargets",
      // Step Functions log delivery to CloudWatch Logs.
      "logs:CreateLogDelivery",
      "logs:DeleteLogDelivery",
      "logs:DescribeLogGroups",
      "logs:DescribeResourcePolicies",
      "logs:GetLogDelivery",
      "logs:ListLogDeliveries",
      "logs:PutResourcePolicy",
      "logs:UpdateLogDelivery",
    ]);

    for (const policy of policies(template)) {
      for (const statement of policy.statements) {
        // Assess
        for (const action of list(statement.Action)) {
          expect(action, policy.logicalId).not.toContain("*");
        }
        if (list(statement.Resource).includes("*")) {
          for (const action of list(statement.Action)) {
            expect(allowedOnStar.has(action), `${policy.logicalId}: ${action} on *`).toBe(true);
          }
        }
      }
    }
  });

  it("lets only host-step and evaluate-wave read alarms, on this account's alarms in this region", () => {
    // Act
    const alarmPolicies = policies(template).filter((p) =>
      p.statements.some((s) => list(s.Action).some((a) => a.startsWith("cloudwatch:"))),
    );

    // Assess
    expect(alarmPolicies.map((p) => p.roles)).toEqual([
      [roleOf(stack, "host-step")],
      [roleOf(stack, "evaluate-wave")],
    ]);
    for (const policy of alarmPolicies) {
      expect(
        policy.statements.map((s) => ({
          actions: list(s.Action),
          resources: list(s.Resource).map(flat),
        })),
      ).toEqual([
        {
          actions: ["cloudwatch:DescribeAlarms"],
          resources: ["arn:<AWS::Partition>:cloudwatch:<AWS::Region>:<AWS::AccountId>:alarm:*"],
        },
      ]);
    }
  });

  it("keeps the SSM read actions on * in policies of their own", () => {
    // Act
    const ssmOnStar = policies(template).filter((p) =>
      p.statements.some(
        (s) => list(s.Action).some((a) => a.startsWith("ssm:")) && s.Resource === "*",
      ),
    );

    // Assess
    expect(ssmOnStar.map((p) => p.statements)).toEqual([
      [{ Effect: "Allow", Action: "ssm:DescribeInstanceInformation", Resource: "*" }],
      [{ Effect: "Allow", Action: "ssm:GetCommandInvocation", Resource: "*" }],
      [{ Effect: "Allow", Action: "ssm:GetCommandInvocation", Resource: "*" }],
      [{ Effect: "Allow", Action: "ssm:ListCommandInvocations", Resource: "*" }],
    ]);
    expect(ssmOnStar.map((p) => p.roles)).toEqual([
      [roleOf(stack, "plan-rollout")],
      [roleOf(stack, "host-step")],
      [roleOf(stack, "nightly-cleanup")],
      [roleOf(stack, "load-wave")],
    ]);
  });

  it("lets only plan-rollout describe this state machine's executions (breakLock), nothing else of Step Functions", () => {
    // Act
    const byRole = HANDLER_NAMES.map((handler) => {
      const statements = statementsOfRole(template, roleOf(stack, handler)).filter((s) =>
        list(s.Action).some((a) => a.startsWith("states:")),
      );
      return {
        handler,
        statements: statements.map((s) => ({
          actions: list(s.Action),
          resources: list(s.Resource).map(flat),
        })),
      };
    });

    // Assess
    expect(byRole.filter((r) => r.statements.length > 0)).toEqual([
      {
        handler: "plan-rollout",
        statements: [
          {
            actions: ["states:DescribeExecution"],
            resources: [
              `arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:${stack.stackName}-Rollout:*`,
            ],
          },
        ],
      },
    ]);
  });

  it("lets the state machine invoke its six functions and run its own child executions", () => {
    // Prepare
    const machineRole = logicalIdOf(stack, stack.rollout.stateMachine.role);
    const machine = logicalIdOf(stack, stack.rollout.stateMachine);
    const functions = HANDLER_NAMES.filter((h) => h !== "nightly-cleanup").map((h) =>
      logicalIdOf(stack, stack.functions[h].function),
    );

    // Act
    const statements = statementsOfRole(template, machineRole);
    const invoke = statements.filter((s) => list(s.Action).includes("lambda:InvokeFunction"));
    const states = statements.filter((s) => list(s.Action).some((a) => a.startsWith("states:")));

    // Assess
    expect(invoke.flatMap((s) => list(s.Resource).map(flat)).sort()).toEqual(
      functions.flatMap((id) => [`<${id}.Arn>`, `<${id}.Arn>:*`]).sort(),
    );
    expect(actionsWithPrefix(statements, "lambda:")).toEqual(["lambda:InvokeFunction"]);
    expect(actionsWithPrefix(states, "states:")).toEqual([
      "states:DescribeExecution",
      "states:RedriveExecution",
      "states:StartExecution",
      "states:StopExecution",
    ]);
    const start = states.find((s) => list(s.Action).includes("states:StartExecution"));
    expect(start?.Resource).toEqual({ Ref: machine });
  });
});
