/**
 * How commands, invocations and hosts look from outside: the response shapes of
 * the SSM operations (status aggregation, counts, truncated output) and the
 * snapshots local mode and tests read through `LocalSsm.invocations()`.
 */
import { isoTime } from "../../lambdas/common/clock.js";
import {
  type CommandRecord,
  type InvocationRecord,
  invocationCode,
  type StepRecord,
  TERMINAL,
} from "./commands.js";
import { PLATFORM_TYPE } from "./documents.js";
import { AGENT_VERSION, type HostRecord, pingStatus, resourceType } from "./instances.js";
import { MAX_STDERR_CONTENT, MAX_STDOUT_CONTENT, pluginOutput, stringPrefix } from "./output.js";
import type { Json } from "./protocol.js";
import type { InvocationSnapshot, InvocationStatus } from "./types.js";

const NO_NOTIFICATIONS = { NotificationArn: "", NotificationEvents: [], NotificationType: "" };

/** Epoch milliseconds as the JSON protocol's epoch seconds. */
export function seconds(ms: number): number {
  return ms / 1000;
}

/** A plugin's start or end time as SSM reports it: ISO, or "" before it happened. */
function isoOrEmpty(ms: number | undefined): string {
  return ms === undefined ? "" : isoTime(ms);
}

function elapsed(step: StepRecord): string {
  if (step.startedAt === undefined) return "";
  return `PT${seconds((step.endedAt ?? Date.now()) - step.startedAt).toFixed(3)}S`;
}

/** The allowed number of errors for a MaxErrors of "N" or "N%". */
function allowedErrors(maxErrors: string, targets: number): number {
  return maxErrors.endsWith("%")
    ? Math.floor((Number(maxErrors.slice(0, -1)) * targets) / 100)
    : Number(maxErrors);
}

/** A step's status as the service shows it: a running step of a cancelling invocation is Cancelling. */
function visibleStepStatus(inv: InvocationRecord, step: StepRecord): [InvocationStatus, string] {
  if (inv.status === "Cancelling" && (step.status === "InProgress" || step.status === "Pending")) {
    return ["Cancelling", "Cancelling"];
  }
  return [step.status, step.statusDetails];
}

/** Output is shown only once a step is over. */
function stepFinished(step: StepRecord): boolean {
  return TERMINAL.has(step.status) && step.endedAt !== undefined;
}

/** A `Command` (SendCommand, ListCommands), its status aggregated from its invocations. */
export function commandView(command: CommandRecord, region: string): Json {
  const invs = command.invocations;
  const done = invs.filter((i) => TERMINAL.has(i.status));
  const errors = invs.filter(
    (i) =>
      (i.status === "Failed" && i.statusDetails !== "Undeliverable") ||
      i.statusDetails === "ExecutionTimedOut",
  ).length;
  const deliveryTimedOut = invs.filter((i) => i.statusDetails === "DeliveryTimedOut").length;
  let status: InvocationStatus;
  let details: string;
  if (done.length < invs.length) {
    if (command.cancelRequested) {
      [status, details] = ["Cancelling", "Cancelling"];
    } else if (invs.some((i) => i.status !== "Pending")) {
      [status, details] = ["InProgress", "InProgress"];
    } else {
      [status, details] = ["Pending", "Pending"];
    }
  } else if (invs.every((i) => i.status === "Success")) {
    [status, details] = ["Success", "Success"];
  } else if (invs.some((i) => i.status === "Cancelled")) {
    [status, details] = ["Cancelled", "Cancelled"];
  } else if (errors > allowedErrors(command.maxErrors, invs.length)) {
    [status, details] = invs.some(
      (i) => i.status === "Failed" && i.statusDetails !== "Undeliverable",
    )
      ? ["Failed", "Failed"]
      : ["TimedOut", "ExecutionTimedOut"];
  } else if (deliveryTimedOut > allowedErrors(command.maxErrors, invs.length)) {
    [status, details] = ["TimedOut", "DeliveryTimedOut"];
  } else if (invs.every((i) => i.statusDetails === "Undeliverable")) {
    [status, details] = ["Failed", "Failed"];
  } else {
    [status, details] = ["Success", "Incomplete"];
  }
  return {
    CommandId: command.commandId,
    DocumentName: command.documentName,
    DocumentVersion: command.documentVersion,
    Comment: command.comment,
    ExpiresAfter: seconds(command.expiresAt),
    Parameters: command.parameters,
    InstanceIds: command.instanceIds,
    Targets: [],
    RequestedDateTime: seconds(command.requestedAt),
    Status: status,
    StatusDetails: details,
    OutputS3Region: region,
    OutputS3BucketName: command.outputBucket,
    OutputS3KeyPrefix: command.outputPrefix,
    MaxConcurrency: command.maxConcurrency,
    MaxErrors: command.maxErrors,
    TargetCount: invs.length,
    CompletedCount: done.length,
    ErrorCount: errors,
    DeliveryTimedOutCount: deliveryTimedOut,
    ServiceRole: "",
    NotificationConfig: NO_NOTIFICATIONS,
    CloudWatchOutputConfig: { CloudWatchLogGroupName: "", CloudWatchOutputEnabled: false },
    TimeoutSeconds: command.timeoutSeconds,
  };
}

