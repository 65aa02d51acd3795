/**
 * Helpers for acknowledging cdk-nag findings precisely.
 *
 * @module
 */
import { Stack, Validations } from "aws-cdk-lib";
import type { Policy } from "aws-cdk-lib/aws-iam";
import type { IConstruct } from "constructs";

/**
 * Acknowledges `AwsSolutions-IAM5` for exactly these wildcard resources on `scope`
 * (and what it contains), with one reason. cdk-nag names each finding after the
 * resource as the template spells it (`Resource::<Bucket1234.Arn>/commands/*`), so the
 * ids are derived from the same tokens the policy uses: a changed resource is then a
 * new, unacknowledged finding rather than a silently covered one.
 */
export function acknowledgeWildcardResources(
  scope: IConstruct,
  resources: readonly string[],
  reason: string,
): void {
  const stack = Stack.of(scope);
  for (const resource of resources) {
    Validations.of(scope).acknowledge({
      id: `AwsSolutions-IAM5[Resource::${flatten(stack.resolve(resource))}]`,
      reason,
    });
  }
}

/** The flat spelling cdk-nag gives a resolved CloudFormation value. */
function flatten(value: unknown): string {
  if (typeof value === "string") return value.replace(/\$\{/g, "<").replace(/\}/g, ">");
  if (typeof value === "object" && value !== null) {
    const node = value as Record<string, unknown>;
    const join = node["Fn::Join"];
    if (Array.isArray(join)) {
      const [delimiter, items] = join as [string, unknown[]];
      return items.map(flatten).join(delimiter);
    }
    const getAtt = node["Fn::GetAtt"];
    if (Array.isArray(getAtt)) return `<${flatten(getAtt[0])}.${flatten(getAtt[1])}>`;
    if ("Ref" in node) return `<${flatten(node.Ref)}>`;
    if ("Fn::Sub" in node) return flatten(node["Fn::Sub"]);
  }
  return JSON.stringify(value);
}

/**
 * Acknowledges `AwsSolutions-IAM5` for every wildcard resource of a policy that CDK
 * writes on its own (such as the Distributed Map policy of a state machine), whose
 * resources are built inside CDK and cannot be named from outside. Call it once the
 * policy is complete.
 */
export function acknowledgeGeneratedPolicyWildcards(policy: Policy, reason: string): void {
  const document = Stack.of(policy).resolve(policy.document) as {
    Statement?: { Resource?: unknown }[];
  };
  const resources = (document.Statement ?? []).flatMap((statement) =>
    Array.isArray(statement.Resource) ? statement.Resource : [statement.Resource],
  );
  for (const resource of resources) {
    const flat = flatten(resource);
    if (!flat.includes("*")) continue;
    Validations.of(policy).acknowledge({ id: `AwsSolutions-IAM5[Resource::${flat}]`, reason });
  }
}
