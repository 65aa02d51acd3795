/**
 * What the endpoint refuses, one function per operation. Each checks its request in
 * the order listed in its comment and returns the request as plain values; the
 * first broken rule is answered as the error named there. Existence checks that SSM
 * makes between field checks (unknown document, instance, command or invocation)
 * are made here too, at the same point, so the order of errors is the service's.
 * `NextToken` is checked where it is decoded (`paginate` in protocol.ts).
 */
import { isAbsolute } from "node:path";
import type { CommandLog, CommandRecord, InvocationRecord, StepRecord } from "./commands.js";
import { type ParameterValues, resolveParameters, validateDocument } from "./documents.js";
import { SsmApiError, validationError } from "./errors.js";
import { type Json, maxResults, optionalString, requireString } from "./protocol.js";
import { BUCKET_NAME } from "./s3.js";
import type { LocalSsmOptions, SsmDocumentContent } from "./types.js";

/** SendCommand TimeoutSeconds: default and bounds. */
const DEFAULT_DELIVERY_TIMEOUT_S = 3600;
const MIN_DELIVERY_TIMEOUT_S = 30;
const MAX_DELIVERY_TIMEOUT_S = 2_592_000;
/** MaxConcurrency and MaxErrors: a count or a percentage. */
const RATE = /^([1-9][0-9]*|[0-9]|[1-9][0-9]%|[0-9]%|100%)$/;
export const INSTANCE_ID = /^(i-([0-9a-zA-Z]{8}|[0-9a-zA-Z]{17})|mi-[0-9a-zA-Z]{17})$/;
const COMMAND_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** SendCommand DocumentName: a name or an ARN (API_SendCommand, `DocumentName` pattern). */
const DOCUMENT_NAME_OR_ARN = /^[a-zA-Z0-9_\-.:/]{3,128}$/;

/** A SendCommand that passed every rule, with defaults applied. */
export interface SendCommandRequest {
  readonly documentName: string;
  readonly doc: SsmDocumentContent;
  readonly documentVersion: string;
  readonly instanceIds: readonly string[];
  readonly timeoutSeconds: number;
  readonly comment: string;
  readonly outputBucket: string;
  readonly outputPrefix: string;
  readonly maxConcurrency: string;
  readonly maxErrors: string;
  /** Parameters as sent (defaults not applied). */
  readonly parameters: Readonly<Record<string, readonly string[]>>;
  /** Every declared parameter, defaults applied. */
  readonly values: ParameterValues;
}

/** What SendCommand checks against: the endpoint's documents and managed nodes. */
export interface SendCommandContext {
  readonly documents: LocalSsmOptions["documents"];
  isManagedNode(instanceId: string): boolean;
}

/** One ListCommands/ListCommandInvocations filter. */
export type CommandFilter =
  | { readonly key: "Status" | "DocumentName"; readonly value: string }
  | { readonly key: "InvokedAfter" | "InvokedBefore"; readonly at: number };

/** The query fields ListCommands and ListCommandInvocations share. */
export interface CommandQuery {
  readonly commandId?: string;
  readonly instanceId?: string;
  readonly limit: number;
  readonly filters: readonly CommandFilter[];
}

/**
 * SendCommand rules, in order:
 * - DocumentName: required, 3 to 128 characters of `[a-zA-Z0-9_\-.:/]`
 *   (ValidationException); names a document of the endpoint (InvalidDocument);
 * - DocumentVersion: at most 128 characters; `$DEFAULT`, `$LATEST` or `1` (InvalidDocumentVersion);
 * - Targets: refused when non-empty (only InstanceIds are supported);
 * - InstanceIds: 1 to 50; each a valid instance id of a managed node (InvalidInstanceId),
 *   none listed twice (DuplicateInstanceId);
 * - TimeoutSeconds: an integer from 30 to 2,592,000 (default 3600);
 * - Comment: at most 100 characters;
 * - OutputS3BucketName: at most 63 characters, a valid bucket name;
 * - OutputS3KeyPrefix: at most 500 characters, no `.` or `..` segment;
 * - MaxConcurrency, MaxErrors: at most 7 characters, a count or a percentage
 *   (defaults 50 and 0);
 * - Parameters, last, against the document ({@link resolveParameters}, InvalidParameters).
 */
