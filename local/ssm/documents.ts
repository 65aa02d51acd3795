/**
 * Command document handling: the checks SSM makes when a document is created, the
 * parameter validation SendCommand makes, and what the agent does with parameters
 * before it runs a step (defaults, `ENV_VAR` interpolation, `{{ name }}` text
 * interpolation, step timeout).
 */
import { SsmApiError } from "./errors.js";
import type { SsmDocumentContent, SsmDocumentParameter, SsmDocumentStep } from "./types.js";

/** The only plugin the endpoint runs. */
export const RUN_SHELL_SCRIPT = "aws:runShellScript";

/** Parameter types whose values the endpoint knows how to check. */
const SUPPORTED_TYPES = new Set(["String", "StringList", "Integer", "Boolean"]);

/** SSM Agent defaults and bounds for a step's `timeoutSeconds` (pluginutil.ValidateExecutionTimeout). */
const DEFAULT_EXECUTION_TIMEOUT_S = 3600;
const MIN_EXECUTION_TIMEOUT_S = 5;
const MAX_EXECUTION_TIMEOUT_S = 172_800;

/** Platform the simulated hosts report (DescribeInstanceInformation and preconditions). */
export const PLATFORM_TYPE = "Linux";

const DOCUMENT_NAME = /^[a-zA-Z0-9_\-.]{3,128}$/;
const PARAMETER_NAME = /^[a-zA-Z0-9_]+$/;
const PLACEHOLDER = /\{\{\s*([A-Za-z0-9_.:/-]+)\s*\}\}/g;

/** Parameter name -> values, defaults applied. */
export type ParameterValues = ReadonlyMap<string, readonly string[]>;

function compilePattern(pattern: string, where: string): RegExp {
  try {
    return new RegExp(pattern);
  } catch (error) {
    throw new Error(
      `${where}: allowedPattern ${JSON.stringify(pattern)} is not a valid regular expression: ${String(error)}`,
    );
  }
}

/** Why `value` breaks a parameter's constraints, or undefined when it satisfies them. */
function constraintViolation(decl: SsmDocumentParameter, value: string): string | undefined {
  if (decl.type === "Integer" && !/^-?[0-9]+$/.test(value)) return "Member must be an integer";
  if (decl.type === "Boolean" && value !== "true" && value !== "false") {
    return "Member must be true or false";
  }
  if (decl.allowedPattern !== undefined && !new RegExp(decl.allowedPattern).test(value)) {
    return `Member must satisfy regular expression pattern: ${decl.allowedPattern}`;
  }
  if (decl.allowedValues !== undefined && !decl.allowedValues.includes(value)) {
    return `Member must satisfy enum value set: [${decl.allowedValues.join(", ")}]`;
  }
  return undefined;
}

function checkPrecondition(precondition: unknown, where: string): void {
  if (precondition === undefined) return;
  const operands = (precondition as { StringEquals?: unknown } | null)?.StringEquals;
  const valid =
    typeof precondition === "object" &&
    precondition !== null &&
    Object.keys(precondition).length === 1 &&
    Array.isArray(operands) &&
    operands.length === 2 &&
    operands.every((o) => typeof o === "string") &&
    operands.includes("platformType");
  if (!valid) {
    throw new Error(
      `${where}: only the precondition {"StringEquals": ["platformType", "<platform>"]} is supported`,
    );
  }
}

/**
 * Checks a document the way CreateDocument would, restricted to what the endpoint
 * can run, so that a bad document fails when the endpoint starts rather than on
 * the first command.
 * @throws Error naming the document and what is wrong.
 */
