/**
 * Synthesizes the stack without AWS and without bundling, and extracts what local mode
 * needs to run the very same state machine in process: the plain ASL, which handler
 * serves each Task, the documents, and each function's environment, with their
 * CloudFormation intrinsics resolved to placeholders (`cfn-intrinsics.ts`).
 *
 * @module
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { HostDocumentContent } from "../lib/host-command-documents.js";
import { buildRolloutApp, newRolloutApp } from "../lib/rollout-app.js";
import { HANDLER_METADATA_KEY } from "../lib/rollout-function.js";
import { type CfnTemplate, TemplateResolver } from "./cfn-intrinsics.js";

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
function extractRollout(template: CfnTemplate, stackName: string): SynthesizedRollout {
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
    const handler = handlerByArn.get(taskFunctionArn(state));
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

/** Resource of a Lambda task that waits for a task token (the approval gate). */
export const WAIT_FOR_TASK_TOKEN_RESOURCE = "arn:aws:states:::lambda:invoke.waitForTaskToken";

/**
 * The function a Task invokes: its Resource, or for `.waitForTaskToken` the
 * `FunctionName` of its Parameters (the local runner unwraps its `Payload`).
 */
function taskFunctionArn(state: object): string {
  const task = state as { Resource?: unknown; Parameters?: unknown };
  if (task.Resource !== WAIT_FOR_TASK_TOKEN_RESOURCE) return String(task.Resource);
  const parameters = task.Parameters as { FunctionName?: unknown } | undefined;
  return String(parameters?.FunctionName);
}
