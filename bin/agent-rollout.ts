/**
 * The agent-rollout CDK app: one stack, `AgentRollout`, checked by cdk-nag's
 * AwsSolutions rules at synth.
 *
 * Context knobs (`cdk synth -c key=value` or `cdk.json`), read once by
 * `readRolloutSettings` in lib/config.ts, which documents them:
 * `cleanupSchedule` (`cron(0 2 * * ? *)`), `targetTagKey` (`agent-rollout:managed`),
 * `targetTagValue` (`true`), `profilesDir` (`profiles`), `logRetentionDays` (`90`),
 * `inlinePollSeconds` (`20`), `hostStepConcurrency` (`100`).
 *
 * @module
 */
import { App } from "aws-cdk-lib";
import { buildRolloutApp } from "../lib/rollout-app.js";

buildRolloutApp(new App());
