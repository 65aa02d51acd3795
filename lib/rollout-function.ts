import { join } from "node:path";
import { type CfnResource, Duration, Validations } from "aws-cdk-lib";
import { type IRole, Role, ServicePrincipal } from "aws-cdk-lib/aws-iam";
import { Architecture, LoggingFormat, Runtime, Tracing } from "aws-cdk-lib/aws-lambda";
import { NodejsFunction, OutputFormat } from "aws-cdk-lib/aws-lambda-nodejs";
import { LogGroup, RetentionDays } from "aws-cdk-lib/aws-logs";
import { Construct } from "constructs";
import type { z } from "zod";
import type { FunctionEnvSchema } from "../lambdas/common/env.js";
import { PROJECT_ROOT } from "./config.js";

/** Handler folders under `lambdas/`, one function each. */
export const HANDLER_NAMES = [
  "plan-rollout",
  "load-wave",
  "host-step",
  "record-host",
  "evaluate-wave",
  "finish-rollout",
  "nightly-cleanup",
] as const;

/** A handler folder name. */
export type HandlerName = (typeof HANDLER_NAMES)[number];

/**
 * The environment the stack sets on function `N`: the variables of its env schema
 * (`FUNCTION_ENV_SCHEMAS` in `lambdas/common/env.ts`) as strings, required where the
 * schema requires them, so a variable renamed or added there breaks the build here.
 * `AWS_REGION` is left out: Lambda sets it and refuses it in a function's configuration.
 */
export type FunctionEnvironment<N extends HandlerName> = {
  readonly [K in keyof Omit<z.input<FunctionEnvSchema<N>>, "AWS_REGION">]: string;
};

/**
 * Metadata key on each `AWS::Lambda::Function` naming its handler folder: local mode
 * maps a Task's Resource ARN (the function) to the in-process handler through it.
 */
export const HANDLER_METADATA_KEY = "agent-rollout:handler";

/**
 * ESM bundles have no `require`; some CommonJS dependencies call it (for Node
 * built-ins), so the bundle defines one.
 */
const ESM_REQUIRE_BANNER =
  "import { createRequire as __arCreateRequire } from 'node:module'; const require = __arCreateRequire(import.meta.url);";

/** Properties of {@link RolloutFunction}. */
export interface RolloutFunctionProps<N extends HandlerName> {
  /** Handler folder under `lambdas/`; also recorded as metadata {@link HANDLER_METADATA_KEY}. */
  readonly handlerName: N;
  /** Function description. @default - none */
  readonly description?: string;
  /** Environment variables, typed from the function's env schema. */
  readonly environment: FunctionEnvironment<N>;
  /** Memory, MiB. @default 256 */
  readonly memorySize?: number;
  /** Invocation timeout. @default Duration.seconds(30) */
  readonly timeout?: Duration;
  /** Retention of the function's log group. @default RetentionDays.THREE_MONTHS */
  readonly logRetention?: RetentionDays;
  /** Entry file. @default `lambdas/<handlerName>/index.ts` under the project root */
  readonly entry?: string;
  /**
   * Reserved concurrency: the most instances that run at once, taken from the
   * account's unreserved pool. @default - none (the account's unreserved pool)
   */
  readonly reservedConcurrentExecutions?: number;
}

/**
 * The house Lambda function: every function of the stack goes through it so that
 * runtime (Node.js 22), architecture (arm64), bundle format (ESM), JSON logs, X-Ray
 * tracing and log retention are the same everywhere.
 *
 * The function gets its own role with nothing but write access to its own log group
 * (no AWS managed policy); whoever composes it grants the rest.
 */
export class RolloutFunction<N extends HandlerName = HandlerName> extends Construct {
  /** The function. */
  public readonly function: NodejsFunction;
  /** Its execution role. */
  public readonly role: IRole;
  /** Its log group, with the configured retention. */
  public readonly logGroup: LogGroup;
  /** Handler folder name. */
  public readonly handlerName: N;

  constructor(scope: Construct, id: string, props: RolloutFunctionProps<N>) {
    super(scope, id);
    this.handlerName = props.handlerName;

    this.logGroup = new LogGroup(this, "LogGroup", {
      retention: props.logRetention ?? RetentionDays.THREE_MONTHS,
    });
    const role = new Role(this, "Role", {
      assumedBy: new ServicePrincipal("lambda.amazonaws.com"),
      description: `Execution role of the ${props.handlerName} function`,
    });
    this.role = role;
    // Instead of AWSLambdaBasicExecutionRole (logs:* on every log group): this group only.
    this.logGroup.grantWrite(role);

    this.function = new NodejsFunction(this, "Function", {
      entry: props.entry ?? join(PROJECT_ROOT, "lambdas", props.handlerName, "index.ts"),
      handler: "handler",
      projectRoot: PROJECT_ROOT,
      depsLockFilePath: join(PROJECT_ROOT, "package-lock.json"),
      description: props.description,
      runtime: Runtime.NODEJS_22_X,
      architecture: Architecture.ARM_64,
      memorySize: props.memorySize ?? 256,
      timeout: props.timeout ?? Duration.seconds(30),
      reservedConcurrentExecutions: props.reservedConcurrentExecutions,
      role,
      logGroup: this.logGroup,
      loggingFormat: LoggingFormat.JSON,
      tracing: Tracing.ACTIVE,
      environment: {
        // The bundle ships a source map; stack traces in the logs then name .ts lines.
        NODE_OPTIONS: "--enable-source-maps",
        ...props.environment,
      },
      bundling: {
        format: OutputFormat.ESM,
        target: "node22",
        mainFields: ["module", "main"],
        banner: ESM_REQUIRE_BANNER,
        minify: true,
        keepNames: true,
        sourceMap: true,
        sourcesContent: false,
        // Ship the SDK version the handlers were tested with, not the runtime's copy.
        bundleAwsSDK: true,
      },
    });
    (this.function.node.defaultChild as CfnResource).addMetadata(
      HANDLER_METADATA_KEY,
      props.handlerName,
    );

    Validations.of(this).acknowledge({
      id: "AwsSolutions-L1",
      reason:
        "nodejs22.x is pinned on purpose: the handlers, their SDK and middy versions are built and tested for Node 20/22; move to a newer runtime together with that toolchain.",
    });
    const defaultPolicy = role.node.tryFindChild("DefaultPolicy");
    if (defaultPolicy !== undefined) {
      Validations.of(defaultPolicy).acknowledge({
        id: "AwsSolutions-IAM5[Resource::*]",
        reason:
          "Active tracing adds xray:PutTraceSegments and xray:PutTelemetryRecords, which support no resource-level permissions. Other grants of this function go to separate policies.",
      });
    }
  }
}
