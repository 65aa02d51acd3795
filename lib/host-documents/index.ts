/**
 * Assembles the SSM command documents of the on-host steps from three kinds of files:
 * the templates (`host/documents/<step>.yaml`), the scripts (`host/scripts/<step>.sh`
 * and the `host/scripts/lib/*.sh` files it sources) and the agent profiles
 * (`profiles/*.profile`).
 *
 * Scripts stay files (shellcheck-clean, testable on their own); at synth each
 * document's `runCommand` becomes a small POSIX-sh bootstrap that writes them into a
 * private `mktemp -d` directory through quoted heredocs, runs the step script with
 * bash and removes the directory, keeping the script's exit code. A document carries
 * exactly the library files its step script sources (its `source "$here/lib/<file>"`
 * lines), laid out as in the repository. Parameters reach the script only as
 * `SSM_<name>` environment variables (ENV_VAR interpolation), never as text in the
 * commands.
 *
 * Used by the CDK stack and by local mode, so both run byte-identical commands.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parse } from "yaml";
import {
  artifactUrlPattern,
  encodeFilePath,
  isArtifactDir,
  PARAMETER_PATTERNS,
  PROFILE_NAME_PATTERN,
} from "../../lambdas/common/patterns.js";

/** The on-host steps, one document and one script each. */
export const HOST_STEPS = ["preflight", "stage", "switch", "rollback", "cleanup"] as const;

/** An on-host step. */
export type HostStep = (typeof HOST_STEPS)[number];

/** A parameter of an assembled document. */
export interface SsmDocumentParameter {
  type: "String";
  description: string;
  allowedPattern: string;
  interpolationType: "ENV_VAR";
  /** Set on `profile`: the shipped profile names. */
  allowedValues?: string[];
  /** What SSM sets when SendCommand leaves the parameter out (preflight's `mode`). */
  default?: string;
}

/** The single `aws:runShellScript` step of an assembled document. */
export interface SsmDocumentStep {
  action: "aws:runShellScript";
  name: HostStep;
  precondition: { StringEquals: ["platformType", "Linux"] };
  inputs: { timeoutSeconds: number; runCommand: string[] };
}

/** Content of an SSM Command document (schema 2.2), ready for `CfnDocument.content`. */
export interface SsmDocumentContent {
  schemaVersion: "2.2";
  description: string;
  parameters: Record<string, SsmDocumentParameter>;
  mainSteps: [SsmDocumentStep];
}

/** Options of {@link assembleHostDocuments}. */
export interface AssembleOptions {
  /** Directory of the step scripts and their `lib/`. @default `<repo>/host/scripts` */
  readonly scriptsDir?: string;
  /** Directory of the `*.profile` files. @default `<repo>/profiles` */
  readonly profilesDir?: string;
  /**
   * The profiles of `profilesDir` the documents ship and accept (the stack assembles
   * one set of documents per profile, see {@link assembleProfileDocuments}).
   * @default every profile of `profilesDir`
   */
  readonly profiles?: readonly string[];
  /** Directory of the `<step>.yaml` templates. @default `<repo>/host/documents` */
  readonly documentsDir?: string;
  /**
   * Directories on the host a file:// artifact may come from: the `artifactUrl`
   * pattern allows only these, and the step gets them as `AR_ARTIFACT_DIRS`
   * (`:`-separated) to re-check the resolved path. @default [] (file:// refused)
   */
  readonly artifactDirs?: readonly string[];
}

/** SSM's limit on a document's content (the CreateDocument quota). */
export const SSM_DOCUMENT_MAX_BYTES = 64 * 1024;

/** Parameter values count against the same quota when a command runs: kept free. */
export const PARAMETER_VALUES_RESERVE_BYTES = 1024;

/** Thrown when a template, script or profile cannot make a valid document. */
export class HostDocumentsError extends Error {
  override name = "HostDocumentsError";
}

const repoDir = (relative: string): string =>
  fileURLToPath(new URL(`../../${relative}`, import.meta.url));

const DEFAULT_SCRIPTS_DIR = repoDir("host/scripts");
const DEFAULT_PROFILES_DIR = repoDir("profiles");
const DEFAULT_DOCUMENTS_DIR = repoDir("host/documents");

