/**
 * Builds the agent-rollout CDK app. `bin/agent-rollout.ts` (the CLI's entry), local
 * mode and the tests all go through here, so they synthesize the same stack from the
 * same settings.
 *
 * @module
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { App, Validations } from "aws-cdk-lib";
import { AwsSolutionsChecks } from "cdk-nag";
import { AgentRolloutStack } from "./agent-rollout-stack.js";
import { PROJECT_ROOT, readRolloutSettings } from "./config.js";
import { TemplateSizeCheck } from "./template-size-check.js";

/** Name of the one stack. */
export const STACK_NAME = "AgentRollout";

/** Options of {@link buildRolloutApp}. */
export interface BuildRolloutAppOptions {
  /** Register cdk-nag's AwsSolutions checks (they run at synth). @default true */
  readonly checks?: boolean;
}

/**
 * Adds the stack to `app`, configured from the app's context (read once, here), and
 * registers the cdk-nag AwsSolutions checks: synth fails on any finding that is not
 * acknowledged with a reason, and on a template larger than CloudFormation accepts
 * ({@link TemplateSizeCheck}).
 */
export function buildRolloutApp(app: App, options: BuildRolloutAppOptions = {}): AgentRolloutStack {
  const settings = readRolloutSettings(app.node);
  const stack = new AgentRolloutStack(app, STACK_NAME, {
    description:
      "agent-rollout: zero-downtime rolling upgrades of agent daemons (Step Functions, Lambda, SSM)",
    cleanupSchedule: settings.cleanupSchedule,
    targetTagKey: settings.targetTagKey,
    targetTagValue: settings.targetTagValue,
    profilesDir: settings.profilesDir,
    logRetention: settings.logRetention,
    inlinePollSeconds: settings.inlinePollSeconds,
    alarmTopicArn: settings.alarmTopicArn,
    cleanupOverdueNights: settings.cleanupOverdueNights,
    hostStepConcurrency: settings.hostStepConcurrency,
    reserveHostStepConcurrency: settings.reserveHostStepConcurrency,
    artifactDirs: settings.artifactDirs,
  });
  // Always: a template CloudFormation refuses must not synthesize (nor run locally).
  Validations.of(app).addPlugins(new TemplateSizeCheck());
  if (options.checks ?? true) {
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  }
  return stack;
}

/** Options of {@link newRolloutApp}. */
export interface NewRolloutAppOptions {
  /** Context on top of `cdk.json`'s (as `-c key=value` would give). @default - none */
  readonly context?: Record<string, unknown>;
  /** Cloud assembly directory. @default - a fresh temporary directory */
  readonly outdir?: string;
  /**
   * Run CDK's built-in CloudFormation template validation at synth (about 5 s); the
   * CLI runs it, local mode skips it.
   * @default true
   */
  readonly builtinCloudFormationValidation?: boolean;
}

/**
 * A new `App` outside the CDK CLI (tests, local mode) with the context the CLI would
 * pass: `cdk.json`'s feature flags and knobs, then `options.context`.
 */
export function newRolloutApp(options: NewRolloutAppOptions = {}): App {
  return new App({
    context: { ...cdkJsonContext(), ...options.context },
    outdir: options.outdir,
    builtinCloudFormationValidation: options.builtinCloudFormationValidation ?? true,
  });
}

function cdkJsonContext(): Record<string, unknown> {
  const cdkJson = JSON.parse(readFileSync(join(PROJECT_ROOT, "cdk.json"), "utf8")) as {
    context?: Record<string, unknown>;
  };
  return cdkJson.context ?? {};
}
