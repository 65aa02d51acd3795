/** The AWS path: stack outputs, StartExecution, DescribeExecution for unlock, Lambda Invoke. */
import { CloudFormationClient, DescribeStacksCommand } from "@aws-sdk/client-cloudformation";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { InvokeCommand, LambdaClient } from "@aws-sdk/client-lambda";
import { DescribeExecutionCommand, SFNClient, StartExecutionCommand } from "@aws-sdk/client-sfn";
import { DeleteCommand, DynamoDBDocumentClient, GetCommand } from "@aws-sdk/lib-dynamodb";
import { mockClient } from "aws-sdk-client-mock";
import { beforeEach, describe, expect, it } from "vitest";
import { type AwsClients, openAwsBackend } from "../../cli/aws-backend.js";
import { cleanupCommand } from "../../cli/commands/cleanup.js";
import { rollbackCommand } from "../../cli/commands/rollback.js";
import { startCommand } from "../../cli/commands/start.js";
import { unlockCommand } from "../../cli/commands/unlock.js";
import { CliError, EXIT } from "../../cli/errors.js";
import { I1, I2, SHA, T0, validInput } from "../lambdas/helpers.js";
import { recordingIo } from "./helpers.js";

const cfnMock = mockClient(CloudFormationClient);
const sfnMock = mockClient(SFNClient);
const lambdaMock = mockClient(LambdaClient);
const ddbMock = mockClient(DynamoDBDocumentClient);

const SM_ARN = "arn:aws:states:eu-west-1:123456789012:stateMachine:AgentRollout-Rollout";
const OUTPUTS = [
  { OutputKey: "StateMachineArn", OutputValue: SM_ARN },
  { OutputKey: "LedgerTableName", OutputValue: "AgentRollout-Ledger" },
  { OutputKey: "CleanupFunctionName", OutputValue: "AgentRollout-NightlyCleanup" },
  { OutputKey: "HostPolicyArn", OutputValue: "arn:aws:iam::123456789012:policy/x" },
];

function clients(): AwsClients {
  const config = { region: "eu-west-1", credentials: { accessKeyId: "a", secretAccessKey: "b" } };
  return {
    cloudFormation: new CloudFormationClient(config),
    stepFunctions: new SFNClient(config),
    lambda: new LambdaClient(config),
    dynamo: new DynamoDBClient(config),
  };
}

const failure = async (promise: Promise<unknown>) =>
  promise.then(
    () => undefined,
    (e: unknown) => e,
  );

beforeEach(() => {
  for (const mock of [cfnMock, sfnMock, lambdaMock, ddbMock]) mock.reset();
  cfnMock.on(DescribeStacksCommand).resolves({
    Stacks: [
      {
        StackName: "AgentRollout",
        CreationTime: new Date(T0),
        StackStatus: "CREATE_COMPLETE",
        Outputs: OUTPUTS,
      },
    ],
  });
});

describe("opening a deployed stack", () => {
  it("reads the stack's outputs with DescribeStacks", async () => {
    // Act
    const backend = await openAwsBackend("AgentRollout", clients());

    // Assess
    expect(cfnMock).toHaveReceivedCommandWith(DescribeStacksCommand, { StackName: "AgentRollout" });
    expect(backend.where).toBe("stack AgentRollout");
  });

  it("says the stack is not found, exit 3", async () => {
    // Prepare
    cfnMock
      .on(DescribeStacksCommand)
      .rejects(
        Object.assign(new Error("Stack with id Nope does not exist"), { name: "ValidationError" }),
      );

    // Act
    const error = await failure(openAwsBackend("Nope", clients()));

    // Assess
    expect(error).toBeInstanceOf(CliError);
    expect(error).toMatchObject({
      message:
        "stack Nope not found in eu-west-1 (deploy it, or pass --stack NAME / --region REGION)",
      exitCode: EXIT.NOT_FOUND,
    });
  });

  it("names an output the stack lacks", async () => {
    // Prepare
    cfnMock.on(DescribeStacksCommand).resolves({
      Stacks: [
        {
          StackName: "Old",
          CreationTime: new Date(T0),
          StackStatus: "CREATE_COMPLETE",
          Outputs: OUTPUTS.slice(0, 2),
        },
      ],
    });

    // Act
    const error = await failure(openAwsBackend("Old", clients()));

    // Assess
    expect(error).toMatchObject({
      message: "stack Old has no output CleanupFunctionName: deploy this version of agent-rollout",
      exitCode: EXIT.NOT_FOUND,
    });
  });
});