export function validateDocument(name: string, doc: SsmDocumentContent): void {
  const where = `document ${JSON.stringify(name)}`;
  if (!DOCUMENT_NAME.test(name)) throw new Error(`${where}: invalid document name`);
  if (doc.schemaVersion !== "2.2" && doc.schemaVersion !== "2.0") {
    throw new Error(
      `${where}: schemaVersion ${JSON.stringify(doc.schemaVersion)} is not supported (2.2 or 2.0)`,
    );
  }
  for (const [param, decl] of Object.entries(doc.parameters ?? {})) {
    const at = `${where}, parameter ${JSON.stringify(param)}`;
    if (!PARAMETER_NAME.test(param)) throw new Error(`${at}: invalid parameter name`);
    if (!SUPPORTED_TYPES.has(decl.type)) {
      throw new Error(`${at}: type ${JSON.stringify(decl.type)} is not supported`);
    }
    if (decl.interpolationType !== undefined && decl.interpolationType !== "ENV_VAR") {
      throw new Error(`${at}: interpolationType must be ENV_VAR when present`);
    }
    if (decl.interpolationType === "ENV_VAR" && decl.type === "StringList") {
      throw new Error(`${at}: ENV_VAR interpolation of a StringList is not supported`);
    }
    if (decl.allowedPattern !== undefined) compilePattern(decl.allowedPattern, at);
    if (decl.default !== undefined) {
      const violation = constraintViolation(decl, decl.default);
      if (violation) {
        throw new Error(
          `${at}: default ${JSON.stringify(decl.default)} breaks its constraint: ${violation}`,
        );
      }
    }
  }
  if (!Array.isArray(doc.mainSteps) || doc.mainSteps.length === 0) {
    throw new Error(`${where}: mainSteps must list at least one step`);
  }
  const names = new Set<string>();
  for (const step of doc.mainSteps) {
    const at = `${where}, step ${JSON.stringify(step.name)}`;
    if (typeof step.name !== "string" || !/^[a-zA-Z0-9_.-]{1,100}$/.test(step.name)) {
      throw new Error(`${at}: invalid step name`);
    }
    if (names.has(step.name)) throw new Error(`${at}: duplicate step name`);
    names.add(step.name);
    if (step.action !== RUN_SHELL_SCRIPT) {
      throw new Error(
        `${at}: action ${JSON.stringify(step.action)} is not supported (only ${RUN_SHELL_SCRIPT})`,
      );
    }
    if (
      !Array.isArray(step.inputs?.runCommand) ||
      !step.inputs.runCommand.every((l: unknown) => typeof l === "string")
    ) {
      throw new Error(`${at}: inputs.runCommand must be a list of strings`);
    }
    checkPrecondition(step.precondition, at);
  }
}

function invalidParameters(message: string): SsmApiError {
  return new SsmApiError("InvalidParameters", message);
}

/**
 * Validates SendCommand `Parameters` against the document like SSM does (unknown
 * parameter, missing required one, wrong arity, pattern and allowed values) and
 * returns every declared parameter with defaults applied.
 * @throws SsmApiError InvalidParameters naming the offending parameter.
 */
export function resolveParameters(doc: SsmDocumentContent, given: unknown): ParameterValues {
  const declared = doc.parameters ?? {};
  if (
    given !== undefined &&
    (typeof given !== "object" || given === null || Array.isArray(given))
  ) {
    throw invalidParameters("Parameters must be a map of parameter name to a list of values.");
  }
  const supplied = (given ?? {}) as Record<string, unknown>;
  for (const [name, values] of Object.entries(supplied)) {
    if (!Object.hasOwn(declared, name)) {
      throw invalidParameters(`Parameter "${name}" is not defined in the document.`);
    }
    if (!Array.isArray(values) || !values.every((v) => typeof v === "string")) {
      throw invalidParameters(`Parameter "${name}" must be a list of strings.`);
    }
  }
  const resolved = new Map<string, readonly string[]>();
  for (const [name, decl] of Object.entries(declared)) {
    const values = supplied[name] as string[] | undefined;
    if (values === undefined) {
      if (decl.default === undefined) {
        throw invalidParameters(`Parameter "${name}" is required but was not provided.`);
      }
      resolved.set(name, [decl.default]);
      continue;
    }
    if (decl.type !== "StringList" && values.length !== 1) {
      throw invalidParameters(
        `Parameter "${name}" of type ${decl.type} takes exactly one value, got ${values.length}.`,
      );
    }
    for (const value of values) {
      const violation = constraintViolation(decl, value);
      if (violation) {
        throw invalidParameters(
          `Parameter "${name}" "${value}" failed to satisfy constraint: ${violation}`,
        );
      }
    }
    resolved.set(name, values);
  }
  return resolved;
}

