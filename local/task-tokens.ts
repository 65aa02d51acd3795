/**
 * Task tokens of local mode's approval gate, answered across processes through the
 * work dir: the run that waits (a local `start`) writes `approvals/<rollout>.<wave>.waiting`
 * and polls for `…answer`; `approve`/`reject` from another CLI sends SendTaskSuccess /
 * SendTaskFailure to {@link LocalTaskTokens}, which writes that answer, refusing as Step
 * Functions does: a token not of this form is `InvalidToken`, a task that no run waits
 * on is `TaskDoesNotExist`, a task already answered is `TaskTimedOut` ("the task
 * associated with the token has already been closed").
 *
 * @module
 */
import { existsSync } from "node:fs";
import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  InvalidToken,
  type SendTaskFailureCommand,
  SendTaskSuccessCommand,
  TaskDoesNotExist,
  TaskTimedOut,
} from "@aws-sdk/client-sfn";
import type { ApprovalAnswer, ApprovalRequest, Approver } from "./approval.js";

const TOKEN_PREFIX = "local-task-token";
const TOKEN_PATTERN = /^local-task-token:([A-Za-z0-9_-]{1,80}):(\d{1,4})$/;

/** The token of the approval wait after `wave` of `rolloutId` (each wait its own, as on AWS). */
export function localTaskToken(request: ApprovalRequest): string {
  return `${TOKEN_PREFIX}:${request.rolloutId}:${request.wave}`;
}

/** Where the wait of `request` and its answer are kept in the work dir. */
function files(workDir: string, request: ApprovalRequest) {
  const base = join(workDir, "approvals", `${request.rolloutId}.${request.wave}`);
  return { waiting: `${base}.waiting`, answer: `${base}.answer` };
}

const metadata = { $metadata: { httpStatusCode: 400 } };

/** The SendTaskSuccess / SendTaskFailure side: what `approve` and `reject` call locally. */
export class LocalTaskTokens {
  constructor(private readonly workDir: string) {}

  /** Answers the task of the command's token; throws the SDK's error where AWS would. */
  async send(command: SendTaskSuccessCommand | SendTaskFailureCommand): Promise<object> {
    const { taskToken } = command.input;
    const match = TOKEN_PATTERN.exec(taskToken ?? "");
    if (match === null) {
      throw new InvalidToken({ message: "Invalid Token: 'Invalid token'", ...metadata });
    }
    const request = { rolloutId: match[1] as string, wave: Number(match[2]) };
    const { waiting, answer } = files(this.workDir, request);
    const reply: ApprovalAnswer =
      command instanceof SendTaskSuccessCommand
        ? { decision: "approve" }
        : {
            decision: "reject",
            ...(command.input.cause === undefined ? {} : { reason: command.input.cause }),
          };
    if (existsSync(answer)) throw closed();
    if (!existsSync(waiting)) {
      throw new TaskDoesNotExist({ message: "Task does not exist anymore", ...metadata });
    }
    try {
      // `wx`: of two answers to one task, the second finds it closed.
      await writeFile(answer, JSON.stringify(reply), { flag: "wx" });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "EEXIST") throw closed();
      throw error;
    }
    return {};
  }
}

function closed(): TaskTimedOut {
  return new TaskTimedOut({
    message: "Task Timed Out: 'Provided task does not exist anymore'",
    ...metadata,
  });
}

/**
 * The waiting side: an {@link Approver} that records the wait in the work dir, tells
 * `onWaiting`, and answers with what {@link LocalTaskTokens} wrote (polled every
 * `pollMs`). Its polling does not keep the process alive.
 */
export function workDirApprover(
  workDir: string,
  onWaiting: (request: ApprovalRequest) => void = () => {},
  pollMs = 200,
): Approver {
  return async (request) => {
    const { waiting, answer } = files(workDir, request);
    await mkdir(join(workDir, "approvals"), { recursive: true });
    await writeFile(`${waiting}.tmp`, JSON.stringify(request));
    await rename(`${waiting}.tmp`, waiting);
    onWaiting(request);
    for (;;) {
      await new Promise((resolve) => setTimeout(resolve, pollMs).unref());
      const text = await readFile(answer, "utf8").catch(() => undefined);
      // An answer is written whole by one writeFile; a partial read is read again.
      const reply = text === undefined ? undefined : parseAnswer(text);
      if (reply !== undefined) {
        await rm(waiting, { force: true });
        return reply;
      }
    }
  };
}

function parseAnswer(text: string): ApprovalAnswer | undefined {
  try {
    const reply = JSON.parse(text) as ApprovalAnswer;
    return reply.decision === "approve" || reply.decision === "reject" ? reply : undefined;
  } catch {
    return undefined;
  }
}