/**
 * Names of the profiles in `profilesDir` (file names without `.profile`), sorted.
 *
 * @throws HostDocumentsError when a file name is not a valid profile name or there
 *   is no profile at all.
 */
export function listProfiles(profilesDir: string = DEFAULT_PROFILES_DIR): string[] {
  const names = readdirSync(profilesDir)
    .filter((file) => file.endsWith(".profile"))
    .map((file) => file.slice(0, -".profile".length))
    .sort();
  for (const name of names) {
    if (!PROFILE_NAME_PATTERN.test(name)) {
      throw new HostDocumentsError(
        `${join(profilesDir, `${name}.profile`)}: "${name}" does not match ${PROFILE_NAME_PATTERN.source}`,
      );
    }
  }
  if (names.length === 0) throw new HostDocumentsError(`no *.profile in ${profilesDir}`);
  return names;
}

/**
 * The five command documents, each with its bootstrap filled in, shipping the chosen
 * profiles (all of `profilesDir` by default) and `profile` restricted to them.
 *
 * @throws HostDocumentsError when a template is malformed (not schema 2.2, not one
 *   `aws:runShellScript` step named after the step, `runCommand` not empty, `{{` in
 *   its commands), a parameter lacks `description`, `allowedPattern` (the one of
 *   {@link PARAMETER_PATTERNS}) or `interpolationType: ENV_VAR`, the script reads
 *   other parameters than the document declares, its `source` lines do not make a
 *   closed, ordered set of `lib/` files (see {@link readLibrary}), a heredoc delimiter
 *   would collide with content, or a document exceeds SSM's 64 KB limit.
 */
export function assembleHostDocuments(
  opts: AssembleOptions = {},
): Record<HostStep, SsmDocumentContent> {
  const scriptsDir = opts.scriptsDir ?? DEFAULT_SCRIPTS_DIR;
  const profilesDir = opts.profilesDir ?? DEFAULT_PROFILES_DIR;
  const documentsDir = opts.documentsDir ?? DEFAULT_DOCUMENTS_DIR;
  const available = listProfiles(profilesDir);
  const chosen = opts.profiles ?? available;
  for (const name of chosen) {
    if (!available.includes(name)) {
      throw new HostDocumentsError(`profile "${name}" is not in ${profilesDir}`);
    }
  }
  if (chosen.length === 0) throw new HostDocumentsError("no profile to ship");
  const profiles = chosen.map((name) => ({
    name,
    text: profileData(readFileSync(join(profilesDir, `${name}.profile`), "utf8")),
  }));
  const documents = {} as Record<HostStep, SsmDocumentContent>;
  for (const step of HOST_STEPS) {
    const templatePath = join(documentsDir, `${step}.yaml`);
    const script = readFileSync(join(scriptsDir, `${step}.sh`), "utf8");
    const document = checkTemplate(step, templatePath, parse(readFileSync(templatePath, "utf8")));
    checkParameters(templatePath, document, script, step);
    const library = [...readLibrary(scriptsDir, step, script), ...readHelpers(scriptsDir, script)];
    const profileParameter = document.parameters.profile;
    if (profileParameter) profileParameter.allowedValues = profiles.map((p) => p.name);
    const artifactParameter = document.parameters.artifactUrl;
    const artifactDirs = artifactParameter === undefined ? undefined : (opts.artifactDirs ?? []);
    if (artifactParameter !== undefined && artifactDirs !== undefined) {
      for (const dir of artifactDirs) {
        if (!isArtifactDir(dir)) {
          throw new HostDocumentsError(`artifactDirs: "${dir}" is not an absolute directory`);
        }
      }
      artifactParameter.allowedPattern = artifactUrlPattern(artifactDirs);
    }
    document.mainSteps[0].inputs.runCommand = bootstrap(
      step,
      library,
      script,
      profiles,
      artifactDirs,
    );
    checkAssembled(templatePath, document);
    documents[step] = document;
  }
  return documents;
}