/** `SSM_<name>` variables for the parameters declared with `interpolationType: ENV_VAR`. */
export function parameterEnvironment(
  doc: SsmDocumentContent,
  values: ParameterValues,
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, decl] of Object.entries(doc.parameters ?? {})) {
    if (decl.interpolationType === "ENV_VAR") env[`SSM_${name}`] = values.get(name)?.[0] ?? "";
  }
  return env;
}

/**
 * Replaces `{{ name }}` with the value of a parameter declared without ENV_VAR.
 * ENV_VAR parameters, `{{ssm:...}}` references and unknown names are left as they
 * are: the value of an ENV_VAR parameter reaches the script only through its
 * environment variable, so it can never be read as shell code.
 */
function interpolate(text: string, doc: SsmDocumentContent, values: ParameterValues): string {
  return text.replace(PLACEHOLDER, (whole, name: string) => {
    const decl = doc.parameters?.[name];
    const value = values.get(name);
    if (!decl || decl.interpolationType === "ENV_VAR" || value === undefined) return whole;
    return value.join(",");
  });
}

/**
 * The script a step runs: its `runCommand` lines after text interpolation, joined
 * with newlines as the agent writes `_script.sh`. A line that is nothing but the
 * placeholder of a StringList parameter expands to one line per value, which is how
 * `AWS-RunShellScript`'s `commands` parameter works.
 */
export function renderScript(
  step: SsmDocumentStep,
  doc: SsmDocumentContent,
  values: ParameterValues,
): string {
  const lines: string[] = [];
  for (const line of step.inputs.runCommand) {
    const whole = /^\s*\{\{\s*([A-Za-z0-9_]+)\s*\}\}\s*$/.exec(line);
    const decl = whole?.[1] === undefined ? undefined : doc.parameters?.[whole[1]];
    if (
      whole?.[1] !== undefined &&
      decl?.type === "StringList" &&
      decl.interpolationType !== "ENV_VAR"
    ) {
      lines.push(...(values.get(whole[1]) ?? []));
    } else {
      lines.push(interpolate(line, doc, values));
    }
  }
  return `${lines.join("\n")}\n`;
}

/** A step's working directory after interpolation, or undefined when not set. */
export function workingDirectory(
  step: SsmDocumentStep,
  doc: SsmDocumentContent,
  values: ParameterValues,
): string | undefined {
  const raw = step.inputs.workingDirectory;
  if (raw === undefined) return undefined;
  const dir = interpolate(raw, doc, values).trim();
  return dir === "" ? undefined : dir;
}

/**
 * A step's execution timeout in seconds, as the agent computes it: integer or
 * numeric string (fractions dropped), anything unparsable or outside 5..172800 s
 * becomes the default 3600 s.
 */
export function stepTimeoutSeconds(
  step: SsmDocumentStep,
  doc: SsmDocumentContent,
  values: ParameterValues,
): number {
  const raw = step.inputs.timeoutSeconds;
  let seconds = Number.NaN;
  if (typeof raw === "number") {
    seconds = Math.trunc(raw);
  } else if (typeof raw === "string") {
    const text = interpolate(raw, doc, values).trim();
    if (/^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$/.test(text)) {
      seconds = Math.trunc(Number(text));
    }
  }
  if (
    !Number.isFinite(seconds) ||
    seconds < MIN_EXECUTION_TIMEOUT_S ||
    seconds > MAX_EXECUTION_TIMEOUT_S
  ) {
    return DEFAULT_EXECUTION_TIMEOUT_S;
  }
  return seconds;
}

/** Whether a step's precondition holds on a simulated host (platform Linux). */
export function preconditionHolds(step: SsmDocumentStep): boolean {
  if (step.precondition === undefined) return true;
  const [a, b] = (step.precondition as { StringEquals: [string, string] }).StringEquals;
  const expected = a === "platformType" ? b : a;
  return expected === PLATFORM_TYPE;
}
