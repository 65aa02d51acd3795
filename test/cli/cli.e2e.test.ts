/**
 * The CLI end to end against local mode's kept work dir: the same commands an operator
 * runs against a stack, with the ledger store's client on the local DynamoDB endpoint.
 * One rollout of three hosts (the last one's new release fails its health check), then
 * watch, status, list, report (rendered in headless Chromium), cleanup and unlock.
 */
import { execFile } from "node:child_process";
import { existsSync, statSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DynamoLedgerStore } from "../../lambdas/common/ledger/index.js";
import { startLocalDynamo } from "../../local/dynamo.js";
import { createFleet } from "../../local/fleet.js";
import { stopFleetProcesses } from "../../local/processes.js";

const run = promisify(execFile);
const repoRoot = fileURLToPath(new URL("../../", import.meta.url));
const ROLLOUT = "r-e2e-1";
const HOSTS = ["mi-00000000000000001", "mi-00000000000000002", "mi-00000000000000003"] as const;

/** Runs `npx agent-rollout --local DIR ...` as an operator would (the package's bin). */
async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(
      "node",
      ["bin/agent-rollout-cli.mjs", "--local", workDir, ...args],
      { cwd: repoRoot, timeout: 90_000 },
    );
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, stdout: e.stdout ?? "", stderr: e.stderr ?? "" };
  }
}

/** Writes straight into the work dir's ledger while no CLI holds it. */
async function withLedger(fn: (store: DynamoLedgerStore) => Promise<void>): Promise<void> {
  const dynamo = await startLocalDynamo(join(workDir, "ledger"));
  const client = DynamoDBDocumentClient.from(
    new DynamoDBClient({
      endpoint: dynamo.endpoint,
      region: "us-east-1",
      credentials: { accessKeyId: "local", secretAccessKey: "local" },
    }),
  );
  try {
    await fn(new DynamoLedgerStore({ client, tableName: "agent-rollout-ledger" }));
  } finally {
    client.destroy();
    await dynamo.close();
  }
}

/** Chromium, as `.ci/run` and `scripts/setup.sh test` install it. */
function chromium(): string {
  const onPath = (process.env.PATH ?? "").split(":").map((dir) => join(dir, "chromium"));
  const candidates = [process.env.CHROMIUM, ...onPath, "/usr/bin/chromium-browser"];
  const found = candidates.find((c) => c !== undefined && existsSync(c));
  if (found === undefined) {
    throw new Error(
      "chromium is required by this test: apt-get install chromium (or set CHROMIUM)",
    );
  }
  return found;
}

let root: string;
let workDir: string;
let inputFile: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "agent-rollout-cli-e2e-"));
  workDir = join(root, "wd");
  const fleet = await createFleet(workDir, {
    hosts: 3,
    fromVersion: "1.0.0",
    versions: ["1.0.0", "2.0.0"],
    faults: [{ kind: "bad-release", hosts: [3] }],
  });
  // A kept fleet is at rest between runs; `start` brings its listeners up.
  await stopFleetProcesses(join(workDir, "fleet"));
  inputFile = join(root, "input.json");
  await writeFile(
    inputFile,
    JSON.stringify({
      targetVersion: "2.0.0",
      artifact: await fleet.artifact("2.0.0"),
      profile: "demo",
      hosts: { instanceIds: HOSTS },
      batchSize: 1,
      canary: 1,
      failureThreshold: 1,
      fleet: "local",
    }),
  );
}, 90_000);

afterAll(async () => {
  await stopFleetProcesses(join(workDir, "fleet"));
  await rm(root, { recursive: true, force: true });
});