/**
 * A document as the stack deploys it: its `runCommand` lines as one string (the SSM
 * Agent joins the list with newlines into the script it runs, so the script is the
 * same). In the synthesized template a list is written one indented element per
 * script line; one string keeps the template under CloudFormation's 1,000,000 bytes
 * (docs/aws-fidelity.md).
 */
export function deployedContent(document: SsmDocumentContent): SsmDocumentContent {
  const [step] = document.mainSteps;
  const runCommand = [step.inputs.runCommand.join("\n")];
  return { ...document, mainSteps: [{ ...step, inputs: { ...step.inputs, runCommand } }] };
}

/**
 * A profile as shipped: without its comment and blank lines, which profile.sh skips
 * anyway (the repository keeps them; the documents need not carry them).
 */
export function profileData(text: string): string {
  return `${text
    .split("\n")
    .filter((line) => !/^\s*(#.*)?\r?$/.test(line))
    .join("\n")}\n`;
}

/**
 * A bash file as shipped: its comment lines emptied (the shebang kept), so that the
 * code fits the document while error line numbers still match the repository's file.
 * The scripts have no heredocs or multi-line strings whose lines could start with '#'.
 */
export function scriptData(text: string): string {
  return text
    .split("\n")
    .map((line, i) => (i > 0 && /^\s*#/.test(line) ? "" : line))
    .join("\n");
}

/**
 * One set of the five documents per profile of `profilesDir`, each shipping that
 * profile only and accepting only its name: a document's size does not grow with the
 * number of profiles deployed.
 *
 * @throws HostDocumentsError as {@link assembleHostDocuments}.
 */
export function assembleProfileDocuments(
  opts: Omit<AssembleOptions, "profiles"> = {},
): Record<string, Record<HostStep, SsmDocumentContent>> {
  const profiles = listProfiles(opts.profilesDir ?? DEFAULT_PROFILES_DIR);
  return Object.fromEntries(
    profiles.map((name) => [name, assembleHostDocuments({ ...opts, profiles: [name] })]),
  );
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function checkTemplate(step: HostStep, at: string, raw: unknown): SsmDocumentContent {
  const fail = (why: string): never => {
    throw new HostDocumentsError(`${at}: ${why}`);
  };
  if (!isRecord(raw)) return fail("not a YAML mapping");
  if (raw.schemaVersion !== "2.2") fail(`schemaVersion must be "2.2"`);
  if (typeof raw.description !== "string" || raw.description === "") fail("description missing");
  if (!isRecord(raw.parameters)) fail("parameters missing");
  const steps = raw.mainSteps;
  if (!Array.isArray(steps) || steps.length !== 1) return fail("expected exactly one mainStep");
  const main: unknown = steps[0];
  if (!isRecord(main) || main.action !== "aws:runShellScript" || main.name !== step) {
    fail(`the mainStep must be an aws:runShellScript named "${step}"`);
  }
  const inputs = isRecord(main) ? main.inputs : undefined;
  if (!isRecord(inputs) || !Array.isArray(inputs.runCommand) || inputs.runCommand.length > 0) {
    fail("inputs.runCommand must be [] in the template (the assembler fills it)");
  }
  if (JSON.stringify(steps).includes("{{")) {
    fail("'{{' in mainSteps: parameters reach the script as SSM_* variables only");
  }
  return raw as unknown as SsmDocumentContent;
}

function checkParameters(
  at: string,
  document: SsmDocumentContent,
  script: string,
  step: HostStep,
): void {
  const declared = Object.keys(document.parameters).sort();
  for (const name of declared) {
    const p: unknown = document.parameters[name];
    const where = `${at}: parameter ${name}`;
    if (!isRecord(p)) throw new HostDocumentsError(`${where} is not a mapping`);
    if (p.type !== "String") throw new HostDocumentsError(`${where}: type must be String`);
    if (p.interpolationType !== "ENV_VAR") {
      throw new HostDocumentsError(`${where}: interpolationType must be ENV_VAR`);
    }
    if (typeof p.description !== "string" || p.description === "") {
      throw new HostDocumentsError(`${where}: description missing`);
    }
    if (typeof p.allowedPattern !== "string") {
      throw new HostDocumentsError(`${where}: allowedPattern missing`);
    }
    const expected = PARAMETER_PATTERNS[name];
    if (expected === undefined) {
      throw new HostDocumentsError(`${where}: unknown parameter (no entry in PARAMETER_PATTERNS)`);
    }
    if (p.allowedPattern !== expected) {
      throw new HostDocumentsError(`${where}: allowedPattern must be ${expected}`);
    }
    if (p.default !== undefined && !new RegExp(expected).test(String(p.default))) {
      throw new HostDocumentsError(`${where}: default does not match its allowedPattern`);
    }
  }
  const read = [...script.matchAll(/^ar_param ([A-Za-z0-9]+)$/gm)].map((m) => m[1]).sort();
  if (JSON.stringify(read) !== JSON.stringify(declared)) {
    throw new HostDocumentsError(
      `${at}: declares [${declared.join(", ")}] but ${step}.sh reads [${read.join(", ")}]`,
    );
  }
  if (!document.parameters.profile) throw new HostDocumentsError(`${at}: no profile parameter`);
}

/** A step script's `source` line: a file of `lib/`, relative to the script's directory. */
const SOURCE_LINE = /^source "\$here\/lib\/([a-z][a-z0-9-]*\.sh)"$/;

/** Any `source` or `.` command, to refuse those {@link SOURCE_LINE} does not cover. */
const ANY_SOURCE = /^\s*(?:source|\.)\s/;

/** A library file's header line naming the library files it needs. */
const NEEDS_LINE = /^# Needs: (.*)$/m;

/** A library file the document carries: its name in `lib/` and its text. */
interface LibraryFile {
  readonly name: string;
  readonly text: string;
}

/**
 * The library files `<step>.sh` sources, in its order, read from `<scriptsDir>/lib/`.
 *
 * @throws HostDocumentsError when the script sources anything in another form, sources
 *   a file twice or one that does not exist, a library file sources anything itself or
 *   lacks its `# Needs:` header, or a file is sourced before one it needs.
 */
function readLibrary(scriptsDir: string, step: HostStep, script: string): LibraryFile[] {
  const at = join(scriptsDir, `${step}.sh`);
  const files: LibraryFile[] = [];
  for (const [index, line] of script.split("\n").entries()) {
    const name = SOURCE_LINE.exec(line)?.[1];
    if (name === undefined) {
      if (ANY_SOURCE.test(line)) {
        throw new HostDocumentsError(
          `${at}:${index + 1}: sources something other than a lib/ file ('source "$here/lib/<file>.sh"'): ${line.trim()}`,
        );
      }
      continue;
    }
    if (files.some((f) => f.name === name)) {
      throw new HostDocumentsError(`${at}:${index + 1}: sources lib/${name} twice`);
    }
    const path = join(scriptsDir, "lib", name);
    let text: string;
    try {
      text = readFileSync(path, "utf8");
    } catch {
      throw new HostDocumentsError(`${at}:${index + 1}: sources lib/${name}, which does not exist`);
    }
    const nested = text.split("\n").find((l) => ANY_SOURCE.test(l));
    if (nested !== undefined) {
      throw new HostDocumentsError(
        `${path}: a library file sources nothing (the step script sources what it needs): ${nested.trim()}`,
      );
    }
    const needs = NEEDS_LINE.exec(text)?.[1];
    if (needs === undefined) throw new HostDocumentsError(`${path}: no "# Needs:" header line`);
    for (const needed of needs.match(/[a-z][a-z0-9-]*\.sh/g) ?? []) {
      if (!files.some((f) => f.name === needed)) {
        throw new HostDocumentsError(
          `${at}:${index + 1}: sources lib/${name} without sourcing lib/${needed} before it, which lib/${name} needs`,
        );
      }
    }
    files.push({ name, text });
  }
  return files;
}

/** A helper program a step script installs or runs: `"$here/<name>.py"`, beside it. */
const HELPER_REFERENCE = /"\$here\/([a-z][a-z0-9-]*\.py)"/g;

/**
 * The helper programs `script` names (e.g. `socket-holder.py`), read from
 * `scriptsDir`; the bootstrap writes them beside the step script, as in the repository.
 */
function readHelpers(scriptsDir: string, script: string): LibraryFile[] {
  const names = [...new Set([...script.matchAll(HELPER_REFERENCE)].map((m) => m[1] ?? ""))];
  return names.map((name) => ({ name, text: readFileSync(join(scriptsDir, name), "utf8") }));
}

function checkAssembled(at: string, document: SsmDocumentContent): void {
  const commands = document.mainSteps[0].inputs.runCommand;
  const line = commands.findIndex((l) => l.includes("{{"));
  if (line >= 0) {
    throw new HostDocumentsError(
      `${at}: assembled runCommand line ${line + 1} contains '{{', which SSM would read as a parameter: ${commands[line]}`,
    );
  }
  const bytes = Buffer.byteLength(JSON.stringify(document), "utf8");
  const limit = SSM_DOCUMENT_MAX_BYTES - PARAMETER_VALUES_RESERVE_BYTES;
  if (bytes > limit) {
    throw new HostDocumentsError(
      `${at}: assembled document is ${bytes} bytes, over ${limit} (SSM's 64 KB limit minus ${PARAMETER_VALUES_RESERVE_BYTES} for parameter values)`,
    );
  }
}

/**
 * `cat > "$ar_dir/<path>"` of `content` through a quoted heredoc (no expansion). The
 * delimiter carries the content's hash; it is still checked against every line.
 */
function heredoc(path: string, content: string): string[] {
  const text = content.endsWith("\n") ? content.slice(0, -1) : content;
  const lines = text.split("\n");
  const tag = path.replace(/[^A-Za-z0-9]/g, "_").toUpperCase();
  const hash = createHash("sha256").update(content).digest("hex").slice(0, 16);
  const delimiter = `AR_EOF_${tag}_${hash}`;
  if (lines.includes(delimiter)) {
    throw new HostDocumentsError(`${path}: a line equals its heredoc delimiter ${delimiter}`);
  }
  return [`cat > "$ar_dir/${path}" <<'${delimiter}'`, ...lines, delimiter];
}

function bootstrap(
  step: HostStep,
  library: readonly LibraryFile[],
  script: string,
  profiles: readonly { name: string; text: string }[],
  artifactDirs: readonly string[] | undefined,
): string[] {
  // Percent-encoded (A-Za-z0-9._/-%): safe inside single quotes; stage.sh decodes them.
  const dirs =
    artifactDirs === undefined
      ? ""
      : `AR_ARTIFACT_DIRS='${artifactDirs.map(encodeFilePath).join(":")}' `;
  return [
    `# agent-rollout ${step}: unpacks ${step}.sh, the lib/ files it sources and the profiles`,
    "# into a private directory, runs the step with bash, removes the directory, keeps its",
    "# exit code. POSIX sh: the SSM Agent runs this with sh. Parameters arrive as SSM_* variables.",
    "set -eu",
    // biome-ignore lint/suspicious/noTemplateCurlyInString: shell parameter expansion, not a template
    'ar_dir=$(mktemp -d "${TMPDIR:-/tmp}/agent-rollout.XXXXXX")',
    "trap 'rm -rf -- \"$ar_dir\"' EXIT",
    'mkdir -- "$ar_dir/lib" "$ar_dir/profiles"',
    ...library.flatMap((f) =>
      f.name.endsWith(".sh")
        ? heredoc(`lib/${f.name}`, scriptData(f.text))
        : heredoc(f.name, f.text),
    ),
    ...heredoc(`${step}.sh`, scriptData(script)),
    ...profiles.flatMap((p) => heredoc(`profiles/${p.name}.profile`, p.text)),
    // A cancel or timeout signal goes to the step script, whose exit trap resumes the
    // agent; we wait for it before removing its files.
    `${dirs}AR_PROFILE_DIR="$ar_dir/profiles" bash "$ar_dir/${step}.sh" &`,
    "ar_pid=$!",
    "trap 'kill -TERM \"$ar_pid\" 2>/dev/null || :' HUP INT TERM",
    "ar_rc=0",
    'wait "$ar_pid" || ar_rc=$?',
    'while kill -0 "$ar_pid" 2>/dev/null; do ar_rc=0; wait "$ar_pid" || ar_rc=$?; done',
    'exit "$ar_rc"',
  ];
}
