/**
 * Builds the stack for template assertions (no bundling, no CDK built-in template
 * validation, no cdk-nag: each of those has its own test) and reads policies back.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { CfnElement } from "aws-cdk-lib";
import { Template } from "aws-cdk-lib/assertions";
import type { IConstruct } from "constructs";
import type { AgentRolloutStack } from "../../lib/agent-rollout-stack.js";
import { buildRolloutApp, newRolloutApp } from "../../lib/rollout-app.js";
import type { HandlerName } from "../../lib/rollout-function.js";

/** Context that skips asset bundling (esbuild), as local mode does. */
export const NO_BUNDLING = { "aws:cdk:bundling-stacks": [] };

/** The stack and its template, built with `context` on top of cdk.json's. */
export function buildTemplate(context: Record<string, unknown> = {}): {
  stack: AgentRolloutStack;
  template: Template;
} {
  const outdir = mkdtempSync(join(tmpdir(), "agent-rollout-test-"));
  try {
    const app = newRolloutApp({
      outdir,
      context: { ...NO_BUNDLING, ...context },
      builtinCloudFormationValidation: false,
    });
    const stack = buildRolloutApp(app, { checks: false });
    return { stack, template: Template.fromStack(stack) };
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}

/** A CloudFormation value flattened to text: `Fn::Join` joined, `Ref X` → `<X>`, `GetAtt X.Y` → `<X.Y>`. */
export function flat(value: unknown): string {
  if (typeof value === "string") return value;
  if (typeof value === "object" && value !== null) {
    const node = value as Record<string, unknown>;
    if (Array.isArray(node["Fn::Join"])) {
      const [delimiter, parts] = node["Fn::Join"] as [string, unknown[]];
      return parts.map(flat).join(delimiter);
    }
    if ("Ref" in node) return `<${String(node.Ref)}>`;
    if (Array.isArray(node["Fn::GetAtt"])) return `<${(node["Fn::GetAtt"] as string[]).join(".")}>`;
  }
  return JSON.stringify(value);
}

/** An IAM statement as found in a template. */
export interface Statement {
  readonly Effect: string;
  readonly Action: string | string[];
  readonly Resource: unknown;
  readonly Condition?: Record<string, unknown>;
}

/** A policy of the template: its logical id, the roles it is attached to, its statements. */
export interface PolicyEntry {
  readonly logicalId: string;
  readonly type: string;
  readonly roles: string[];
  readonly statements: Statement[];
}

/** Every `AWS::IAM::Policy` and `AWS::IAM::ManagedPolicy` of the template. */
export function policies(template: Template): PolicyEntry[] {
  const entries: PolicyEntry[] = [];
  for (const type of ["AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"]) {
    for (const [logicalId, resource] of Object.entries(template.findResources(type))) {
      const props = resource.Properties as {
        PolicyDocument: { Statement: Statement[] };
        Roles?: { Ref: string }[];
      };
      entries.push({
        logicalId,
        type,
        roles: (props.Roles ?? []).map((role) => role.Ref),
        statements: props.PolicyDocument.Statement,
      });
    }
  }
  return entries;
}

/** `value` as an array. */
export function list<T>(value: T | T[]): T[] {
  return Array.isArray(value) ? value : [value];
}

/** Logical id of a construct's CloudFormation resource. */
export function logicalIdOf(stack: AgentRolloutStack, construct: IConstruct): string {
  return stack.resolve((construct.node.defaultChild as CfnElement).logicalId) as string;
}

/** Logical id of the execution role of function `handler`. */
export function roleOf(stack: AgentRolloutStack, handler: HandlerName): string {
  return logicalIdOf(stack, stack.functions[handler].role);
}

/** Statements of every policy attached to role `roleId`. */
export function statementsOfRole(template: Template, roleId: string): Statement[] {
  return policies(template)
    .filter((policy) => policy.roles.includes(roleId))
    .flatMap((policy) => policy.statements);
}

/** Actions of `statements` that start with `prefix`, sorted. */
export function actionsWithPrefix(statements: Statement[], prefix: string): string[] {
  return [
    ...new Set(statements.flatMap((s) => list(s.Action)).filter((a) => a.startsWith(prefix))),
  ].sort();
}
