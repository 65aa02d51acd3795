import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Validations } from "aws-cdk-lib";
import { Annotations, Match } from "aws-cdk-lib/assertions";
import { Policy, PolicyStatement } from "aws-cdk-lib/aws-iam";
import { CDK_APP_MODE_CONTEXT, VALIDATION_REPORT_FILE } from "aws-cdk-lib/cx-api";
import { afterEach, describe, expect, it } from "vitest";
import type { AgentRolloutStack } from "../../lib/agent-rollout-stack.js";
import { buildRolloutApp, newRolloutApp } from "../../lib/rollout-app.js";
import { NO_BUNDLING } from "./helpers.js";

const outdirs: string[] = [];
afterEach(() => {
  for (const dir of outdirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** The app as `bin/agent-rollout.ts` builds it (cdk-nag checks on), in a fresh outdir. */
function appWithChecks(tamper?: (stack: AgentRolloutStack) => void) {
  const outdir = mkdtempSync(join(tmpdir(), "agent-rollout-nag-"));
  outdirs.push(outdir);
  const app = newRolloutApp({
    outdir,
    // In-memory mode: a failed validation throws from synth() with the report.
    context: { ...NO_BUNDLING, [CDK_APP_MODE_CONTEXT]: "inmemory" },
    // CDK's own template rules are not cdk-nag's; they only warn and take seconds.
    builtinCloudFormationValidation: false,
  });
  const stack = buildRolloutApp(app);
  tamper?.(stack);
  return { app, stack, outdir };
}

interface ValidationReport {
  pluginReports: { pluginName: string; violations: unknown[] }[];
}

describe("cdk-nag AwsSolutions", () => {
  it("reports no finding that is not acknowledged", () => {
    // Prepare
    const { app, stack, outdir } = appWithChecks();

    // Act
    app.synth();
    const report = JSON.parse(
      readFileSync(join(outdir, VALIDATION_REPORT_FILE), "utf8"),
    ) as ValidationReport;

    // Assess
    expect(report.pluginReports.flatMap((r) => r.violations)).toEqual([]);
    expect(Annotations.fromStack(stack).findError("*", Match.anyValue())).toEqual([]);
  });

  it("gives every acknowledgment a reason", () => {
    // Prepare
    const { app } = appWithChecks();

    // Act
    const acknowledged = app.node
      .findAll()
      .flatMap((construct) =>
        construct.node.metadata
          .filter((entry) => entry.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
          .flatMap((entry) => Object.entries(entry.data as Record<string, string>)),
      );

    // Assess
    expect(acknowledged.length).toBeGreaterThan(0);
    for (const [id, reason] of acknowledged) {
      expect(id).toMatch(/AwsSolutions-[A-Z]+\d+/);
      expect(reason.length, id).toBeGreaterThanOrEqual(60);
    }
  });

  it("fails the synth on a finding nobody acknowledged", () => {
    // Prepare: a wildcard grant added behind the stack's back.
    const { app } = appWithChecks((stack) => {
      new Policy(stack, "UnreviewedPolicy", {
        roles: [stack.functions["load-wave"].role],
        statements: [new PolicyStatement({ actions: ["s3:GetObject"], resources: ["*"] })],
      });
    });

    // Act / Assess
    expect(() => app.synth()).toThrow(/UnreviewedPolicy[\s\S]*AwsSolutions-IAM5\[Resource::\*\]/);
  });
});
