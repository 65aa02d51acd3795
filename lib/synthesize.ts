/**
 * Synthesizes the stack without AWS and without bundling, and extracts what local mode
 * needs to run the very same state machine in process: the plain ASL, which handler
 * serves each Task, the documents, and each function's environment.
 *
 * CloudFormation intrinsics are resolved to fixed placeholders: account
 * `000000000000`, region `us-east-1`, partition `aws`, a resource's physical name is its
 * logical id (lower-cased for buckets, as S3 requires), and ARNs are built from those,
 * e.g. a function's `Fn::GetAtt [Fn, Arn]` is
 * `arn:aws:lambda:us-east-1:000000000000:function:<logicalId>`.
 *
 * @module
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { HostDocumentContent } from "./host-command-documents.js";
import { buildRolloutApp, newRolloutApp } from "./rollout-app.js";
import { HANDLER_METADATA_KEY } from "./rollout-function.js";

/** Placeholder account id. */
export const PLACEHOLDER_ACCOUNT = "000000000000";
/** Placeholder region. */
export const PLACEHOLDER_REGION = "us-east-1";

/** A state of an ASL definition. */
export type AslState = { readonly Type: string } & Record<string, unknown>;

/** A plain ASL state machine (or item processor) definition. */
export interface AslDefinition {
  readonly StartAt: string;
  readonly States: Record<string, AslState>;
  readonly [key: string]: unknown;
}

/** Options of {@link synthesizeRollout}. */
export interface SynthesizeRolloutOptions {
  /** Directory of the profiles to deploy. @default the `profilesDir` context, else `<project>/profiles` */
  readonly profilesDir?: string;
  /** Extra CDK context (the knobs of `bin/agent-rollout.ts`). @default - none */
  readonly context?: Record<string, unknown>;
}

/** What local mode and the tests need from the synthesized stack. */
export interface SynthesizedRollout {
  /** Plain ASL of the rollout state machine, intrinsics resolved to placeholders. */
  readonly definition: AslDefinition;
  /** Task state name (item processor states included) → handler folder name. */
  readonly taskHandlers: Record<string, string>;
  /** Document name (as the functions receive it) → document content. */
  readonly documents: Record<string, HostDocumentContent>;
  /** Handler name → environment variables, resolved like the definition. */
  readonly functionEnvironments: Record<string, Record<string, string>>;
  /** Handler name → function timeout, milliseconds. */
  readonly functionTimeoutsMs: Record<string, number>;
  /** Properties of the ledger's `AWS::DynamoDB::Table` (key schema, indexes, …), resolved. */
  readonly tableProperties: Record<string, unknown>;
  /** Name of the state machine. */
  readonly stateMachineName: string;
}

interface CfnResource {
  readonly Type: string;
  readonly Properties?: Record<string, unknown>;
  readonly Metadata?: Record<string, unknown>;
}

interface CfnTemplate {
  readonly Resources: Record<string, CfnResource>;
}

/**
 * Synthesizes the app (context `aws:cdk:bundling-stacks: []`, so nothing is bundled and
 * no AWS access is needed) and returns the parts local mode runs.
 */
