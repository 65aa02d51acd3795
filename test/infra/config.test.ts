import { RetentionDays } from "aws-cdk-lib/aws-logs";
import { RootConstruct } from "constructs";
import { describe, expect, it } from "vitest";
import { PROJECT_ROOT, readRolloutSettings } from "../../lib/config.js";

const settingsFrom = (context: Record<string, unknown>) => {
  const root = new RootConstruct();
  for (const [key, value] of Object.entries(context)) root.node.setContext(key, value);
  return readRolloutSettings(root.node);
};

describe("readRolloutSettings", () => {
  it("has the documented defaults", () => {
    expect(settingsFrom({})).toEqual({
      cleanupSchedule: "cron(0 2 * * ? *)",
      targetTagKey: "agent-rollout:managed",
      targetTagValue: "true",
      profilesDir: `${PROJECT_ROOT.replace(/\/$/, "")}/profiles`,
      logRetention: RetentionDays.THREE_MONTHS,
      inlinePollSeconds: 20,
      artifactDirs: [],
      cleanupOverdueNights: 3,
      hostStepConcurrency: 100,
      reserveHostStepConcurrency: false,
    });
  });

  it("reserves host-step concurrency only when hostStepConcurrency is set", () => {
    expect(settingsFrom({ hostStepConcurrency: "100" })).toMatchObject({
      hostStepConcurrency: 100,
      reserveHostStepConcurrency: true,
    });
  });

  it.each([
    [
      ["/srv/artifacts", "/opt/a.b"],
      ["/srv/artifacts", "/opt/a.b"],
    ],
    ["/srv/artifacts:/opt/x", ["/srv/artifacts", "/opt/x"]],
  ])("reads artifactDirs from a list or a ':'-separated string: %o", (value, dirs) => {
    expect(settingsFrom({ artifactDirs: value }).artifactDirs).toEqual(dirs);
  });

  it("parses numbers given as strings on the command line", () => {
    expect(settingsFrom({ logRetentionDays: "365", inlinePollSeconds: "0" })).toMatchObject({
      logRetention: RetentionDays.ONE_YEAR,
      inlinePollSeconds: 0,
    });
  });

  it("keeps an absolute profiles directory", () => {
    expect(settingsFrom({ profilesDir: "/srv/profiles" }).profilesDir).toBe("/srv/profiles");
  });

  it.each([
    [{ logRetentionDays: 42 }, /logRetentionDays: 42 is not a CloudWatch Logs retention/],
    [{ logRetentionDays: "ninety" }, /logRetentionDays: "ninety" is not a whole number/],
    [{ inlinePollSeconds: 600 }, /inlinePollSeconds: must be at most 120/],
    [{ hostStepConcurrency: 0 }, /hostStepConcurrency: must be 1 to 1000, got 0/],
    [{ hostStepConcurrency: "1001" }, /hostStepConcurrency: must be 1 to 1000, got 1001/],
    [{ cleanupSchedule: "02:00 daily" }, /cleanupSchedule: "02:00 daily" must match/],
    [{ targetTagKey: "bad key!" }, /targetTagKey/],
    [{ targetTagValue: "" }, /targetTagValue/],
    [
      { artifactDirs: ["srv/artifacts"] },
      /artifactDirs: "srv\/artifacts" is not an absolute directory/,
    ],
    [{ artifactDirs: ["/srv/../etc"] }, /artifactDirs: "\/srv\/\.\.\/etc" is not an absolute/],
    [{ artifactDirs: "/srv/artifacts/" }, /artifactDirs: "\/srv\/artifacts\/" is not an absolute/],
  ])("refuses %o", (context, message) => {
    expect(() => settingsFrom(context)).toThrow(message);
  });
});
