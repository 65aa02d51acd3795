/**
 * `approve` / `reject` on the in-memory ledger: the token recorded on the rollout item
 * answered through the backend's task-token client, and the refusals; local mode's
 * task-token stand-in refusing as Step Functions does.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SendTaskFailureCommand, SendTaskSuccessCommand, TaskTimedOut } from "@aws-sdk/client-sfn";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { parseCommandLine } from "../../cli/args.js";
import type { Backend } from "../../cli/backend.js";
import { approvalCommand } from "../../cli/commands/approve.js";
import { EXIT } from "../../cli/errors.js";
import { LocalTaskTokens, localTaskToken, workDirApprover } from "../../local/task-tokens.js";
import { UsageError } from "../../local/usage-error.js";
import { storedInput, T0 } from "../lambdas/helpers.js";
import { memoryBackend, recordingIo } from "./helpers.js";

const ROLLOUT = "r-gate";

/** A backend whose rollout is RUNNING, waiting (or not) on a token; `sent` records the answers. */
async function gatedBackend(options: { waiting?: boolean; execution?: "RUNNING" | "SUCCEEDED" }) {
  const sent: unknown[] = [];
  const taskTokens: Backend["taskTokens"] = {
    send: async (command: unknown) => {
      sent.push(command);
      return {};
    },
  } as Backend["taskTokens"];
  const backend = memoryBackend({
    states: { [ROLLOUT]: options.execution ?? "RUNNING" },
    taskTokens,
  });
  const approval = { afterWaves: [0], timeoutSeconds: 600 };
  await backend.store.createRollout({
    rolloutId: ROLLOUT,
    input: storedInput({ approval }),
    hostCount: 2,
    waveCount: 2,
    now: T0,
  });
  await backend.store.markRolloutRunning(ROLLOUT, T0);
  if (options.waiting ?? true) {
    await backend.store.recordApprovalRequest(ROLLOUT, { wave: 0, taskToken: "token-0" }, T0);
  }
  return { backend, sent };
}