export function validateSendCommand(input: Json, context: SendCommandContext): SendCommandRequest {
  const documentName = requireString(input, "DocumentName");
  if (!DOCUMENT_NAME_OR_ARN.test(documentName)) {
    throw validationError(
      "documentName",
      documentName,
      `Member must satisfy regular expression pattern: ${DOCUMENT_NAME_OR_ARN.source}`,
    );
  }
  const doc = Object.hasOwn(context.documents, documentName)
    ? context.documents[documentName]
    : undefined;
  if (!doc) {
    throw new SsmApiError("InvalidDocument", `Document with name ${documentName} does not exist.`);
  }
  const documentVersion = optionalString(input, "DocumentVersion", 128) ?? "$DEFAULT";
  if (!["$DEFAULT", "$LATEST", "1"].includes(documentVersion)) {
    throw new SsmApiError(
      "InvalidDocumentVersion",
      `Document version ${documentVersion} does not exist.`,
    );
  }
  if (Array.isArray(input.Targets) && input.Targets.length > 0) {
    throw validationError("targets", "[...]", "the local SSM endpoint supports InstanceIds only");
  }
  const ids = input.InstanceIds;
  if (!Array.isArray(ids) || ids.length === 0) {
    throw validationError("instanceIds", ids, "Member must have length greater than or equal to 1");
  }
  if (ids.length > 50) {
    throw validationError(
      "instanceIds",
      `[${ids.length} ids]`,
      "Member must have length less than or equal to 50",
    );
  }
  const instanceIds: string[] = [];
  for (const id of ids) {
    if (typeof id !== "string" || !INSTANCE_ID.test(id) || !context.isManagedNode(id)) {
      throw new SsmApiError("InvalidInstanceId", `Instance ${String(id)} is not a managed node.`);
    }
    if (instanceIds.includes(id)) {
      throw new SsmApiError("DuplicateInstanceId", `Instance ${id} is listed twice.`);
    }
    instanceIds.push(id);
  }
  let timeoutSeconds = DEFAULT_DELIVERY_TIMEOUT_S;
  if (input.TimeoutSeconds !== undefined && input.TimeoutSeconds !== null) {
    const t = input.TimeoutSeconds;
    if (
      typeof t !== "number" ||
      !Number.isInteger(t) ||
      t < MIN_DELIVERY_TIMEOUT_S ||
      t > MAX_DELIVERY_TIMEOUT_S
    ) {
      throw validationError(
        "timeoutSeconds",
        t,
        `Member must have value between ${MIN_DELIVERY_TIMEOUT_S} and ${MAX_DELIVERY_TIMEOUT_S}`,
      );
    }
    timeoutSeconds = t;
  }
  const comment = optionalString(input, "Comment", 100) ?? "";
  const outputBucket = optionalString(input, "OutputS3BucketName", 63) ?? "";
  if (outputBucket !== "" && !BUCKET_NAME.test(outputBucket)) {
    throw validationError(
      "outputS3BucketName",
      outputBucket,
      "Member must be a valid S3 bucket name",
    );
  }
  const outputPrefix = optionalString(input, "OutputS3KeyPrefix", 500) ?? "";
  if (outputPrefix.split("/").some((segment) => segment === "." || segment === "..")) {
    throw validationError(
      "outputS3KeyPrefix",
      outputPrefix,
      "Member must not contain relative path segments",
    );
  }
  const maxConcurrency = optionalString(input, "MaxConcurrency", 7) ?? "50";
  const maxErrors = optionalString(input, "MaxErrors", 7) ?? "0";
  for (const [field, value] of [
    ["maxConcurrency", maxConcurrency],
    ["maxErrors", maxErrors],
  ] as const) {
    if (!RATE.test(value)) {
      throw validationError(
        field,
        value,
        `Member must satisfy regular expression pattern: ${RATE.source}`,
      );
    }
  }
  // Parameters last: SSM rejects bad values before anything is created, and then nothing runs.
  const values = resolveParameters(doc, input.Parameters);
  return {
    documentName,
    doc,
    documentVersion,
    instanceIds,
    timeoutSeconds,
    comment,
    outputBucket,
    outputPrefix,
    maxConcurrency,
    maxErrors,
    parameters: (input.Parameters ?? {}) as Record<string, string[]>,
    values,
  };
}

