/**
 * cfn-lint on the synthesized template: no error and no warning beyond those
 * `.cfnlintrc` ignores, each with its reason (docs/aws-fidelity.md). cfn-lint is a
 * Python tool that `scripts/setup.sh test` installs; without it this test fails.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildRolloutApp, newRolloutApp } from "../../lib/rollout-app.js";

const repoRoot = resolve(fileURLToPath(new URL("../..", import.meta.url)));

interface Match {
  readonly Rule: { readonly Id: string };
  readonly Level: string;
  readonly Message: string;
}

let outdir: string;
let template: string;

beforeAll(() => {
  // Synthesized once as `cdk synth` does it, bundling included: the template cfn-lint
  // checks is the one `cdk deploy` uploads, to the byte (its size has a quota, E1002).
  outdir = mkdtempSync(join(tmpdir(), "agent-rollout-cfn-lint-"));
  const app = newRolloutApp({ outdir });
  const stack = buildRolloutApp(app, { checks: false });
  app.synth();
  template = join(outdir, stack.templateFile);
});

afterAll(() => {
  rmSync(outdir, { recursive: true, force: true });
});

describe("cfn-lint", () => {
  it("finds nothing in the synthesized template", () => {
    // Act: from the project root, so that .cfnlintrc applies.
    const run = spawnSync("cfn-lint", ["--format", "json", "--", template], {
      cwd: repoRoot,
      encoding: "utf8",
      timeout: 120_000,
    });
    if (run.error !== undefined) {
      throw new Error(
        `cfn-lint could not run (${run.error.message}): install it with "pip install cfn-lint" (scripts/setup.sh test does)`,
      );
    }
    const matches = JSON.parse(run.stdout || "[]") as Match[];

    // Assess
    expect(matches.map((m) => `${m.Level} ${m.Rule.Id}: ${m.Message}`)).toEqual([]);
    expect(run.status, run.stderr).toBe(0);
  }, 120_000);
});
