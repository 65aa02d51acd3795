/**
 * The SSM operations the endpoint serves. Each validates its request
 * (validation.ts), acts on the command log and the simulated agent, and answers
 * with the views of views.ts.
 */
import type { SimulatedAgent } from "./agent.js";
import { type CommandLog, type CommandRecord, commandMatches } from "./commands.js";
import { validateDescribeInstanceInformation } from "./instance-validation.js";
import type { InstanceRegistry } from "./instances.js";
import { type Json, paginate } from "./protocol.js";
import type { Handlers } from "./transport.js";
import type { LocalSsmOptions } from "./types.js";
import {
  validateCancelCommand,
  validateGetCommandInvocation,
  validateListCommandInvocations,
  validateListCommands,
  validateSendCommand,
} from "./validation.js";
import { commandView, instanceView, invocationView, stepInvocationView } from "./views.js";

/**
 * How long an invocation stays unreadable after SendCommand unless
 * `invocationVisibilityDelayMs` says otherwise: short, but long enough that every
 * local run goes through the handlers' handling of `InvocationDoesNotExist`.
 */
export const DEFAULT_INVOCATION_VISIBILITY_DELAY_MS = 300;

/** What the operations work on. */
export interface OperationDeps {
  readonly options: Pick<
    LocalSsmOptions,
    "documents" | "deliveryTimeoutMs" | "invocationVisibilityDelayMs"
  >;
  readonly region: string;
  readonly instances: InstanceRegistry;
  readonly commands: CommandLog;
  readonly agent: SimulatedAgent;
}

function sendCommand(deps: OperationDeps, input: Json): Json {
  const { instances, commands, agent } = deps;
  const request = validateSendCommand(input, {
    documents: deps.options.documents,
    isManagedNode: (id) => instances.has(id),
  });
  const { doc, values } = request;
  const longestStepMs =
    Math.max(...doc.mainSteps.map((s) => agent.executionTimeoutSeconds(s, doc, values))) * 1000;
  const command = commands.add(
    request,
    request.instanceIds.map((id) => instances.get(id)),
    {
      deliveryTimeoutMs: deps.options.deliveryTimeoutMs ?? request.timeoutSeconds * 1000,
      longestStepMs,
    },
  );
  const response = { Command: commandView(command, deps.region) };
  agent.accept(command);
  return response;
}

function getCommandInvocation(deps: OperationDeps, input: Json): Json {
  const { invocation, step } = validateGetCommandInvocation(
    input,
    deps.commands,
    deps.options.invocationVisibilityDelayMs ?? DEFAULT_INVOCATION_VISIBILITY_DELAY_MS,
  );
  return stepInvocationView(invocation, step);
}

function listCommandInvocations(deps: OperationDeps, input: Json): Json {
  const { commandId, instanceId, limit, filters } = validateListCommandInvocations(input);
  const source =
    commandId === undefined
      ? deps.commands.newestInvocations()
      : (deps.commands.get(commandId)?.invocations ?? []);
  const matching = source.filter(
    (inv) =>
      (instanceId === undefined || inv.host.instanceId === instanceId) &&
      commandMatches(inv.command, inv.status, filters),
  );
  const scope = JSON.stringify([
    "ListCommandInvocations",
    commandId,
    instanceId,
    input.Filters ?? null,
  ]);
  const { page, next } = paginate(matching, input, limit, scope);
  return {
    CommandInvocations: page.map((inv) => invocationView(inv, input.Details === true, deps.region)),
    ...(next === undefined ? {} : { NextToken: next }),
  };
}

function listCommands(deps: OperationDeps, input: Json): Json {
  const { commandId, instanceId, limit, filters, command } = validateListCommands(
    input,
    deps.commands,
  );
  const source: CommandRecord[] = command ? [command] : deps.commands.newestCommands();
  const views = source
    .filter((c) => instanceId === undefined || c.instanceIds.includes(instanceId))
    .map((c) => ({ command: c, view: commandView(c, deps.region) }))
    .filter(({ command: c, view }) => commandMatches(c, view.Status as string, filters))
    .map(({ view }) => view);
  const scope = JSON.stringify(["ListCommands", commandId, instanceId, input.Filters ?? null]);
  const { page, next } = paginate(views, input, limit, scope);
  return { Commands: page, ...(next === undefined ? {} : { NextToken: next }) };
}

function cancelCommand(deps: OperationDeps, input: Json): Json {
  const { command, targets } = validateCancelCommand(input, deps.commands);
  if (targets === undefined) command.cancelRequested = true;
  for (const inv of command.invocations) {
    if (targets !== undefined && !targets.includes(inv.host.instanceId)) continue;
    deps.agent.cancel(inv);
  }
  return {};
}

function describeInstanceInformation(deps: OperationDeps, input: Json): Json {
  const { limit, filters } = validateDescribeInstanceInformation(input, (id) =>
    deps.instances.has(id),
  );
  const hosts = deps.instances.matching(filters);
  const scope = JSON.stringify([
    "DescribeInstanceInformation",
    input.InstanceInformationFilterList ?? null,
    input.Filters ?? null,
  ]);
  const { page, next } = paginate(hosts, input, limit, scope);
  const now = Date.now();
  return {
    InstanceInformationList: page.map((h) => instanceView(h, now)),
    ...(next === undefined ? {} : { NextToken: next }),
  };
}

/** The handlers of every supported operation, by name. */
export function ssmOperations(deps: OperationDeps): Handlers {
  return {
    SendCommand: (input) => sendCommand(deps, input),
    GetCommandInvocation: (input) => getCommandInvocation(deps, input),
    ListCommandInvocations: (input) => listCommandInvocations(deps, input),
    ListCommands: (input) => listCommands(deps, input),
    CancelCommand: (input) => cancelCommand(deps, input),
    DescribeInstanceInformation: (input) => describeInstanceInformation(deps, input),
  };
}