describe("start", () => {
  it("starts the execution named by the rollout id with the input as given, and prints the console URL", async () => {
    // Prepare
    const arn = "arn:aws:states:eu-west-1:123456789012:execution:AgentRollout-Rollout:r-42";
    sfnMock.on(StartExecutionCommand).resolves({ executionArn: arn, startDate: new Date(T0) });
    const backend = await openAwsBackend("AgentRollout", clients());
    const io = recordingIo(T0);
    const file = `${process.env.TMPDIR ?? "/tmp"}/cli-aws-input-${process.pid}.json`;
    const { writeFile, rm } = await import("node:fs/promises");
    await writeFile(file, JSON.stringify(validInput({ hosts: { instanceIds: [I1] } })));

    // Act
    const code = await startCommand(
      backend,
      {
        flags: { input: file, "batch-size": "2", tag: [] },
        rolloutId: "r-42",
        watch: false,
        jobsPerHost: 3,
      },
      io,
    ).finally(() => rm(file));

    // Assess
    expect(code).toBe(EXIT.OK);
    expect(sfnMock).toHaveReceivedCommandTimes(StartExecutionCommand, 1);
    const sent = sfnMock.commandCalls(StartExecutionCommand)[0]?.args[0].input;
    expect(sent?.stateMachineArn).toBe(SM_ARN);
    expect(sent?.name).toBe("r-42");
    expect(JSON.parse(sent?.input ?? "")).toEqual(
      validInput({ hosts: { instanceIds: [I1] }, batchSize: 2 }),
    );
    expect(io.lines).toContain(`Execution:  ${arn}`);
    expect(io.lines).toContain(
      `Console:    https://eu-west-1.console.aws.amazon.com/states/home?region=eu-west-1#/v2/executions/details/${arn}`,
    );
  });

  it("refuses a bad input field by field and starts nothing", async () => {
    // Prepare
    const backend = await openAwsBackend("AgentRollout", clients());

    // Act
    const error = await failure(
      startCommand(
        backend,
        {
          flags: {
            "target-version": "2.0.0",
            "artifact-url": "ftp://x",
            "artifact-sha256": SHA,
            profile: "demo",
            "instance-ids": `${I1},${I2}`,
            "batch-size": "0",
          },
          watch: false,
          jobsPerHost: 3,
        },
        recordingIo(T0),
      ),
    );

    // Assess
    expect(error).toMatchObject({ name: "UsageError" });
    const message = (error as Error).message;
    expect(message).toMatch(/^invalid execution input \(nothing started\):/);
    expect(message).toMatch(/\n {2}artifact\.url: /);
    expect(message).toMatch(/\n {2}batchSize: /);
    expect(message).toMatch(/\n {2}canary: /);
    expect(sfnMock).not.toHaveReceivedCommand(StartExecutionCommand);
  });
});

describe("rollback", () => {
  it("starts an execution whose input is {rollback: ROLLOUT}, under its own rollout id", async () => {
    // Prepare
    const arn = "arn:aws:states:eu-west-1:123456789012:execution:AgentRollout-Rollout:r-back";
    sfnMock.on(StartExecutionCommand).resolves({ executionArn: arn, startDate: new Date(T0) });
    const backend = await openAwsBackend("AgentRollout", clients());
    const io = recordingIo(T0);

    // Act
    const code = await rollbackCommand(
      backend,
      { target: "r-42", rolloutId: "r-back", dryRun: false, watch: false, jobsPerHost: 3 },
      io,
    );

    // Assess
    expect(code).toBe(EXIT.OK);
    expect(sfnMock).toHaveReceivedCommandWith(StartExecutionCommand, {
      stateMachineArn: SM_ARN,
      name: "r-back",
      input: JSON.stringify({ rollback: "r-42" }),
    });
    expect(io.lines).toContain(`Execution:  ${arn}`);
  });

  it("refuses a rollout id that cannot name a rollout and starts nothing", async () => {
    // Prepare
    const backend = await openAwsBackend("AgentRollout", clients());

    // Act
    const error = await failure(
      rollbackCommand(
        backend,
        { target: "r 42", dryRun: true, watch: false, jobsPerHost: 3 },
        recordingIo(T0),
      ),
    );

    // Assess
    expect(error).toMatchObject({ name: "UsageError" });
    expect((error as Error).message).toMatch(/\n {2}ROLLOUT: "r 42" is not a rollout id/);
    expect(sfnMock).not.toHaveReceivedCommand(StartExecutionCommand);
  });
});

