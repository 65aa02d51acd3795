/**
 * The {@link Backend} of a deployed stack: its CloudFormation outputs name the state
 * machine, the ledger table and the cleanup function.
 *
 * @module
 */
import { CloudFormationClient, DescribeStacksCommand } from "@aws-sdk/client-cloudformation";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { InvokeCommand, LambdaClient } from "@aws-sdk/client-lambda";
import { DescribeExecutionCommand, SFNClient, StartExecutionCommand } from "@aws-sdk/client-sfn";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { DynamoLedgerStore } from "../lambdas/common/ledger/index.js";
import type { CleanupReport } from "../local/cleanup.js";
import type { Backend, ExecutionState, StartedRollout } from "./backend.js";
import { CliError, EXIT } from "./errors.js";

/** Stack outputs the CLI reads (lib/agent-rollout-stack.ts). */
export const REQUIRED_OUTPUTS = [
  "StateMachineArn",
  "LedgerTableName",
  "CleanupFunctionName",
] as const;

/** The stack's outputs the CLI uses. */
export type StackOutputs = Record<(typeof REQUIRED_OUTPUTS)[number], string>;

/** The SDK clients of {@link openAwsBackend} (tests hand mocked ones). */
export interface AwsClients {
  readonly cloudFormation: CloudFormationClient;
  readonly stepFunctions: SFNClient;
  readonly lambda: LambdaClient;
  readonly dynamo: DynamoDBClient;
}

/** Clients in `region`, or the SDK's default region and credential chain. */
export function awsClients(region?: string): AwsClients {
  const config = region === undefined ? {} : { region };
  return {
    cloudFormation: new CloudFormationClient(config),
    stepFunctions: new SFNClient(config),
    lambda: new LambdaClient(config),
    dynamo: new DynamoDBClient(config),
  };
}

/** Reads the outputs of `stackName`; names the stack or the output that is missing. */
export async function readStackOutputs(
  client: CloudFormationClient,
  stackName: string,
): Promise<StackOutputs> {
  let outputs: Array<{ OutputKey?: string; OutputValue?: string }>;
  try {
    const out = await client.send(new DescribeStacksCommand({ StackName: stackName }));
    outputs = out.Stacks?.[0]?.Outputs ?? [];
  } catch (error) {
    if ((error as Error).name === "ValidationError" && /does not exist/.test(String(error))) {
      const region = await client.config.region().catch(() => "?");
      throw new CliError(
        `stack ${stackName} not found in ${region} (deploy it, or pass --stack NAME / --region REGION)`,
        EXIT.NOT_FOUND,
      );
    }
    throw error;
  }
  const found: Partial<StackOutputs> = {};
  for (const key of REQUIRED_OUTPUTS) {
    const value = outputs.find((o) => o.OutputKey === key)?.OutputValue;
    if (value === undefined) {
      throw new CliError(
        `stack ${stackName} has no output ${key}: deploy this version of agent-rollout`,
        EXIT.NOT_FOUND,
      );
    }
    found[key] = value;
  }
  return found as StackOutputs;
}

/** The execution ARN of a rollout: the state machine's, execution named by the rollout id. */
export function executionArn(stateMachineArn: string, rolloutId: string): string {
  return `${stateMachineArn.replace(":stateMachine:", ":execution:")}:${rolloutId}`;
}

/** The execution's page in the Step Functions console. */
export function consoleUrl(arn: string): string {
  const region = arn.split(":")[3] ?? "us-east-1";
  return `https://${region}.console.aws.amazon.com/states/home?region=${region}#/v2/executions/details/${arn}`;
}

/** The event EventBridge's schedule sends the cleanup function. */
export function scheduledEvent(now: Date): Record<string, unknown> {
  return {
    version: "0",
    id: crypto.randomUUID(),
    "detail-type": "Scheduled Event",
    source: "aws.events",
    account: "000000000000",
    time: now.toISOString(),
    region: "us-east-1",
    resources: [],
    detail: {},
  };
}

/** Opens the stack `stackName` through its outputs. */
export async function openAwsBackend(stackName: string, clients: AwsClients): Promise<Backend> {
  const outputs = await readStackOutputs(clients.cloudFormation, stackName);
  const document = DynamoDBDocumentClient.from(clients.dynamo, {
    marshallOptions: { removeUndefinedValues: true },
  });
  const store = new DynamoLedgerStore({ client: document, tableName: outputs.LedgerTableName });
  const sfn = clients.stepFunctions;
  return {
    where: `stack ${stackName}`,
    store,
    pollMs: 5_000,
    hostNames: new Map(),
    taskTokens: sfn,
    async startRollout(input, rolloutId): Promise<StartedRollout> {
      try {
        const out = await sfn.send(
          new StartExecutionCommand({
            stateMachineArn: outputs.StateMachineArn,
            name: rolloutId,
            input: JSON.stringify(input),
          }),
        );
        const arn = out.executionArn ?? executionArn(outputs.StateMachineArn, rolloutId);
        return { rolloutId, executionArn: arn, consoleUrl: consoleUrl(arn) };
      } catch (error) {
        if ((error as Error).name === "ExecutionAlreadyExists") {
          throw new CliError(`rollout ${rolloutId} was already started: pick another --rollout-id`);
        }
        throw error;
      }
    },
    async executionState(rolloutId): Promise<ExecutionState> {
      try {
        const out = await sfn.send(
          new DescribeExecutionCommand({
            executionArn: executionArn(outputs.StateMachineArn, rolloutId),
          }),
        );
        return (out.status ?? "NOT_FOUND") as ExecutionState;
      } catch (error) {
        if ((error as Error).name === "ExecutionDoesNotExist") return "NOT_FOUND";
        throw error;
      }
    },
    async runCleanup(): Promise<CleanupReport> {
      const out = await clients.lambda.send(
        new InvokeCommand({
          FunctionName: outputs.CleanupFunctionName,
          Payload: new TextEncoder().encode(JSON.stringify(scheduledEvent(new Date()))),
        }),
      );
      const text = out.Payload === undefined ? "null" : new TextDecoder().decode(out.Payload);
      if (out.FunctionError !== undefined) {
        const payload = JSON.parse(text) as { errorType?: string; errorMessage?: string };
        throw new CliError(
          `the cleanup function failed: ${payload.errorType ?? out.FunctionError}: ${payload.errorMessage ?? text}`,
        );
      }
      return JSON.parse(text) as CleanupReport;
    },
    runningVersion: async () => undefined,
    jobFigures: async () => undefined,
    close: async () => {
      for (const client of Object.values(clients)) client.destroy();
    },
  };
}
