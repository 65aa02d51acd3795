/**
 * Profiles are not limited by document size: one set of documents per profile, each
 * carrying its own profile only, under SSM's limit. They are limited by the template:
 * each profile's five documents carry the host scripts, about 220 KB, and
 * CloudFormation takes at most 1,000,000 bytes. A stack with 4 ordinary profiles
 * synthesizes within every quota checked here; one with 5 is refused at synth, naming
 * the limit (lib/template-size-check.ts), as `cdk deploy` would refuse it.
 */
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Template } from "aws-cdk-lib/assertions";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AgentRolloutStack } from "../../lib/agent-rollout-stack.js";
import { projectPath } from "../../lib/config.js";
import {
  PARAMETER_VALUES_RESERVE_BYTES,
  SSM_DOCUMENT_MAX_BYTES,
} from "../../lib/host-documents/index.js";
import {
  buildTemplate,
  flat,
  policies,
  roleOf,
  type Statement,
  statementsOfRole,
} from "./helpers.js";

/** The most ordinary profiles (the demo profile's size) that fit the template. */
const PROFILE_COUNT = 4;
/** CloudFormation's quota of resources per stack. */
const CFN_MAX_RESOURCES = 500;
/** IAM's quota on the inline policies of one role, all together (characters, whitespace excluded). */
const IAM_ROLE_INLINE_POLICIES_MAX_CHARS = 10_240;
/** IAM's quota on one managed policy (characters, whitespace excluded). */
const IAM_MANAGED_POLICY_MAX_CHARS = 6_144;
/** IAM's default quota of managed policies attached to a role. */
const IAM_MANAGED_POLICIES_PER_ROLE = 10;

/** A directory of `count` profiles, each a copy of the demo profile. */
function profilesDir(count: number): { dir: string; names: string[] } {
  const dir = mkdtempSync(join(tmpdir(), "ar-many-profiles-"));
  const names = Array.from({ length: count }, (_, i) => `agent-${String(i).padStart(2, "0")}`);
  for (const name of names) {
    copyFileSync(projectPath("profiles/demo.profile"), join(dir, `${name}.profile`));
  }
  return { dir, names };
}

describe(`a stack with ${PROFILE_COUNT + 1} profiles`, () => {
  it("is refused at synth: its template is larger than CloudFormation accepts", () => {
    const { dir } = profilesDir(PROFILE_COUNT + 1);
    try {
      expect(() => buildTemplate({ profilesDir: dir })).toThrow(
        /the template is \d+ bytes; CloudFormation accepts at most 1000000/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe(`a stack with ${PROFILE_COUNT} profiles`, () => {
  let dir: string;
  let names: string[];
  let stack: AgentRolloutStack;
  let template: Template;

  beforeAll(() => {
    ({ dir, names } = profilesDir(PROFILE_COUNT));
    ({ stack, template } = buildTemplate({ profilesDir: dir }));
  });

  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it("deploys five documents per profile, each under SSM's limit and carrying its profile only", () => {
    // Act
    const documents = Object.values(template.findResources("AWS::SSM::Document"));
    const limit = SSM_DOCUMENT_MAX_BYTES - PARAMETER_VALUES_RESERVE_BYTES;
    const sizes = documents.map((d) => Buffer.byteLength(JSON.stringify(d.Properties.Content)));

    // Assess
    expect(readFileSync(projectPath("profiles/demo.profile")).length).toBeGreaterThan(1000);
    expect(documents).toHaveLength(5 * PROFILE_COUNT);
    console.info(
      `largest of ${documents.length} documents: ${Math.max(...sizes)} bytes (limit ${limit})`,
    );
    for (const size of sizes) expect(size).toBeLessThan(limit);
    for (const d of documents) {
      const profile = String(d.Properties.Name).replace(/^AgentRollout-[A-Za-z]+-/, "");
      expect(names).toContain(profile);
      expect(d.Properties.Content.parameters.profile.allowedValues).toEqual([profile]);
      // Deployed as one string (deployedContent): the script's lines.
      const [script] = d.Properties.Content.mainSteps[0].inputs.runCommand as [string];
      const shipped = script.split("\n").filter((l) => l.startsWith('cat > "$ar_dir/profiles/'));
      expect(shipped).toHaveLength(1);
      expect(shipped[0]).toContain(`/profiles/${profile}.profile"`);
    }
  });

  it("stays under CloudFormation's 500 resources", () => {
    const count = Object.keys(template.toJSON().Resources).length;
    console.info(`resources with ${PROFILE_COUNT} profiles: ${count} (limit ${CFN_MAX_RESOURCES})`);
    expect(count).toBeLessThan(CFN_MAX_RESOURCES);
  });

  it("lets the functions send every profile's documents and no other, within IAM's policy size", () => {
    for (const [handler, steps] of [
      ["host-step", ["Preflight", "Stage", "Switch", "Rollback"]],
      ["nightly-cleanup", ["Cleanup"]],
    ] as const) {
      const statements = statementsOfRole(template, roleOf(stack, handler));
      const documentArns = statements
        .filter((s) => JSON.stringify(s.Action).includes("ssm:SendCommand"))
        .flatMap((s) => (Array.isArray(s.Resource) ? s.Resource : [s.Resource]).map(flat))
        .filter((arn) => arn.includes(":document/"));
      expect(documentArns.map((arn) => arn.replace(/^.*:document\//, "")).sort()).toEqual(
        names.flatMap((p) => steps.map((step) => `AgentRollout-${step}-${p}`)).sort(),
      );
      const size = (statements: readonly Statement[]) =>
        JSON.stringify(
          statements.map((s) => ({ ...s, Resource: [s.Resource].flat().map(flat) })),
        ).replace(/\s/g, "").length;
      const ofRole = policies(template).filter((p) => p.roles.includes(roleOf(stack, handler)));
      const inline = ofRole.filter((p) => p.type === "AWS::IAM::Policy");
      const managed = ofRole.filter((p) => p.type === "AWS::IAM::ManagedPolicy");
      const inlineChars = size(inline.flatMap((p) => p.statements));
      console.info(
        `${handler}: inline policies ${inlineChars} characters (limit ${IAM_ROLE_INLINE_POLICIES_MAX_CHARS}), managed ${managed.map((p) => size(p.statements)).join(", ")} (limit ${IAM_MANAGED_POLICY_MAX_CHARS} each)`,
      );
      expect(inlineChars, handler).toBeLessThan(IAM_ROLE_INLINE_POLICIES_MAX_CHARS / 2);
      for (const p of managed)
        expect(size(p.statements)).toBeLessThan(IAM_MANAGED_POLICY_MAX_CHARS);
      expect(managed.length).toBeLessThanOrEqual(IAM_MANAGED_POLICIES_PER_ROLE);
    }
  });
});
