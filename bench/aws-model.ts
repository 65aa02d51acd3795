/**
 * Prices and the cost model: what a rollout measured in local mode would cost in
 * AWS. Every quantity is counted in the local run; only the unit prices (and the
 * two logging assumptions named below) come from outside.
 *
 * @module
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildRolloutApp, newRolloutApp } from "../lib/rollout-app.js";
import { HANDLER_METADATA_KEY } from "../lib/rollout-function.js";

/**
 * List prices, US East (N. Virginia). Step Functions Standard per state transition;
 * Lambda per request and per GB-second on arm64 (the stack's architecture); DynamoDB
 * on-demand per request unit; S3 Standard per request; CloudWatch Logs per GB
 * ingested; X-Ray per trace recorded. SSM Run Command has no charge on EC2 instances
 * and on-premises managed nodes of the standard tier (advanced-tier nodes pay per
 * node-hour whatever this tool does), and its API calls are free.
 */
export const PRICES = {
  stepFunctionsTransition: 0.025 / 1_000,
  lambdaRequest: 0.2 / 1_000_000,
  lambdaGbSecondArm64: 0.0000133334,
  dynamoWriteUnit: 0.625 / 1_000_000,
  dynamoReadUnit: 0.125 / 1_000_000,
  s3Put: 0.005 / 1_000,
  s3Get: 0.0004 / 1_000,
  ssmRunCommand: 0,
  logsIngestedPerGb: 0.5,
  xrayTrace: 5 / 1_000_000,
} as const;

/**
 * Assumed bytes of one Step Functions execution log record (log level ALL, execution
 * data excluded: event type, ids, timestamps, ARNs). Not measurable locally.
 */
export const ASSUMED_SFN_LOG_BYTES_PER_EVENT = 400;
/**
 * Assumed bytes of Lambda's own log records per invocation (platform start and
 * report lines in JSON format), on top of the handlers' lines, which are measured.
 */
export const ASSUMED_LAMBDA_PLATFORM_LOG_BYTES = 600;

/** Memory (MiB) of every function of the stack, by handler name, as synthesized. */
export function functionMemoryMb(): Record<string, number> {
  const outdir = mkdtempSync(join(tmpdir(), "agent-rollout-bench-synth-"));
  try {
    const app = newRolloutApp({
      outdir,
      builtinCloudFormationValidation: false,
      context: { "aws:cdk:bundling-stacks": [] },
    });
    const stack = buildRolloutApp(app, { checks: false });
    const template = app.synth().getStackArtifact(stack.artifactId).template as {
      Resources: Record<
        string,
        { Type: string; Properties?: { MemorySize?: number }; Metadata?: Record<string, unknown> }
      >;
    };
    const memory: Record<string, number> = {};
    for (const resource of Object.values(template.Resources)) {
      const handler = resource.Metadata?.[HANDLER_METADATA_KEY];
      if (resource.Type === "AWS::Lambda::Function" && typeof handler === "string") {
        memory[handler] = resource.Properties?.MemorySize ?? 128;
      }
    }
    return memory;
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}

/** What one run used, as counted locally. */
export interface Usage {
  readonly hosts: number;
  /** Billed transitions, parent and children. */
  readonly transitions: number;
  /** History events, parent and children (for the log volume). */
  readonly historyEvents: number;
  /** Child executions (one per host), each a trace at most. */
  readonly executions: number;
  readonly lambdaRequests: number;
  /** Sum over invocations of billed duration (ms, rounded up per invocation) × memory. */
  readonly lambdaGbSeconds: number;
  readonly dynamoReadUnits: number;
  /** Table and index write units, failed conditional writes included. */
  readonly dynamoWriteUnits: number;
  readonly s3Puts: number;
  readonly s3Gets: number;
  readonly ssmApiCalls: number;
  /** Bytes the handlers logged. */
  readonly lambdaLogBytes: number;
}

/** One line of the bill. */
export interface CostLine {
  readonly item: string;
  readonly quantity: number;
  readonly unit: string;
  readonly dollars: number;
}

/** The bill of a run, per line and per host. */
export interface Cost {
  readonly lines: CostLine[];
  readonly total: number;
  readonly perHost: number;
}

/** Prices a run's usage. */
export function priceUsage(usage: Usage): Cost {
  const logBytes =
    usage.lambdaLogBytes +
    usage.lambdaRequests * ASSUMED_LAMBDA_PLATFORM_LOG_BYTES +
    usage.historyEvents * ASSUMED_SFN_LOG_BYTES_PER_EVENT;
  const lines: CostLine[] = [
    {
      item: "Step Functions transitions",
      quantity: usage.transitions,
      unit: "transitions",
      dollars: usage.transitions * PRICES.stepFunctionsTransition,
    },
    {
      item: "Lambda requests",
      quantity: usage.lambdaRequests,
      unit: "requests",
      dollars: usage.lambdaRequests * PRICES.lambdaRequest,
    },
    {
      item: "Lambda duration (arm64)",
      quantity: usage.lambdaGbSeconds,
      unit: "GB-s",
      dollars: usage.lambdaGbSeconds * PRICES.lambdaGbSecondArm64,
    },
    {
      item: "DynamoDB writes",
      quantity: usage.dynamoWriteUnits,
      unit: "WRU",
      dollars: usage.dynamoWriteUnits * PRICES.dynamoWriteUnit,
    },
    {
      item: "DynamoDB reads",
      quantity: usage.dynamoReadUnits,
      unit: "RRU",
      dollars: usage.dynamoReadUnits * PRICES.dynamoReadUnit,
    },
    {
      item: "S3 PUT (command output)",
      quantity: usage.s3Puts,
      unit: "requests",
      dollars: usage.s3Puts * PRICES.s3Put,
    },
    {
      item: "S3 GET (command output)",
      quantity: usage.s3Gets,
      unit: "requests",
      dollars: usage.s3Gets * PRICES.s3Get,
    },
    {
      item: "SSM Run Command + API calls",
      quantity: usage.ssmApiCalls,
      unit: "calls",
      dollars: 0,
    },
    {
      item: "CloudWatch Logs ingestion*",
      quantity: logBytes / 1024 ** 3,
      unit: "GB",
      dollars: (logBytes / 1024 ** 3) * PRICES.logsIngestedPerGb,
    },
    {
      item: "X-Ray traces (upper bound)*",
      quantity: usage.executions,
      unit: "traces",
      dollars: usage.executions * PRICES.xrayTrace,
    },
  ];
  const total = lines.reduce((sum, line) => sum + line.dollars, 0);
  return { lines, total, perHost: total / Math.max(1, usage.hosts) };
}