export function synthesizeRollout(options: SynthesizeRolloutOptions = {}): SynthesizedRollout {
  const outdir = mkdtempSync(join(tmpdir(), "agent-rollout-synth-"));
  try {
    const app = newRolloutApp({
      outdir,
      builtinCloudFormationValidation: false,
      context: {
        ...options.context,
        ...(options.profilesDir === undefined ? {} : { profilesDir: options.profilesDir }),
        "aws:cdk:bundling-stacks": [],
      },
    });
    const stack = buildRolloutApp(app, { checks: false });
    const template = app.synth().getStackArtifact(stack.artifactId).template as CfnTemplate;
    return extractRollout(template, stack.stackName);
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}

/** Extracts a {@link SynthesizedRollout} from a synthesized template. */
export function extractRollout(template: CfnTemplate, stackName: string): SynthesizedRollout {
  const resolver = new TemplateResolver(template, stackName);
  const resources = Object.entries(template.Resources);
  const ofType = (type: string) => resources.filter(([, resource]) => resource.Type === type);

  const handlerByArn = new Map<string, string>();
  const functionEnvironments: Record<string, Record<string, string>> = {};
  const functionTimeoutsMs: Record<string, number> = {};
  for (const [logicalId, resource] of ofType("AWS::Lambda::Function")) {
    const handler = resource.Metadata?.[HANDLER_METADATA_KEY];
    if (typeof handler !== "string") continue;
    handlerByArn.set(resolver.arn(logicalId), handler);
    const props = resource.Properties ?? {};
    const variables = (props.Environment as { Variables?: unknown } | undefined)?.Variables ?? {};
    functionEnvironments[handler] = resolver.resolve(variables) as Record<string, string>;
    functionTimeoutsMs[handler] = Number(props.Timeout ?? 3) * 1000;
  }

  const machines = ofType("AWS::StepFunctions::StateMachine");
  const [machine] = machines;
  if (machines.length !== 1 || machine === undefined) {
    throw new Error(`expected one state machine in the template, found ${machines.length}`);
  }
  const [machineId, machineResource] = machine;
  const definition = JSON.parse(
    resolver.resolve(machineResource.Properties?.DefinitionString) as string,
  ) as AslDefinition;

  const taskHandlers: Record<string, string> = {};
  forEachState(definition, (name, state) => {
    if (state.Type !== "Task") return;
    const handler = handlerByArn.get(String(state.Resource));
    if (handler === undefined) {
      throw new Error(`Task ${name}: ${String(state.Resource)} is not a function of the stack`);
    }
    taskHandlers[name] = handler;
  });

  const documents: Record<string, HostDocumentContent> = {};
  for (const [, resource] of ofType("AWS::SSM::Document")) {
    const name = resolver.resolve(resource.Properties?.Name) as string;
    documents[name] = resolver.resolve(resource.Properties?.Content) as HostDocumentContent;
  }

  const tables = ofType("AWS::DynamoDB::Table");
  const [table] = tables;
  if (tables.length !== 1 || table === undefined) {
    throw new Error(`expected one table in the template, found ${tables.length}`);
  }

  return {
    definition,
    taskHandlers,
    documents,
    functionEnvironments,
    functionTimeoutsMs,
    tableProperties: resolver.resolve(table[1].Properties ?? {}) as Record<string, unknown>,
    stateMachineName: resolver.physicalName(machineId),
  };
}

/** Calls `visit` for every state, those of Map item processors and Parallel branches included. */
export function forEachState(
  definition: AslDefinition,
  visit: (name: string, state: AslState) => void,
): void {
  for (const [name, state] of Object.entries(definition.States)) {
    visit(name, state);
    const nested = [state.ItemProcessor, state.Iterator, ...((state.Branches as unknown[]) ?? [])];
    for (const child of nested) {
      if (child !== undefined) forEachState(child as AslDefinition, visit);
    }
  }
}

/** Resolves CloudFormation intrinsics of one template to placeholders. */
class TemplateResolver {
  constructor(
    private readonly template: CfnTemplate,
    private readonly stackName: string,
  ) {}

  /** A resolved copy of `value`. */
  resolve(value: unknown): unknown {
    if (Array.isArray(value)) return value.map((item) => this.resolve(item));
    if (typeof value !== "object" || value === null) return value;
    const node = value as Record<string, unknown>;
    const keys = Object.keys(node);
    const [key] = keys;
    if (keys.length === 1 && key !== undefined && (key === "Ref" || key.startsWith("Fn::"))) {
      return this.intrinsic(key, node[key]);
    }
    return Object.fromEntries(keys.map((k) => [k, this.resolve(node[k])]));
  }

  /** The placeholder ARN of resource `logicalId`. */
  arn(logicalId: string): string {
    const type = this.resource(logicalId).Type;
    const name = this.physicalName(logicalId);
    const regional = (service: string) =>
      `arn:aws:${service}:${PLACEHOLDER_REGION}:${PLACEHOLDER_ACCOUNT}`;
    switch (type) {
      case "AWS::Lambda::Function":
        return `${regional("lambda")}:function:${name}`;
      case "AWS::DynamoDB::Table":
        return `${regional("dynamodb")}:table/${name}`;
      case "AWS::S3::Bucket":
        return `arn:aws:s3:::${name}`;
      case "AWS::StepFunctions::StateMachine":
        return `${regional("states")}:stateMachine:${name}`;
      case "AWS::SQS::Queue":
        return `${regional("sqs")}:${name}`;
      case "AWS::Logs::LogGroup":
        return `${regional("logs")}:log-group:${name}:*`;
      case "AWS::IAM::Role":
        return `arn:aws:iam::${PLACEHOLDER_ACCOUNT}:role/${name}`;
      case "AWS::IAM::ManagedPolicy":
        return `arn:aws:iam::${PLACEHOLDER_ACCOUNT}:policy/${name}`;
      case "AWS::SSM::Document":
        return `${regional("ssm")}:document/${name}`;
      default:
        return `${regional(type.split("::")[1]?.toLowerCase() ?? "unknown")}:${name}`;
    }
  }

  /** The placeholder physical name of resource `logicalId`: its explicit name, else its logical id. */
  physicalName(logicalId: string): string {
    const resource = this.resource(logicalId);
    const props = resource.Properties ?? {};
    const explicit: Record<string, string> = {
      "AWS::Lambda::Function": "FunctionName",
      "AWS::DynamoDB::Table": "TableName",
      "AWS::S3::Bucket": "BucketName",
      "AWS::StepFunctions::StateMachine": "StateMachineName",
      "AWS::SQS::Queue": "QueueName",
      "AWS::Logs::LogGroup": "LogGroupName",
      "AWS::IAM::Role": "RoleName",
      "AWS::IAM::ManagedPolicy": "ManagedPolicyName",
      "AWS::SSM::Document": "Name",
    };
    const property = explicit[resource.Type];
    if (property !== undefined && props[property] !== undefined) {
      return String(this.resolve(props[property]));
    }
    return resource.Type === "AWS::S3::Bucket" ? logicalId.toLowerCase().slice(0, 63) : logicalId;
  }

  private resource(logicalId: string): CfnResource {
    const resource = this.template.Resources[logicalId];
    if (resource === undefined) throw new Error(`no resource ${logicalId} in the template`);
    return resource;
  }

  private ref(name: string): string {
    switch (name) {
      case "AWS::Partition":
        return "aws";
      case "AWS::Region":
        return PLACEHOLDER_REGION;
      case "AWS::AccountId":
        return PLACEHOLDER_ACCOUNT;
      case "AWS::URLSuffix":
        return "amazonaws.com";
      case "AWS::StackName":
        return this.stackName;
      case "AWS::StackId":
        return `arn:aws:cloudformation:${PLACEHOLDER_REGION}:${PLACEHOLDER_ACCOUNT}:stack/${this.stackName}/00000000-0000-0000-0000-000000000000`;
    }
    const type = this.resource(name).Type;
    // Resources whose Ref is an ARN (or URL) rather than a name.
    if (
      type === "AWS::StepFunctions::StateMachine" ||
      type === "AWS::IAM::ManagedPolicy" ||
      type === "AWS::SQS::Queue"
    ) {
      return type === "AWS::SQS::Queue"
        ? `https://sqs.${PLACEHOLDER_REGION}.amazonaws.com/${PLACEHOLDER_ACCOUNT}/${this.physicalName(name)}`
        : this.arn(name);
    }
    return this.physicalName(name);
  }

  private getAtt(logicalId: string, attribute: string): string {
    if (attribute === "Arn") return this.arn(logicalId);
    if (attribute === "Name" || attribute.endsWith("Name")) return this.physicalName(logicalId);
    return `${logicalId}.${attribute}`;
  }

  private intrinsic(fn: string, args: unknown): unknown {
    switch (fn) {
      case "Ref":
        return this.ref(String(args));
      case "Fn::GetAtt": {
        const [logicalId, attribute] = Array.isArray(args) ? args : String(args).split(".");
        return this.getAtt(String(logicalId), String(attribute));
      }
      case "Fn::Join": {
        const [delimiter, parts] = args as [string, unknown[]];
        return (this.resolve(parts) as unknown[]).map(String).join(delimiter);
      }
      case "Fn::Split": {
        const [delimiter, source] = args as [string, unknown];
        return String(this.resolve(source)).split(delimiter);
      }
      case "Fn::Select": {
        const [index, list] = args as [number | string, unknown];
        return (this.resolve(list) as unknown[])[Number(index)];
      }
      case "Fn::Sub": {
        const [text, variables] = (Array.isArray(args) ? args : [args, {}]) as [
          string,
          Record<string, unknown>,
        ];
        return text.replace(/\$\{([^}!]+)\}/g, (_, name: string) => {
          if (name in variables) return String(this.resolve(variables[name]));
          const [logicalId, attribute] = name.split(".");
          return attribute === undefined
            ? this.ref(name)
            : this.getAtt(String(logicalId), attribute);
        });
      }
      default:
        throw new Error(`cannot resolve ${fn} in the template`);
    }
  }
}