/** CommandId: a command id (36 characters, UUID form). */
function checkCommandId(commandId: string): string {
  if (!COMMAND_ID.test(commandId)) {
    throw validationError("commandId", commandId, "Member must have length 36");
  }
  return commandId;
}

/**
 * GetCommandInvocation rules, in order:
 * - CommandId: required, a command id;
 * - InstanceId: required, a valid instance id;
 * - the command ran on that instance, and was sent at least `visibilityDelayMs` ago
 *   (InvocationDoesNotExist: SSM is eventually consistent, and an invocation is not
 *   readable at once after SendCommand);
 * - PluginName: at most 128 characters; required when the document has more than one
 *   step, and then a step's name (InvalidPluginName).
 */
export function validateGetCommandInvocation(
  input: Json,
  commands: CommandLog,
  visibilityDelayMs = 0,
): { readonly invocation: InvocationRecord; readonly step: StepRecord } {
  const commandId = checkCommandId(requireString(input, "CommandId"));
  const instanceId = requireString(input, "InstanceId");
  if (!INSTANCE_ID.test(instanceId)) {
    throw validationError(
      "instanceId",
      instanceId,
      `Member must satisfy regular expression pattern: ${INSTANCE_ID.source}`,
    );
  }
  const invocation = commands
    .get(commandId)
    ?.invocations.find((i) => i.host.instanceId === instanceId);
  if (!invocation || Date.now() < invocation.command.requestedAt + visibilityDelayMs) {
    throw new SsmApiError(
      "InvocationDoesNotExist",
      "An invocation with this command ID and instance ID does not exist.",
    );
  }
  const pluginName = optionalString(input, "PluginName", 128);
  let step: StepRecord | undefined;
  if (pluginName === undefined) {
    if (invocation.steps.length > 1) {
      throw new SsmApiError(
        "InvalidPluginName",
        "The document has more than one step: specify PluginName with the step name.",
      );
    }
    step = invocation.steps[0];
  } else {
    step = invocation.steps.find((s) => s.name === pluginName);
  }
  if (!step) {
    throw new SsmApiError("InvalidPluginName", `The plugin name ${pluginName} is not valid.`);
  }
  return { invocation, step };
}

/**
 * `Filters` of ListCommands/ListCommandInvocations: a list (InvalidFilter) of
 * `{key, value}` with a string value (InvalidFilterValue) and a key among Status,
 * DocumentName, InvokedAfter, InvokedBefore (InvalidFilterKey); the Invoked* values
 * are ISO 8601 times (InvalidFilterValue).
 */
function commandFilters(input: Json): CommandFilter[] {
  const filters = input.Filters;
  if (filters === undefined || filters === null) return [];
  if (!Array.isArray(filters)) throw new SsmApiError("InvalidFilter", "Filters must be a list.");
  return filters.map((raw: unknown): CommandFilter => {
    const { key, value } = (raw ?? {}) as { key?: unknown; value?: unknown };
    if (typeof value !== "string") {
      throw new SsmApiError("InvalidFilterValue", `Filter ${String(key)} needs a value.`);
    }
    switch (key) {
      case "Status":
      case "DocumentName":
        return { key, value };
      case "InvokedAfter":
      case "InvokedBefore": {
        const at = Date.parse(value);
        if (Number.isNaN(at)) {
          throw new SsmApiError("InvalidFilterValue", `${key} needs an ISO 8601 time.`);
        }
        return { key, at };
      }
      default:
        throw new SsmApiError("InvalidFilterKey", `Filter key ${String(key)} is not supported.`);
    }
  });
}