describe("approve and reject", () => {
  it("approves with SendTaskSuccess on the recorded token, exit 0", async () => {
    // Prepare
    const { backend, sent } = await gatedBackend({});
    const io = recordingIo(T0);

    // Act
    const code = await approvalCommand(backend, { rolloutId: ROLLOUT, decision: "approve" }, io);

    // Assess
    expect(code).toBe(EXIT.OK);
    expect(sent).toHaveLength(1);
    expect(sent[0]).toBeInstanceOf(SendTaskSuccessCommand);
    expect((sent[0] as SendTaskSuccessCommand).input).toEqual({
      taskToken: "token-0",
      output: JSON.stringify({ decision: "approved", wave: 0 }),
    });
    expect(io.lines).toEqual([`rollout ${ROLLOUT}: approved after wave 0; the next wave starts`]);
  });

  it("rejects with SendTaskFailure ApprovalRejected, the reason as the cause", async () => {
    const { backend, sent } = await gatedBackend({});
    const io = recordingIo(T0);

    const code = await approvalCommand(
      backend,
      { rolloutId: ROLLOUT, decision: "reject", reason: "latency up on the canary" },
      io,
    );

    expect(code).toBe(EXIT.OK);
    expect(sent[0]).toBeInstanceOf(SendTaskFailureCommand);
    expect((sent[0] as SendTaskFailureCommand).input).toEqual({
      taskToken: "token-0",
      error: "ApprovalRejected",
      cause: "latency up on the canary",
    });
  });

  it("refuses a rollout that waits for no approval, exit 1, sending nothing", async () => {
    const { backend, sent } = await gatedBackend({ waiting: false });
    const io = recordingIo(T0);

    const code = await approvalCommand(backend, { rolloutId: ROLLOUT, decision: "approve" }, io);

    expect([code, sent]).toEqual([EXIT.FAILED, []]);
    expect(io.lines).toEqual([
      `refused: rollout ${ROLLOUT} (RUNNING) is not waiting for an approval`,
    ]);
  });

  it("refuses a rollout whose execution ended, even with a token on its item", async () => {
    const { backend, sent } = await gatedBackend({ execution: "SUCCEEDED" });
    const io = recordingIo(T0);

    const code = await approvalCommand(backend, { rolloutId: ROLLOUT, decision: "reject" }, io);

    expect([code, sent]).toEqual([EXIT.FAILED, []]);
    expect(io.lines).toEqual([
      `refused: rollout ${ROLLOUT} (RUNNING) ended SUCCEEDED: no approval to answer`,
    ]);
  });

  it("refuses a token already answered (Step Functions' TaskTimedOut), exit 1", async () => {
    const { backend } = await gatedBackend({});
    const closed = new TaskTimedOut({ message: "closed", $metadata: {} });
    const answered = {
      ...backend,
      taskTokens: { send: async () => Promise.reject(closed) } as Backend["taskTokens"],
    };
    const io = recordingIo(T0);

    const code = await approvalCommand(answered, { rolloutId: ROLLOUT, decision: "approve" }, io);

    expect(code).toBe(EXIT.FAILED);
    expect(io.lines).toEqual([
      `refused: rollout ${ROLLOUT} is not waiting for an approval: the approval after wave 0 ` +
        "was answered already or timed out (TaskTimedOut)",
    ]);
  });

  it("names an unknown rollout, exit 3", async () => {
    const { backend } = await gatedBackend({});
    await expect(
      approvalCommand(backend, { rolloutId: "r-none", decision: "approve" }, recordingIo(T0)),
    ).rejects.toMatchObject({ exitCode: EXIT.NOT_FOUND });
  });

  it("parses approve ROLLOUT and reject ROLLOUT --reason TEXT; approve takes no reason", () => {
    expect(parseCommandLine(["approve", ROLLOUT]).command).toEqual({
      name: "approve",
      rolloutId: ROLLOUT,
    });
    expect(parseCommandLine(["reject", ROLLOUT, "--reason", "too slow"]).command).toEqual({
      name: "reject",
      rolloutId: ROLLOUT,
      reason: "too slow",
    });
    expect(() => parseCommandLine(["approve", ROLLOUT, "--reason", "x"])).toThrow(
      "approve does not take --reason",
    );
    expect(() => parseCommandLine(["reject"])).toThrow(UsageError);
    expect(() => parseCommandLine(["reject", ROLLOUT, "--reason", " "])).toThrow(
      "--reason must say why",
    );
  });
});

describe("local mode's task tokens", () => {
  let workDir: string;
  beforeEach(async () => {
    workDir = await mkdtemp(join(tmpdir(), "task-tokens-"));
  });
  afterEach(() => rm(workDir, { recursive: true, force: true }));

  const request = { rolloutId: ROLLOUT, wave: 0 };

  it("hands the waiting run the answer once, then refuses the closed task", async () => {
    // Prepare
    const tokens = new LocalTaskTokens(workDir);
    let waiting!: () => void;
    const asked = new Promise<void>((resolve) => {
      waiting = resolve;
    });
    const answer = workDirApprover(workDir, () => waiting(), 10)(request);
    await asked;
    const taskToken = localTaskToken(request);

    // Act
    await tokens.send(
      new SendTaskFailureCommand({ taskToken, error: "ApprovalRejected", cause: "no" }),
    );

    // Assess
    await expect(answer).resolves.toEqual({ decision: "reject", reason: "no" });
    await expect(
      tokens.send(new SendTaskSuccessCommand({ taskToken, output: "{}" })),
    ).rejects.toMatchObject({ name: "TaskTimedOut" });
  });

  it("refuses a token no run waits on, and one not of local mode's form", async () => {
    const tokens = new LocalTaskTokens(workDir);
    await expect(
      tokens.send(new SendTaskSuccessCommand({ taskToken: localTaskToken(request), output: "{}" })),
    ).rejects.toMatchObject({ name: "TaskDoesNotExist" });
    await expect(
      tokens.send(new SendTaskSuccessCommand({ taskToken: "token-0", output: "{}" })),
    ).rejects.toMatchObject({ name: "InvalidToken" });
  });
});