describe("unlock", () => {
  const lockItem = (expiresAt: number) => ({
    pk: "LOCK#prod",
    sk: "LOCK",
    kind: "lock",
    schemaVersion: 1,
    fleet: "prod",
    owner: "r-7",
    acquiredAt: new Date(T0).toISOString(),
    expiresAt,
  });
  const EXECUTION = "arn:aws:states:eu-west-1:123456789012:execution:AgentRollout-Rollout:r-7";

  it("frees a live lock whose owner's execution has ended", async () => {
    // Prepare
    ddbMock.on(GetCommand).resolves({ Item: lockItem(T0 / 1000 + 3600) });
    ddbMock.on(DeleteCommand).resolves({});
    sfnMock.on(DescribeExecutionCommand).resolves({ status: "FAILED" });
    const io = recordingIo(T0);

    // Act
    const code = await unlockCommand(await openAwsBackend("AgentRollout", clients()), "prod", io);

    // Assess
    expect(code).toBe(EXIT.OK);
    expect(sfnMock).toHaveReceivedCommandWith(DescribeExecutionCommand, {
      executionArn: EXECUTION,
    });
    expect(ddbMock).toHaveReceivedCommandWith(DeleteCommand, {
      TableName: "AgentRollout-Ledger",
      Key: { pk: "LOCK#prod", sk: "LOCK" },
      ExpressionAttributeValues: { ":owner": "r-7" },
    });
    expect(io.lines).toEqual([
      "fleet prod unlocked (was held by rollout r-7): its owner, rollout r-7, ended FAILED",
    ]);
  });

  it("refuses a live lock whose owner still runs", async () => {
    // Prepare
    ddbMock.on(GetCommand).resolves({ Item: lockItem(T0 / 1000 + 3600) });
    sfnMock.on(DescribeExecutionCommand).resolves({ status: "RUNNING" });
    const io = recordingIo(T0);

    // Act
    const code = await unlockCommand(await openAwsBackend("AgentRollout", clients()), "prod", io);

    // Assess
    expect(code).toBe(EXIT.FAILED);
    expect(ddbMock).not.toHaveReceivedCommand(DeleteCommand);
    expect(io.lines[0]).toMatch(
      /^refused: fleet prod stays locked: its owner, rollout r-7, is still running/,
    );
  });

  it("frees an expired lock, and a lock whose owner has no execution", async () => {
    // Prepare
    ddbMock
      .on(GetCommand)
      .resolvesOnce({ Item: lockItem(T0 / 1000 - 1) })
      .resolves({ Item: lockItem(T0 / 1000 + 60) });
    ddbMock.on(DeleteCommand).resolves({});
    sfnMock
      .on(DescribeExecutionCommand)
      .resolvesOnce({ status: "RUNNING" })
      .rejects(Object.assign(new Error("gone"), { name: "ExecutionDoesNotExist" }));
    const backend = await openAwsBackend("AgentRollout", clients());
    const io = recordingIo(T0);

    // Act
    const codes = [
      await unlockCommand(backend, "prod", io),
      await unlockCommand(backend, "prod", io),
    ];

    // Assess
    expect(codes).toEqual([EXIT.OK, EXIT.OK]);
    expect(io.lines[0]).toMatch(/: it expired at /);
    expect(io.lines[1]).toMatch(/: its owner, rollout r-7, has no execution$/);
  });
});

describe("cleanup --now", () => {
  it("invokes the cleanup function with a scheduled event and prints what it did", async () => {
    // Prepare
    const result = {
      checked: 2,
      deleted: [
        { hostId: I1, rolloutId: "r-1", release: "/opt/a/releases/1.0.0", reason: "DELETED" },
      ],
      kept: [
        {
          hostId: I2,
          rolloutId: "r-1",
          release: "/opt/a/releases/1.0.0",
          reason: "2 jobs still running",
        },
      ],
      failed: [],
      deferred: 0,
    };
    lambdaMock.on(InvokeCommand).resolves({
      StatusCode: 200,
      Payload: new TextEncoder().encode(JSON.stringify(result)) as never,
    });
    const io = recordingIo(T0);

    // Act
    const code = await cleanupCommand(await openAwsBackend("AgentRollout", clients()), io);

    // Assess
    expect(code).toBe(EXIT.OK);
    expect(lambdaMock).toHaveReceivedCommandWith(InvokeCommand, {
      FunctionName: "AgentRollout-NightlyCleanup",
    });
    const payload = lambdaMock.commandCalls(InvokeCommand)[0]?.args[0].input.Payload as Uint8Array;
    expect(JSON.parse(new TextDecoder().decode(payload))).toMatchObject({
      "detail-type": "Scheduled Event",
      source: "aws.events",
    });
    expect(io.lines[0]).toBe("Nightly cleanup: 2 pending snapshot(s) checked");
    expect(io.lines.join("\n")).toMatch(
      /deleted +i-0123456789abcdef0 +\/opt\/a\/releases\/1\.0\.0 +DELETED/,
    );
    expect(io.lines.join("\n")).toMatch(/kept +i-0123456789abcdef1 .* 2 jobs still running/);
  });

  it("fails with the function's error", async () => {
    // Prepare
    lambdaMock.on(InvokeCommand).resolves({
      StatusCode: 200,
      FunctionError: "Unhandled",
      Payload: new TextEncoder().encode(
        JSON.stringify({ errorType: "Error", errorMessage: "boom" }),
      ) as never,
    });

    // Act
    const error = await failure(
      cleanupCommand(await openAwsBackend("AgentRollout", clients()), recordingIo(T0)),
    );

    // Assess
    expect(error).toMatchObject({
      message: "the cleanup function failed: Error: boom",
      exitCode: EXIT.FAILED,
    });
  });
});
