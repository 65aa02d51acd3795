/**
 * What each SSM document carries: its step script, exactly the `host/scripts/lib/`
 * files that script needs (transitively) and nothing else, under the size limit.
 *
 * "Needs" is worked out here from the code, independently of the assembler: a file
 * needs the library file that defines a function it calls or owns a global it reads
 * or sets (a global is owned by the file that assigns it at top level). The
 * assembler only reads `source` lines and `# Needs:` headers; these tests hold both
 * to the code.
 */
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  assembleHostDocuments,
  assembleProfileDocuments,
  HOST_STEPS,
  HostDocumentsError,
  listProfiles,
  PARAMETER_VALUES_RESERVE_BYTES,
  profileData,
  SSM_DOCUMENT_MAX_BYTES,
  scriptData,
} from "../../lib/host-documents/index.js";
import { PROFILES_DIR, SCRIPTS_DIR } from "./harness.js";

const LIB_DIR = join(SCRIPTS_DIR, "lib");

const libFiles = readdirSync(LIB_DIR)
  .filter((f) => f.endsWith(".sh"))
  .sort();

const read = (path: string): string => readFileSync(path, "utf8");

/** Function names a shell file defines. */
function definedFunctions(text: string): string[] {
  return [...text.matchAll(/^([a-z_][a-z0-9_]*)\(\) \{/gm)].map((m) => m[1] ?? "");
}

/** Globals a library file assigns at top level (outside any function). */
function ownedGlobals(text: string): string[] {
  const names: string[] = [];
  for (const line of text.split("\n")) {
    if (line === "" || /^[\s#}]/.test(line) || /^[a-z_][a-z0-9_]*\(\) \{/.test(line)) continue;
    for (const m of line.matchAll(/(?<![A-Za-z0-9_])([A-Z][A-Z0-9_]*)=/g)) names.push(m[1] ?? "");
  }
  return names;
}

/** Every word of a shell file's code (comment lines left out). */
function words(text: string): Set<string> {
  const code = text
    .split("\n")
    .filter((l) => !/^\s*#/.test(l))
    .join("\n");
  return new Set([...code.matchAll(/[A-Za-z_][A-Za-z0-9_]*/g)].map((m) => m[0]));
}

/** Symbol (function or owned global) -> the library file that provides it. */
const owner = new Map<string, string>();
for (const file of libFiles) {
  const text = read(join(LIB_DIR, file));
  for (const symbol of [...definedFunctions(text), ...ownedGlobals(text)]) {
    const previous = owner.get(symbol);
    if (previous !== undefined && previous !== file) {
      throw new Error(`${symbol} is provided by both lib/${previous} and lib/${file}`);
    }
    owner.set(symbol, file);
  }
}

/** The library files a shell text uses directly (other than `self`). */
function directNeeds(text: string, self?: string): string[] {
  const needed = new Set<string>();
  for (const word of words(text)) {
    const file = owner.get(word);
    if (file !== undefined && file !== self) needed.add(file);
  }
  return [...needed].sort();
}

/** Library files a shell text needs, directly or through other library files. */
function closure(text: string): string[] {
  const done = new Set<string>();
  const todo = directNeeds(text);
  for (let file = todo.pop(); file !== undefined; file = todo.pop()) {
    if (done.has(file)) continue;
    done.add(file);
    todo.push(...directNeeds(read(join(LIB_DIR, file)), file));
  }
  return [...done].sort();
}

/** The lib files a step script sources, in order. */
function sourced(script: string): string[] {
  return [...script.matchAll(/^source "\$here\/lib\/([^"]+)"$/gm)].map((m) => m[1] ?? "");
}

/** Path -> content of every file a document's bootstrap writes (quoted heredocs). */
function carried(runCommand: readonly string[]): Map<string, string> {
  const files = new Map<string, string>();
  for (let i = 0; i < runCommand.length; i++) {
    const m = /^cat > "\$ar_dir\/([^"]+)" <<'([A-Za-z0-9_]+)'$/.exec(runCommand[i] ?? "");
    if (!m?.[1] || !m[2]) continue;
    const end = runCommand.indexOf(m[2], i + 1);
    expect(end, `heredoc of ${m[1]} is closed`).toBeGreaterThan(i);
    files.set(m[1], `${runCommand.slice(i + 1, end).join("\n")}\n`);
    i = end;
  }
  return files;
}

describe("host/scripts/lib", () => {
  it.each(libFiles)("%s: its '# Needs:' header names exactly the files its code uses", (file) => {
    const text = read(join(LIB_DIR, file));
    const header = /^# Needs: (.*)$/m.exec(text)?.[1] ?? "";
    const declared = [...header.matchAll(/[a-z][a-z0-9-]*\.sh/g)].map((m) => m[0]).sort();
    expect(declared).toEqual(directNeeds(text, file));
  });

  it.each(libFiles)("%s: a header saying what it does, under 450 lines", (file) => {
    const lines = read(join(LIB_DIR, file)).split("\n");
    expect(lines[1]).toMatch(new RegExp(`^# lib/${file}: .+`));
    expect(lines.length).toBeLessThanOrEqual(450);
  });

  it("the cutover code is needed by switch and rollback only", () => {
    const users = HOST_STEPS.filter((step) =>
      closure(read(join(SCRIPTS_DIR, `${step}.sh`))).includes("cutover.sh"),
    );
    expect(users).toEqual(["switch", "rollback"]);
  });
});

describe.each(HOST_STEPS)("%s", (step) => {
  const script = read(join(SCRIPTS_DIR, `${step}.sh`));
  const needed = closure(script);

  it("sources exactly the lib files it needs, each after the files it needs", () => {
    const order = sourced(script);
    expect([...order].sort()).toEqual(needed);
    order.forEach((file, i) => {
      for (const dependency of directNeeds(read(join(LIB_DIR, file)), file)) {
        expect(order.indexOf(dependency), `${file} needs ${dependency} first`).toBeGreaterThan(-1);
        expect(order.indexOf(dependency), `${file} needs ${dependency} first`).toBeLessThan(i);
      }
    });
  });

  it.each(listProfiles())(
    "its %s document carries the script, exactly those lib files and that profile, byte for byte",
    (profile) => {
      const documents = assembleProfileDocuments()[profile];
      const files = carried(documents?.[step].mainSteps[0].inputs.runCommand ?? []);
      const expected = [
        ...needed.map((f) => `lib/${f}`),
        `${step}.sh`,
        ...(step === "stage" ? ["socket-holder.py"] : []),
        `profiles/${profile}.profile`,
      ].sort();
      expect([...files.keys()].sort()).toEqual(expected);
      for (const [path, content] of files) {
        if (path.startsWith("profiles/")) {
          expect(content, path).toBe(profileData(read(join(PROFILES_DIR, path.slice(9)))));
        } else if (path.endsWith(".sh")) {
          expect(content, path).toBe(scriptData(read(join(SCRIPTS_DIR, path))));
        } else expect(content, path).toBe(read(join(SCRIPTS_DIR, path)));
      }
    },
  );
});

describe("scriptData", () => {
  it("empties comment lines, keeps the shebang, the code and every line number", () => {
    const text = '#!/usr/bin/env bash\n# what it does\nx=1 # kept\n  # indented\necho "#no"\n';
    expect(scriptData(text)).toBe('#!/usr/bin/env bash\n\nx=1 # kept\n\necho "#no"\n');
  });
});

describe("document sizes", () => {
  it("each document stays under SSM's 64 KB, with room for parameter values", () => {
    const perProfile = Object.values(assembleProfileDocuments());
    const limit = SSM_DOCUMENT_MAX_BYTES - PARAMETER_VALUES_RESERVE_BYTES;
    const sizes = Object.fromEntries(
      HOST_STEPS.map((step) => [
        step,
        Math.max(...perProfile.map((d) => Buffer.byteLength(JSON.stringify(d[step]), "utf8"))),
      ]),
    );
    console.info(
      `largest assembled document bytes per step, one profile each (limit ${limit}): ${JSON.stringify(sizes)}`,
    );
    for (const step of HOST_STEPS) expect(sizes[step], step).toBeLessThan(limit);
    // Only the two cutover steps carry the cutover code.
    expect(sizes.preflight).toBeLessThan(sizes.switch ?? 0);
    expect(sizes.cleanup).toBeLessThan(sizes.rollback ?? 0);
  });
});

describe("assembly refuses a script whose sources the document cannot carry", () => {
  let work: string;

  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), "ar-bundles-test-"));
  });

  afterAll(() => {
    rmSync(work, { recursive: true, force: true });
  });

  /** A copy of host/scripts with one step script rewritten. */
  function scriptsWith(step: string, edit: (text: string) => string): string {
    const dir = mkdtempSync(join(work, "scripts-"));
    cpSync(SCRIPTS_DIR, dir, { recursive: true });
    const file = join(dir, `${step}.sh`);
    const before = read(file);
    const after = edit(before);
    expect(after).not.toBe(before);
    writeFileSync(file, after);
    return dir;
  }

  it("a lib file that does not exist", () => {
    const scriptsDir = scriptsWith("preflight", (t) =>
      t.replace('source "$here/lib/hooks.sh"\n', '$&source "$here/lib/extra.sh"\n'),
    );
    expect(() => assembleHostDocuments({ scriptsDir, profiles: ["demo"] })).toThrow(
      /preflight\.sh:\d+: sources lib\/extra\.sh, which does not exist$/,
    );
  });

  it("a lib file sourced before one it needs", () => {
    const scriptsDir = scriptsWith("switch", (t) =>
      t.replace(
        'source "$here/lib/hooks.sh"\nsource "$here/lib/config.sh"\nsource "$here/lib/cutover.sh"\n',
        'source "$here/lib/cutover.sh"\nsource "$here/lib/hooks.sh"\nsource "$here/lib/config.sh"\n',
      ),
    );
    expect(() => assembleHostDocuments({ scriptsDir, profiles: ["demo"] })).toThrow(
      /switch\.sh:\d+: sources lib\/cutover\.sh without sourcing lib\/hooks\.sh before it/,
    );
  });

  it("a file sourced in another form", () => {
    const scriptsDir = scriptsWith("cleanup", (t) =>
      t.replace('source "$here/lib/lock.sh"\n', '. "$here/lib/lock.sh"\n'),
    );
    expect(() => assembleHostDocuments({ scriptsDir, profiles: ["demo"] })).toThrow(
      HostDocumentsError,
    );
    expect(() => assembleHostDocuments({ scriptsDir, profiles: ["demo"] })).toThrow(
      /cleanup\.sh:\d+: sources something other than a lib\/ file/,
    );
  });
});
