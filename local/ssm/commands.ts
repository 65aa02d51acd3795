/**
 * The commands the endpoint accepted and their invocations (one per target
 * instance, one step record per document step): the state every operation reads
 * and the simulated agent advances.
 */
import { randomUUID } from "node:crypto";
import type { ParameterValues } from "./documents.js";
import type { HostRecord } from "./instances.js";
import type { StepProcess } from "./process.js";
import type { InvocationStatus, SsmDocumentContent } from "./types.js";
import type { CommandFilter, SendCommandRequest } from "./validation.js";

/** Statuses after which an invocation (or a step) never changes. */
export const TERMINAL = new Set<InvocationStatus>(["Success", "Failed", "TimedOut", "Cancelled"]);

export type PluginStatus =
  | "Pending"
  | "InProgress"
  | "Success"
  | "TimedOut"
  | "Cancelled"
  | "Failed";

export interface StepRecord {
  readonly name: string;
  status: PluginStatus;
  statusDetails: string;
  responseCode: number;
  startedAt?: number;
  endedAt?: number;
  stdout: string;
  stderr: string;
  stdoutUrl: string;
  stderrUrl: string;
}

export interface CommandRecord {
  readonly commandId: string;
  readonly documentName: string;
  readonly documentVersion: string;
  readonly doc: SsmDocumentContent;
  readonly comment: string;
  readonly parameters: Readonly<Record<string, readonly string[]>>;
  readonly values: ParameterValues;
  readonly instanceIds: readonly string[];
  readonly requestedAt: number;
  readonly timeoutSeconds: number;
  readonly deliveryTimeoutMs: number;
  readonly expiresAt: number;
  readonly outputBucket: string;
  readonly outputPrefix: string;
  readonly maxConcurrency: string;
  readonly maxErrors: string;
  cancelRequested: boolean;
  readonly invocations: InvocationRecord[];
}

export interface InvocationRecord {
  readonly command: CommandRecord;
  readonly host: HostRecord;
  status: InvocationStatus;
  statusDetails: string;
  readonly steps: StepRecord[];
  startedAt?: number;
  endedAt?: number;
  running?: StepProcess;
  cancelRequested: boolean;
  deliveryTimer?: NodeJS.Timeout;
  expiryTimer?: NodeJS.Timeout;
  /** Results the agent could not report while its host was unreachable, applied when it is back. */
  readonly backlog: Array<() => void>;
  /** Settles when the steps are over (used by close()). */
  execution?: Promise<void>;
}

/** How long a new command may wait for delivery, and how long its longest step may run. */
export interface CommandTiming {
  readonly deliveryTimeoutMs: number;
  readonly longestStepMs: number;
}

/** The exit code that explains an invocation: its first non-zero step code, else its last step code, else -1. */
export function invocationCode(inv: InvocationRecord): number {
  const codes = inv.steps.filter((s) => s.endedAt !== undefined && s.responseCode !== -1);
  return (codes.find((s) => s.responseCode !== 0) ?? codes.at(-1))?.responseCode ?? -1;
}

/** Whether a command, seen with the given status, passes every ListCommands/ListCommandInvocations filter. */
export function commandMatches(
  command: CommandRecord,
  status: string,
  filters: readonly CommandFilter[],
): boolean {
  return filters.every((f) => {
    switch (f.key) {
      case "Status":
        return status === f.value;
      case "DocumentName":
        return command.documentName === f.value;
      case "InvokedAfter":
        return command.requestedAt >= f.at;
      default: // InvokedBefore
        return command.requestedAt <= f.at;
    }
  });
}

/** Every accepted command, and every invocation in the order it was created. */
export class CommandLog {
  private readonly commands = new Map<string, CommandRecord>();
  private readonly invocations: InvocationRecord[] = [];

  /** Records a validated SendCommand: a Pending invocation with Pending steps per target. */
  add(
    request: SendCommandRequest,
    hosts: readonly HostRecord[],
    timing: CommandTiming,
  ): CommandRecord {
    const requestedAt = Date.now();
    const { doc } = request;
    const command: CommandRecord = {
      commandId: randomUUID(),
      documentName: request.documentName,
      documentVersion: request.documentVersion,
      doc,
      comment: request.comment,
      parameters: request.parameters,
      values: request.values,
      instanceIds: request.instanceIds,
      requestedAt,
      timeoutSeconds: request.timeoutSeconds,
      deliveryTimeoutMs: timing.deliveryTimeoutMs,
      expiresAt: requestedAt + timing.deliveryTimeoutMs + timing.longestStepMs,
      outputBucket: request.outputBucket,
      outputPrefix: request.outputPrefix,
      maxConcurrency: request.maxConcurrency,
      maxErrors: request.maxErrors,
      cancelRequested: false,
      invocations: [],
    };
    for (const host of hosts) {
      const inv: InvocationRecord = {
        command,
        host,
        status: "Pending",
        statusDetails: "Pending",
        steps: doc.mainSteps.map((step) => ({
          name: step.name,
          status: "Pending",
          statusDetails: "Pending",
          responseCode: -1,
          stdout: "",
          stderr: "",
          stdoutUrl: "",
          stderrUrl: "",
        })),
        cancelRequested: false,
        backlog: [],
      };
      command.invocations.push(inv);
      this.invocations.push(inv);
    }
    this.commands.set(command.commandId, command);
    return command;
  }

  get(commandId: string): CommandRecord | undefined {
    return this.commands.get(commandId);
  }

  /** Commands accepted so far. */
  get size(): number {
    return this.commands.size;
  }

  /** Every invocation, oldest first. */
  allInvocations(): readonly InvocationRecord[] {
    return this.invocations;
  }

  /** Every command, newest first (the order of ListCommands). */
  newestCommands(): CommandRecord[] {
    return [...this.commands.values()].reverse();
  }

  /** Every invocation, newest first (the order of ListCommandInvocations). */
  newestInvocations(): InvocationRecord[] {
    return [...this.invocations].reverse();
  }
}
