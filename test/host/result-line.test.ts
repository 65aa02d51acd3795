/**
 * The result contract of `host/scripts/lib/result.sh` (docs/contracts.md, "Host
 * scripts"): stdout is the integrity line `result-sha256 <hex>` then the JSON result
 * line, last, whatever the path that prints it (ar_emit, ar_fail, the exit trap).
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { INLINE_STDOUT_LIMIT } from "../../lambdas/common/command-output.js";

const LIB_DIR = fileURLToPath(new URL("../../host/scripts/lib/", import.meta.url));

const workDir = mkdtempSync(join(tmpdir(), "ar-result-line-"));
afterAll(() => rmSync(workDir, { recursive: true, force: true }));

/** Runs a step script made of `body` after sourcing result.sh and common.sh. */
function run(body: string): { code: number; stdout: string } {
  const script = join(workDir, "step.sh");
  writeFileSync(
    script,
    `set -euo pipefail\nsource "${LIB_DIR}result.sh"\nsource "${LIB_DIR}common.sh"\n${body}\n`,
  );
  const out = spawnSync("bash", [script], {
    encoding: "utf8",
    maxBuffer: 16 * 1024 * 1024,
    env: { ...process.env, TMPDIR: workDir },
  });
  return { code: out.status ?? -1, stdout: out.stdout };
}

const sha256 = (text: string) => createHash("sha256").update(text, "utf8").digest("hex");

/** Splits stdout into its two lines, failing on anything else. */
function lines(stdout: string): { integrity: string; line: string } {
  expect(stdout.endsWith("\n")).toBe(true);
  const parts = stdout.slice(0, -1).split("\n");
  expect(parts).toHaveLength(2);
  return { integrity: parts[0] ?? "", line: parts[1] ?? "" };
}

describe("the result line and its integrity line", () => {
  it("prints the sha256 of a result line longer than SSM's inline stdout, before it", () => {
    // Prepare: a line past 24,000 characters, with escapes and non-ASCII text
    const snippet = `ar_init stage; ar_out_str note "$(printf 'jobé-%.0s' {1..5000})"; ar_out_str quoted 'a "b" \\ c'; ar_out_num count 7; ar_emit STAGED`;

    // Act
    const { code, stdout } = run(snippet);

    // Assess
    expect(code).toBe(0);
    const { integrity, line } = lines(stdout);
    expect(line.length).toBeGreaterThan(INLINE_STDOUT_LIMIT);
    expect(JSON.parse(line)).toMatchObject({
      step: "stage",
      status: "STAGED",
      quoted: 'a "b" \\ c',
      count: 7,
    });
    expect(integrity).toBe(`result-sha256 ${sha256(line)}`);
    expect(stdout.indexOf(integrity) + integrity.length).toBeLessThan(INLINE_STDOUT_LIMIT);
  });

  it("prints it before a FAILED line from ar_fail", () => {
    // Act
    const { code, stdout } = run(`ar_init switch; ar_fail 2 'invalid "profile"'`);

    // Assess
    expect(code).toBe(2);
    const { integrity, line } = lines(stdout);
    expect(JSON.parse(line)).toEqual({
      step: "switch",
      status: "FAILED",
      error: 'invalid "profile"',
    });
    expect(integrity).toBe(`result-sha256 ${sha256(line)}`);
  });

  it("prints it before the FAILED line of the exit trap", () => {
    // Act
    const { code, stdout } = run("ar_init cleanup; false");

    // Assess
    expect(code).toBe(1);
    const { integrity, line } = lines(stdout);
    expect(JSON.parse(line)).toMatchObject({ step: "cleanup", status: "FAILED" });
    expect(integrity).toBe(`result-sha256 ${sha256(line)}`);
  });
});