describe("agent-rollout --local DIR", () => {
  it("refuses a bad execution input field by field, and starts nothing", async () => {
    const result = await cli(
      "start",
      "--input",
      inputFile,
      "--batch-size",
      "0",
      "--rollout-id",
      "r-bad",
    );
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(
      /^agent-rollout: invalid execution input \(nothing started\):\n {2}batchSize: /,
    );
    expect(result.stderr).not.toMatch(/\n\s+at /);
    expect(existsSync(join(workDir, "reports", "r-bad.json"))).toBe(false);
  }, 60_000);

  it("start runs the rollout to its end, printing progress and the summary", async () => {
    const result = await cli(
      "start",
      "--input",
      inputFile,
      "--rollout-id",
      ROLLOUT,
      "--jobs-per-host",
      "1",
    );
    expect(result.stderr).toBe("");
    // One host rolled back within the threshold: the rollout still did not succeed.
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(
      /^ +[\d.]+s {2}host-01 +wave 0 {2}done \(suspended \d+ ms, listener gap \d+ ms\)$/m,
    );
    expect(result.stdout).toMatch(/^ +[\d.]+s {2}host-03 +wave 1 {2}rolled back: RolledBack: /m);
    expect(result.stdout).toMatch(
      /^Jobs \(counted by the kit's workload driver\): \d+ submitted, \d+ completed, 0 lost/m,
    );
    expect(result.stdout).toMatch(new RegExp(`^Rollout ${ROLLOUT}: FAILED in `, "m"));
  }, 90_000);

  it("watch replays the finished rollout in progress lines and exits 1", async () => {
    const result = await cli("watch", ROLLOUT);
    expect(result.code).toBe(1);
    const lines = result.stdout.trimEnd().split("\n");
    expect(
      lines.slice(0, 3).map((l) => l.replace(/^ +[\d.]+s {2}/, "").replace(/ \(.*$|: .*$/, "")),
    ).toEqual(["host-01  wave 0  done", "host-02  wave 1  done", "host-03  wave 1  rolled back"]);
    expect(lines[3]).toMatch(
      new RegExp(
        `^Rollout ${ROLLOUT}: FAILED in [\\d.]+ s — HostsFailed: 1 of 3 hosts did not upgrade$`,
      ),
    );
  }, 60_000);

  it("status and list show every host and the rollout", async () => {
    const status = await cli("status");
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(new RegExp(`^Rollout ${ROLLOUT}: FAILED`));
    expect(status.stdout).toMatch(
      /^host-01 +mi-0+1 +0 +1\.0\.0 +2\.0\.0 +2\.0\.0 +done +\d+ +\d+ +1\.0\.0 on host \(cleanup pending\)/m,
    );
    expect(status.stdout).toMatch(/^host-02 +mi-0+2 +1 +1\.0\.0 +2\.0\.0 +2\.0\.0 +done /m);
    expect(status.stdout).toMatch(
      /^host-03 +mi-0+3 +1 +1\.0\.0 +1\.0\.0 +1\.0\.0 +rolled back .* none \(2\.0\.0 abandoned: on host, cleanup pending\) +RolledBack: /m,
    );
    expect(status.stdout).toMatch(/^Jobs: \d+ submitted/m);
    const list = await cli("list");
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(
      new RegExp(`^${ROLLOUT} +FAILED +local +2\\.0\\.0 +3 +2 +1 +\\S+Z +\\S+Z$`, "m"),
    );
    expect(list.stdout).not.toContain("r-bad");
  }, 60_000);

  it("report writes one self-contained HTML file that Chromium renders with every host", async () => {
    // Act
    const html = join(root, "report", "rollout.html");
    const result = await cli("report", ROLLOUT, "--html", html);

    // Assess: the file
    expect(result.code).toBe(0);
    const text = await readFile(html, "utf8");
    expect(text).not.toMatch(/<script|<link|https?:\/\/(?!www\.w3\.org\/2000\/svg)/);
    // Assess: rendered
    const browser = chromium();
    const profile = join(root, "chromium-profile");
    await mkdir(profile, { recursive: true });
    const flags = [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      `--user-data-dir=${profile}`,
    ];
    const png = join(root, "report.png");
    await run(
      browser,
      [...flags, `--screenshot=${png}`, "--window-size=1400,900", `file://${html}`],
      {
        timeout: 60_000,
      },
    );
    const image = await readFile(png);
    expect(image.subarray(1, 4).toString()).toBe("PNG");
    expect([image.readUInt32BE(16), image.readUInt32BE(20)]).toEqual([1400, 900]);
    // A blank 1400x900 page compresses to a few KB; the timeline and tables do not.
    expect(statSync(png).size).toBeGreaterThan(30_000);
    const { stdout: dom } = await run(browser, [...flags, "--dump-dom", `file://${html}`], {
      timeout: 60_000,
      maxBuffer: 10 * 1024 * 1024,
    });
    for (const host of HOSTS) {
      expect(dom).toContain(`<g data-host="${host}"`);
      expect(dom).toContain(`<tr data-host="${host}"`);
    }
    expect(dom).toMatch(
      new RegExp(`<g data-host="${HOSTS[2]}" data-status="ROLLED_BACK" class="host failed">`),
    );
    expect(dom).toMatch(/class="seg suspend"/);
    expect(dom).toMatch(/class="wave-label">wave 1</);
  }, 90_000);

  it("cleanup --now deletes the old releases no job needs, and status shows them cleaned", async () => {
    const result = await cli("cleanup", "--now");
    expect(result.code).toBe(0);
    // Two old releases, and the release host-03's rolled-back switch abandoned.
    expect(result.stdout).toMatch(/^Nightly cleanup: 3 pending snapshot\(s\) checked$/m);
    expect(result.stdout).toMatch(/^deleted +mi-0+1 .*releases\/1\.0\.0 /m);
    expect(result.stdout).toMatch(/^deleted +mi-0+2 .*releases\/1\.0\.0 /m);
    expect(result.stdout).toMatch(/^deleted +mi-0+3 .*releases\/2\.0\.0 /m);
    const status = await cli("status", ROLLOUT);
    expect(status.stdout).toMatch(/^host-01 .* 1\.0\.0 cleaned \(DELETED\)/m);
    expect(status.stdout).toMatch(/^host-03 .* none \(2\.0\.0 abandoned: cleaned\)/m);
  }, 60_000);

  it("unlock frees a lock or a host lease whose owner is not running, and refuses one whose owner runs", async () => {
    // Prepare: a lock left by a run that died, and one held by a live process.
    await withLedger(async (store) => {
      await store.acquireLock({
        fleet: "local",
        owner: "r-dead",
        now: Date.now(),
        ttlSeconds: 3600,
      });
      await store.acquireLock({
        fleet: "busy",
        owner: "r-live",
        now: Date.now(),
        ttlSeconds: 3600,
      });
      for (const [owner, fleet, host] of [
        ["r-dead", "local", HOSTS[0]],
        ["r-live", "busy", HOSTS[1]],
      ] as const) {
        await store.acquireLeases({ owner, fleet, hostIds: [host], now: Date.now() });
      }
    });
    await mkdir(join(workDir, "executions"), { recursive: true });
    await writeFile(join(workDir, "executions", "r-live.pid"), `${process.pid}\n`);

    // Act
    const freed = await cli("unlock", "local");
    const again = await cli("unlock", "local");
    const refused = await cli("unlock", "busy");
    const hostFreed = await cli("unlock", HOSTS[0]);
    const hostRefused = await cli("unlock", HOSTS[1]);

    // Assess
    expect([freed.code, freed.stdout]).toEqual([
      0,
      "fleet local unlocked (was held by rollout r-dead): its owner, rollout r-dead, has no execution\n",
    ]);
    expect([again.code, again.stdout]).toEqual([0, "fleet local is not locked\n"]);
    expect(refused.code).toBe(1);
    expect(refused.stdout).toMatch(
      /^refused: fleet busy stays locked: its owner, rollout r-live, is still running/,
    );
    expect([hostFreed.code, hostFreed.stdout]).toEqual([
      0,
      `host ${HOSTS[0]} unleased (was leased to rollout r-dead): its owner, rollout r-dead, ` +
        "no longer holds the lock of fleet local\n",
    ]);
    expect(hostRefused.code).toBe(1);
    expect(hostRefused.stdout).toMatch(
      new RegExp(
        `^refused: host ${HOSTS[1]} stays leased: its owner, rollout r-live, is still running`,
      ),
    );

    // Clean up: the live owner ends, for the tests after this one.
    await rm(join(workDir, "executions", "r-live.pid"), { force: true });
    await withLedger(async (store) => {
      await store.releaseLeases("r-live", [HOSTS[1]]);
      await store.releaseLock("busy", "r-live");
    });
  }, 60_000);

  it("rollback ROLLOUT runs the rollback rollout, which leaves alone hosts whose previous release was cleaned", async () => {
    // Act: the cleanup above deleted 1.0.0 on the two hosts the rollout upgraded.
    const result = await cli("rollback", ROLLOUT, "--rollout-id", "r-e2e-back");
    const status = await cli("status", "r-e2e-back");

    // Assess
    expect(result.stderr).toBe("");
    expect(result.code, result.stdout).toBe(0);
    expect(result.stdout).toMatch(
      new RegExp(`^Rollout r-e2e-back \\(rollback of ${ROLLOUT}\\): SUCCEEDED in `, "m"),
    );
    expect(result.stdout).toMatch(/^ +[\d.]+s {2}host-01 +wave 0 {2}left alone: LeftAlone: /m);
    expect(status.stdout).toMatch(/^host-01 .* left alone .*LeftAlone: no previous release/m);
    expect(status.stdout).toMatch(/^host-02 .* left alone .*LeftAlone: no previous release/m);
    expect(status.stdout).not.toMatch(/^host-03 /m);
  }, 90_000);
});