/**
 * ListCommandInvocations rules, in order:
 * - CommandId: optional, at most 36 characters, a command id;
 * - InstanceId: optional, at most 124 characters;
 * - MaxResults: optional, 1 to 50 (default 50);
 * - Filters: see {@link commandFilters}.
 */
export function validateListCommandInvocations(input: Json): CommandQuery {
  const raw = optionalString(input, "CommandId", 36);
  const commandId = raw === undefined ? undefined : checkCommandId(raw);
  const instanceId = optionalString(input, "InstanceId", 124);
  const limit = maxResults(input, 1, 50, 50);
  const filters = commandFilters(input);
  return { commandId, instanceId, limit, filters };
}

/**
 * ListCommands rules: those of {@link validateListCommandInvocations}, then a
 * CommandId given must name a command (InvalidCommandId).
 */
export function validateListCommands(
  input: Json,
  commands: CommandLog,
): CommandQuery & { readonly command?: CommandRecord } {
  const query = validateListCommandInvocations(input);
  if (query.commandId === undefined) return query;
  const command = commands.get(query.commandId);
  if (!command) {
    throw new SsmApiError("InvalidCommandId", `Command ${query.commandId} does not exist.`);
  }
  return { ...query, command };
}

/**
 * CancelCommand rules, in order:
 * - CommandId: required, a command id, naming a command (InvalidCommandId);
 * - InstanceIds: optional, a list; each a target of the command (InvalidInstanceId).
 * @returns the command, and the instances to cancel (undefined: all of them).
 */
export function validateCancelCommand(
  input: Json,
  commands: CommandLog,
): { readonly command: CommandRecord; readonly targets?: readonly unknown[] } {
  const commandId = checkCommandId(requireString(input, "CommandId"));
  const command = commands.get(commandId);
  if (!command) throw new SsmApiError("InvalidCommandId", `Command ${commandId} does not exist.`);
  const only = input.InstanceIds;
  if (only !== undefined && only !== null && !Array.isArray(only)) {
    throw validationError("instanceIds", only, "Member must be a list");
  }
  const targets = Array.isArray(only) && only.length > 0 ? (only as unknown[]) : undefined;
  for (const id of targets ?? []) {
    if (!command.instanceIds.includes(String(id))) {
      throw new SsmApiError(
        "InvalidInstanceId",
        `Instance ${String(id)} is not a target of command ${commandId}.`,
      );
    }
  }
  return { command, targets };
}

/**
 * Options of `startLocalSsm`: every document valid ({@link validateDocument}); host
 * instance ids valid and distinct, host roots absolute; `deliveryTimeoutMs` and
 * `invocationVisibilityDelayMs` non-negative; `stepTimeoutCapSeconds` a positive integer.
 * @throws Error naming the first invalid option.
 */
export function validateOptions(options: LocalSsmOptions): void {
  for (const [name, doc] of Object.entries(options.documents)) {
    validateDocument(name, doc);
  }
  const seen = new Set<string>();
  for (const host of options.hosts) {
    if (!INSTANCE_ID.test(host.instanceId)) {
      throw new Error(`invalid instance id ${JSON.stringify(host.instanceId)}`);
    }
    if (seen.has(host.instanceId)) throw new Error(`duplicate instance id ${host.instanceId}`);
    seen.add(host.instanceId);
    if (!isAbsolute(host.hostRoot)) {
      throw new Error(`hostRoot of ${host.instanceId} must be absolute`);
    }
  }
  for (const option of ["deliveryTimeoutMs", "invocationVisibilityDelayMs"] as const) {
    const value = options[option];
    if (value !== undefined && !(value >= 0)) {
      throw new Error(`${option} must be a non-negative number`);
    }
  }
  const cap = options.stepTimeoutCapSeconds;
  if (cap !== undefined && !(Number.isInteger(cap) && cap > 0)) {
    throw new Error(`stepTimeoutCapSeconds must be a positive integer, got ${cap}`);
  }
}