/** A `CommandInvocation` (ListCommandInvocations); `details` adds its `CommandPlugins`. */
export function invocationView(inv: InvocationRecord, details: boolean, region: string): Json {
  const { command } = inv;
  const single = inv.steps.length === 1 ? inv.steps[0] : undefined;
  const view: Json = {
    CommandId: command.commandId,
    InstanceId: inv.host.instanceId,
    InstanceName: inv.host.computerName,
    Comment: command.comment,
    DocumentName: command.documentName,
    DocumentVersion: command.documentVersion,
    RequestedDateTime: seconds(command.requestedAt),
    Status: inv.status,
    StatusDetails: inv.statusDetails,
    TraceOutput: "",
    // An invocation names output URLs only when its document has a single step.
    StandardOutputUrl: single?.stdoutUrl ?? "",
    StandardErrorUrl: single?.stderrUrl ?? "",
    CommandPlugins: [],
    ServiceRole: "",
    NotificationConfig: NO_NOTIFICATIONS,
    CloudWatchOutputConfig: { CloudWatchLogGroupName: "", CloudWatchOutputEnabled: false },
  };
  if (details) {
    view.CommandPlugins = inv.steps.map((step) => {
      const [status, statusDetails] = visibleStepStatus(inv, step);
      const finished = stepFinished(step);
      return {
        Name: step.name,
        Status: status === "Cancelling" ? "InProgress" : status,
        StatusDetails: statusDetails,
        ResponseCode: step.responseCode,
        ...(step.startedAt === undefined ? {} : { ResponseStartDateTime: seconds(step.startedAt) }),
        ...(step.endedAt === undefined ? {} : { ResponseFinishDateTime: seconds(step.endedAt) }),
        Output: finished ? pluginOutput(step.stdout, step.stderr) : "",
        StandardOutputUrl: step.stdoutUrl,
        StandardErrorUrl: step.stderrUrl,
        OutputS3Region: region,
        OutputS3BucketName: command.outputBucket,
        OutputS3KeyPrefix: command.outputPrefix,
      };
    });
  }
  return view;
}

/** The GetCommandInvocation response for one step of an invocation. */
export function stepInvocationView(inv: InvocationRecord, step: StepRecord): Json {
  const [status, details] = visibleStepStatus(inv, step);
  const finished = stepFinished(step);
  return {
    CommandId: inv.command.commandId,
    InstanceId: inv.host.instanceId,
    Comment: inv.command.comment,
    DocumentName: inv.command.documentName,
    DocumentVersion: inv.command.documentVersion,
    PluginName: step.name,
    ResponseCode: step.responseCode,
    ExecutionStartDateTime: isoOrEmpty(step.startedAt),
    ExecutionElapsedTime: elapsed(step),
    ExecutionEndDateTime: isoOrEmpty(step.endedAt),
    Status: status,
    StatusDetails: details,
    StandardOutputContent: finished ? stringPrefix(step.stdout, MAX_STDOUT_CONTENT) : "",
    StandardOutputUrl: step.stdoutUrl,
    StandardErrorContent: finished ? stringPrefix(step.stderr, MAX_STDERR_CONTENT) : "",
    StandardErrorUrl: step.stderrUrl,
    CloudWatchOutputConfig: { CloudWatchLogGroupName: "", CloudWatchOutputEnabled: false },
  };
}

/** An `InstanceInformation` (DescribeInstanceInformation) as of `now`. */
export function instanceView(host: HostRecord, now: number): Json {
  const managed = resourceType(host) === "ManagedInstance";
  return {
    InstanceId: host.instanceId,
    PingStatus: pingStatus(host),
    LastPingDateTime: seconds(host.state === "online" ? now : host.lastPingAt),
    AgentVersion: AGENT_VERSION,
    IsLatestVersion: true,
    PlatformType: PLATFORM_TYPE,
    PlatformName: "Linux",
    PlatformVersion: "",
    ResourceType: resourceType(host),
    ComputerName: host.computerName,
    IPAddress: "127.0.0.1",
    RegistrationDate: managed ? seconds(host.registeredAt) : undefined,
    SourceId: host.instanceId,
    SourceType: managed ? "AWS::SSM::ManagedInstance" : "AWS::EC2::Instance",
  };
}

/** A point-in-time copy of an invocation, for `LocalSsm.invocations()`. */
export function invocationSnapshot(inv: InvocationRecord): InvocationSnapshot {
  return {
    commandId: inv.command.commandId,
    instanceId: inv.host.instanceId,
    documentName: inv.command.documentName,
    comment: inv.command.comment,
    parameters: inv.command.parameters,
    status: inv.status,
    statusDetails: inv.statusDetails,
    responseCode: invocationCode(inv),
    requestedAt: new Date(inv.command.requestedAt),
    ...(inv.startedAt === undefined ? {} : { startedAt: new Date(inv.startedAt) }),
    ...(inv.endedAt === undefined ? {} : { endedAt: new Date(inv.endedAt) }),
  };
}
