/**
 * The approval gate in local mode. aws-local-stepfunctions has no `.waitForTaskToken`
 * (a Task's result is its handler's return), so the runner overrides the
 * `WaitForApproval` state: it records a token as on AWS (the evaluate-wave function,
 * with the Task's `Payload`), then waits for the local approver: `--approve-all`,
 * the terminal (readline on a TTY), `approve`/`reject` from the CLI through the work
 * dir (local/task-tokens.ts), or a test's function. A rejection fails the
 * task with `ApprovalRejected` and the reason as the cause, as SendTaskFailure does;
 * an unanswered wait ends with States.Timeout after the Payload's `timeoutSeconds`
 * (see {@link localDefinition}).
 * docs/aws-fidelity.md, "Divergences".
 *
 * @module
 */
import { createInterface } from "node:readline/promises";
import { localTaskToken } from "./task-tokens.js";

/** The Task state of the approval gate (lib/rollout-state-machine.ts). */
export const APPROVAL_STATE = "WaitForApproval";

/**
 * What local mode hands `$$.Task.Token`: the override records each wait under its own
 * token instead ({@link localTaskToken}).
 */
export const LOCAL_TASK_TOKEN = "local-task-token";

/** What the approver is asked. */
export interface ApprovalRequest {
  readonly rolloutId: string;
  readonly wave: number;
}

/** An operator's answer. */
export type ApprovalAnswer =
  | { readonly decision: "approve" }
  | {
      readonly decision: "reject";
      readonly reason?: string;
    };

/** Answers an approval; a promise that never settles leaves the wait to its timeout. */
export type Approver = (request: ApprovalRequest) => Promise<ApprovalAnswer>;

/** The error a rejected approval fails its task with (Error `ApprovalRejected`, Cause the reason). */
export class ApprovalRejectedError extends Error {
  override readonly name = "ApprovalRejected";
}

type Handlers = Readonly<Record<string, (input: unknown) => Promise<unknown>>>;

/** `handlers` with {@link APPROVAL_STATE} recording its token, then waiting for `approver`. */
export function withApprovalGate(handlers: Handlers, approver: Approver): Handlers {
  const record = handlers[APPROVAL_STATE];
  if (record === undefined) return handlers;
  return {
    ...handlers,
    [APPROVAL_STATE]: async (input) => {
      const payload = (input as { Payload: ApprovalRequest & { timeoutSeconds?: number } }).Payload;
      // Each wait gets its own token, as each task does on AWS (local/task-tokens.ts).
      await record({ ...payload, taskToken: localTaskToken(payload) });
      const answer = await withTimeout(
        approver({ rolloutId: payload.rolloutId, wave: payload.wave }),
        payload.timeoutSeconds,
      );
      if (answer.decision === "reject") {
        throw new ApprovalRejectedError(answer.reason ?? "no reason given");
      }
      return { decision: "approved", wave: payload.wave };
    },
  };
}

/** States.Timeout, as the task's TimeoutSecondsPath would end it on AWS. */
class StatesTimeoutError extends Error {
  override readonly name = "States.Timeout";
}

/** `answer`, or States.Timeout after `seconds` (none: no limit). */
async function withTimeout(
  answer: Promise<ApprovalAnswer>,
  seconds: number | undefined,
): Promise<ApprovalAnswer> {
  if (seconds === undefined) return answer;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new StatesTimeoutError("the approval was not answered in time")),
      seconds * 1000,
    );
  });
  try {
    return await Promise.race([answer, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The definition local mode runs: WaitForApproval without its TimeoutSecondsPath,
 * which aws-local-stepfunctions reads from the task's effective input (its Parameters)
 * rather than the state input; the override enforces the Payload's `timeoutSeconds`.
 */
export function localDefinition<D extends object>(definition: D): D {
  const copy = structuredClone(definition) as D & {
    States?: Record<string, Record<string, unknown>>;
  };
  const state = copy.States?.[APPROVAL_STATE];
  if (state !== undefined) delete state.TimeoutSecondsPath;
  return copy;
}

/** Approves every approval at once (`--approve-all`). */
export const approveAll: Approver = async () => ({ decision: "approve" });

/** Never answers: the wait ends with its timeout (no TTY, no `--approve-all`). */
export const neverAnswer: Approver = () => new Promise(() => {});

/** Asks on the terminal: `y` approves; anything else rejects, with it as the reason. */
export function terminalApprover(
  input: NodeJS.ReadableStream,
  output: NodeJS.WritableStream,
): Approver {
  return async ({ rolloutId, wave }) => {
    const rl = createInterface({ input, output });
    try {
      const line = await rl.question(
        `\nRollout ${rolloutId}: wave ${wave} done. Approve the next wave? [y/N, or a reason to reject] `,
      );
      const answer = line.trim();
      if (/^y(es)?$/i.test(answer)) return { decision: "approve" };
      return {
        decision: "reject",
        reason: answer === "" || /^no?$/i.test(answer) ? "rejected from the terminal" : answer,
      };
    } finally {
      rl.close();
    }
  };
}
