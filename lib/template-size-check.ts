/**
 * A synth-time check that the synthesized templates fit CloudFormation's quota, so
 * that `cdk synth` and local mode refuse what `cdk deploy` would be refused.
 *
 * @module
 */
import { statSync } from "node:fs";
import type {
  IPolicyValidationContextBeta1,
  IPolicyValidationPluginBeta1,
  PolicyValidationPluginReportBeta1,
} from "aws-cdk-lib";

/**
 * CloudFormation's quota on a template uploaded to S3, as `cdk deploy` does ("Template
 * body size in an Amazon S3 object: 1 MB", counted as 1,000,000 bytes).
 */
export const CFN_TEMPLATE_MAX_BYTES = 1_000_000;

/** Refuses, at synth, a template larger than {@link CFN_TEMPLATE_MAX_BYTES}. */
export class TemplateSizeCheck implements IPolicyValidationPluginBeta1 {
  readonly name = "agent-rollout template size";

  validate(context: IPolicyValidationContextBeta1): PolicyValidationPluginReportBeta1 {
    const violations = context.templatePaths.flatMap((templatePath) => {
      const bytes = statSync(templatePath).size;
      if (bytes <= CFN_TEMPLATE_MAX_BYTES) return [];
      return [
        {
          ruleName: "CloudFormationTemplateSize",
          description: `the template is ${bytes} bytes; CloudFormation accepts at most ${CFN_TEMPLATE_MAX_BYTES}`,
          fix: "deploy fewer profiles: each adds its five command documents to the template (profilesDir)",
          violatingResources: [{ resourceLogicalId: "(template)", locations: [], templatePath }],
        },
      ];
    });
    return { success: violations.length === 0, violations };
  }
}
