import { spawn } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import {
  artifactUrlPattern,
  isArtifactUrl,
  isVersion,
  PARAMETER_PATTERNS,
  PATTERNS,
  PROFILE_NAME_PATTERN,
  ROLLOUT_ID_PATTERN,
  SHA256_PATTERN,
} from "../../lambdas/common/patterns.js";
import {
  assembleHostDocuments,
  assembleProfileDocuments,
  HOST_STEPS,
  HostDocumentsError,
  listProfiles,
  profileData,
  SSM_DOCUMENT_MAX_BYTES,
  scriptData,
} from "../../lib/host-documents/index.js";
import { PROFILES_DIR, parseStep, REPO_ROOT, run, SCRIPTS_DIR } from "./harness.js";

let work: string;

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), "ar-documents-test-"));
});

afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

/** `source` commands for host/scripts/lib files, in the given order. */
function sourceLib(files: readonly string[]): string {
  return files.map((f) => `source "${SCRIPTS_DIR}/lib/${f}.sh"; `).join("");
}

/** Runs bash code with the given lib files sourced (and nothing else); returns stdout. */
function withLib(
  files: readonly string[],
  code: string,
  env: Record<string, string> = {},
): Promise<string> {
  return run("bash", ["-c", `set -euo pipefail; ${sourceLib(files)}${code}`], {
    PATH: process.env.PATH,
    ...env,
  });
}

const PROFILE_LIB = ["result", "common", "profile"];

/** A copy of the documents directory with one template rewritten. */
function templatesWith(step: string, edit: (yaml: string) => string): string {
  const dir = mkdtempSync(join(work, "documents-"));
  cpSync(join(REPO_ROOT, "host", "documents"), dir, { recursive: true });
  const file = join(dir, `${step}.yaml`);
  writeFileSync(file, edit(readFileSync(file, "utf8")));
  return dir;
}

describe("assembled documents", () => {
  // The stack deploys one set per profile (assembleProfileDocuments): the demo profile's.
  const documents = assembleHostDocuments({ profiles: ["demo"] });
  const shipped = listProfiles();

  it("ships the three profiles", () => {
    expect(shipped).toEqual(["controlm-like", "demo", "fta-like"]);
  });

  it.each(HOST_STEPS)(
    "%s: every parameter has allowedPattern, ENV_VAR and a description",
    (step) => {
      const doc = documents[step];
      expect(doc.schemaVersion).toBe("2.2");
      expect(Object.keys(doc.parameters).length).toBeGreaterThan(1);
      for (const [name, p] of Object.entries(doc.parameters)) {
        expect(p.type).toBe("String");
        expect(p.interpolationType).toBe("ENV_VAR");
        // artifactUrl's is generated from the stack's artifactDirs (none here: https only).
        expect(p.allowedPattern).toBe(
          name === "artifactUrl" ? artifactUrlPattern([]) : PARAMETER_PATTERNS[name],
        );
        expect(p.description.length).toBeGreaterThan(10);
      }
      expect(doc.parameters.profile?.allowedValues).toEqual(["demo"]);
    },
  );

  it("allows file:// artifacts in the stage document only below the stack's artifactDirs", () => {
    // Act
    const none = documents.stage.parameters.artifactUrl?.allowedPattern ?? "";
    const stage = assembleHostDocuments({
      artifactDirs: ["/srv/artifacts", "/opt/a.b"],
      profiles: ["demo"],
    }).stage;
    const allowed = new RegExp(stage.parameters.artifactUrl?.allowedPattern ?? "");

    // Assess
    expect(new RegExp(none).test("file:///srv/artifacts/agent.tar.gz")).toBe(false);
    expect(new RegExp(none).test("https://a.example.com/agent.tar.gz")).toBe(true);
    for (const url of [
      "file:///srv/artifacts/agent.tar.gz",
      "file:///opt/a.b/x/agent.tar.gz",
      "https://a.example.com/agent.tar.gz",
    ]) {
      expect(allowed.test(url), url).toBe(true);
    }
    for (const url of [
      "file:///etc/shadow",
      "file:///proc/self/environ",
      "file:///dev/zero",
      "file:///srv/artifacts",
      "file:///srv/artifacts-x/agent.tar.gz",
      "file:///opt/aXb/agent.tar.gz",
    ]) {
      expect(allowed.test(url), url).toBe(false);
    }
    expect(stage.mainSteps[0].inputs.runCommand).toContain(
      'AR_ARTIFACT_DIRS=\'/srv/artifacts:/opt/a.b\' AR_PROFILE_DIR="$ar_dir/profiles" bash "$ar_dir/stage.sh" &',
    );
  });

  it.each(HOST_STEPS)(
    "%s: one Linux shell step, no '{{' in its commands, under the size limit",
    (step) => {
      const doc = documents[step];
      expect(doc.mainSteps).toHaveLength(1);
      const [main] = doc.mainSteps;
      expect(main.action).toBe("aws:runShellScript");
      expect(main.name).toBe(step);
      expect(main.precondition).toEqual({ StringEquals: ["platformType", "Linux"] });
      expect(main.inputs.timeoutSeconds).toBeGreaterThanOrEqual(300);
      expect(main.inputs.runCommand.filter((l) => l.includes("{{"))).toEqual([]);
      expect(main.inputs.runCommand.join("\n")).toContain(`bash "$ar_dir/${step}.sh"`);
      for (const perProfile of Object.values(assembleProfileDocuments())) {
        expect(Buffer.byteLength(JSON.stringify(perProfile[step]))).toBeLessThan(
          SSM_DOCUMENT_MAX_BYTES - 1024,
        );
      }
    },
  );

  it("unpacks the step script and its lib files (comment lines emptied) and its profile", async () => {
    // The bootstrap with its last lines (run + exit) replaced by a listing.
    const lines = documents.switch.mainSteps[0].inputs.runCommand;
    const cut = lines.findIndex((l) => l.startsWith('AR_PROFILE_DIR="$ar_dir/profiles" bash'));
    const out = join(work, "unpacked");
    const script = [...lines.slice(0, cut), `cp -r "$ar_dir" "${out}"`].join("\n");
    await run("sh", ["-c", script], { PATH: process.env.PATH });
    for (const file of ["result", "common", "profile", "releases", "lock", "hooks", "cutover"]) {
      expect(readFileSync(join(out, "lib", `${file}.sh`), "utf8")).toBe(
        scriptData(readFileSync(join(SCRIPTS_DIR, "lib", `${file}.sh`), "utf8")),
      );
    }
    expect(readFileSync(join(out, "switch.sh"), "utf8")).toBe(
      scriptData(readFileSync(join(SCRIPTS_DIR, "switch.sh"), "utf8")),
    );
    for (const name of ["demo"]) {
      expect(readFileSync(join(out, "profiles", `${name}.profile`), "utf8")).toBe(
        profileData(readFileSync(join(PROFILES_DIR, `${name}.profile`), "utf8")),
      );
    }
  });

  it("passes a cancel signal to the step script and keeps its exit code", async () => {
    // The step waits for the host lock held by a live process; SIGTERM to the
    // bootstrap must reach the script (exit 143) and its FAILED line.
    const root = mkdtempSync(join(work, "host-"));
    const state = join(root, "opt", "demo-agent", ".agent-rollout");
    const sleeper = spawn("sleep", ["30"], { stdio: "ignore" });
    const ticks = readFileSync(`/proc/${sleeper.pid}/stat`, "utf8").split(") ")[1]?.split(" ")[19];
    await run("mkdir", ["-p", join(state, "lock")]);
    writeFileSync(join(state, "lock", "owner"), `${sleeper.pid} ${ticks} switch other\n`);
    const script = `${documents.preflight.mainSteps[0].inputs.runCommand.join("\n")}\n`;
    const child = spawn("sh", ["-c", script], {
      env: {
        PATH: process.env.PATH,
        AR_HOST_ROOT: root,
        SSM_profile: "demo",
        SSM_targetVersion: "2.0.0",
        SSM_rolloutId: "r",
        SSM_mode: "check",
      },
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding("utf8").on("data", (d: string) => {
      stderr += d;
      if (stderr.includes("waiting for the host lock")) child.kill("SIGTERM");
    });
    const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
    sleeper.kill("SIGKILL");
    expect(code).toBe(143);
    expect(parseStep({ code: code ?? -1, stdout, stderr }).result).toEqual({
      step: "preflight",
      status: "FAILED",
      error: "interrupted by SIGTERM",
    });
  });

  it("fails at synth on '{{' in commands", () => {
    const documentsDir = templatesWith("stage", (y) =>
      y.replace("runCommand: []", "runCommand: []\n      workingDirectory: '{{ rolloutId }}'"),
    );
    expect(() => assembleHostDocuments({ documentsDir, profiles: ["demo"] })).toThrow(
      /stage\.yaml: '\{\{' in mainSteps: parameters reach the script as SSM_\* variables only$/,
    );
  });

  it("fails at synth on a parameter without allowedPattern or ENV_VAR", () => {
    const noPattern = templatesWith("switch", (y) => {
      const doc = parse(y);
      delete doc.parameters.rolloutId.allowedPattern;
      return stringify(doc);
    });
    const noEnvVar = templatesWith("cleanup", (y) => {
      const doc = parse(y);
      doc.parameters.profile.interpolationType = "NONE";
      return stringify(doc);
    });
    expect(() => assembleHostDocuments({ documentsDir: noPattern, profiles: ["demo"] })).toThrow(
      /switch\.yaml: parameter rolloutId: allowedPattern missing$/,
    );
    expect(() => assembleHostDocuments({ documentsDir: noEnvVar, profiles: ["demo"] })).toThrow(
      /cleanup\.yaml: parameter profile: interpolationType must be ENV_VAR$/,
    );
    expect(() => assembleHostDocuments({ documentsDir: noEnvVar, profiles: ["demo"] })).toThrow(
      HostDocumentsError,
    );
  });

  it("fails at synth when a document would exceed 64 KB", () => {
    const profilesDir = mkdtempSync(join(work, "profiles-"));
    cpSync(PROFILES_DIR, profilesDir, { recursive: true });
    writeFileSync(join(profilesDir, "huge.profile"), `description=${"x".repeat(40_000)}\n`);
    expect(() => assembleHostDocuments({ profilesDir })).toThrow(
      /preflight\.yaml: assembled document is \d+ bytes, over 64512 \(SSM's 64 KB limit/,
    );
  });

  it("fails at synth when the script reads other parameters than the document declares", () => {
    const documentsDir = templatesWith("rollback", (y) => {
      const doc = parse(y);
      delete doc.parameters.rolloutId;
      return stringify(doc);
    });
    expect(() => assembleHostDocuments({ documentsDir, profiles: ["demo"] })).toThrow(
      /rollback\.yaml: declares \[fromVersion, profile, toVersion\] but rollback\.sh reads \[fromVersion, profile, rolloutId, toVersion\]$/,
    );
  });
});

describe("host/scripts/lib", () => {
  it("parses every shipped profile with its defaults", async () => {
    const dump = async (name: string) =>
      Object.fromEntries(
        (
          await withLib(
            PROFILE_LIB,
            `ar_load_profile ${name}; for k in "\${!AR_P[@]}"; do printf '%s=%s\\n' "$k" "\${AR_P[$k]}"; done`,
            { AR_PROFILE_DIR: PROFILES_DIR },
          )
        )
          .trim()
          .split("\n")
          .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
      );
    const demo = await dump("demo");
    const controlm = await dump("controlm-like");
    const fta = await dump("fta-like");
    expect(demo).toMatchObject({
      install_root: "/opt/demo-agent",
      releases_dir: "releases",
      link_name: "current",
      previous_link_name: "previous",
      artifact: "tar.gz",
      health_timeout_s: "10",
      "hook.startListener": '"$AR_RELEASE/bin/agentctl" start',
      "hook.endpoint": "current/bin/agentctl endpoint",
      switch_mode: "overlap",
    });
    expect(controlm).toMatchObject({
      releases_dir: ".",
      release_name: "exe_{version}",
      link_name: "exe",
      previous_link_name: "exe_old",
    });
    expect(controlm["hook.suspend"]).toBe('"$AR_RELEASE/ctmag" server upgrade-started');
    expect(controlm.config_paths).toBe("data/CONFIG.dat share");
    expect(controlm["hook.available"]).toBe('"$AR_RELEASE/ctmag" server available');
    expect(fta).toMatchObject({
      artifact: "tar.gz",
      artifact_subdir: "fta-agents-{version}",
      "hook.stopListener": "usr/sbin/transfer-agents stop",
    });
    expect(fta["hook.configure"]).toMatch(/bin\/configure_node" etc\/site-info\.def FTA$/);
    expect(fta.hook_timeout_s).toBe("60");
    // Defaults of docs/contracts.md for keys a profile leaves out.
    expect(fta.switch_mode).toBe("stop-start");
    expect(demo).toMatchObject({
      artifact_subdir: "",
      config_paths: "",
      "hook.available": "",
      available_timeout_s: "30",
    });
    expect(Object.keys(demo)).toHaveLength(26);
  });

  it("maps versions to release directories and back, per layout", async () => {
    const out = await withLib(
      [...PROFILE_LIB, "releases"],
      [
        "ar_load_profile controlm-like; t=''; v=''",
        "ar_release_target t 9.0.21.200; echo $t",
        "ar_version_of_target v exe_9.0.22; echo $v",
        "ar_version_of_target v releases/9.0.22 || echo no",
        "ar_load_profile demo",
        "ar_release_target t 2.0.0-rc.1; echo $t",
        "ar_version_of_target v releases/2.0.0; echo $v",
        "ar_version_of_target v releases/x || echo no",
      ].join("\n"),
      { AR_PROFILE_DIR: PROFILES_DIR, AR_HOST_ROOT: "/srv/h1/" },
    ).catch((e: Error) => e.message);
    expect(out).toBe("exe_9.0.21.200\n9.0.22\nno\nreleases/2.0.0-rc.1\n2.0.0\nno\n");
  });

  it("rejects a malformed profile with the line and reason", async () => {
    const dir = mkdtempSync(join(work, "profiles-"));
    const cases: [string, string][] = [
      ["install_root=/opt/x\nbogus line\n", "profile p, line 2: expected key=value"],
      ["install_root=/opt/x\nhook.versoin=true\n", "profile p, line 2: unknown key 'hook.versoin'"],
      ["install_root=/opt/../etc\n", "required key 'hook.version' is missing"],
      [
        "install_root=/opt/x\nrelease_name=fixed\nhook.version=a\nhook.suspend=a\nhook.resume=a\nhook.stopListener=a\nhook.startListener=a\nhook.health=a\nhook.listJobs=a\n",
        "profile p: release_name must contain {version} once, plus [A-Za-z0-9._-]",
      ],
    ];
    for (const [text, error] of cases) {
      writeFileSync(join(dir, "p.profile"), text);
      const out = await run(
        "bash",
        ["-c", `${sourceLib(PROFILE_LIB)}ar_load_profile p; echo loaded`],
        {
          PATH: process.env.PATH,
          AR_PROFILE_DIR: dir,
        },
      ).catch((e: Error) => e.message);
      expect(out).toContain(JSON.stringify(error).slice(1, -1));
    }
  });

  it("escapes any string into valid JSON", async () => {
    const nasty =
      'quote " backslash \\ tab \t newline \n bell \u0007 esc \u001b del \u007f ünïcödé $(x) `y`';
    const out = await withLib(["result"], 'v=""; ar_json_str v "$NASTY"; printf "%s" "$v"', {
      NASTY: nasty,
    });
    expect(JSON.parse(out)).toBe(nasty);
  });

  it("reads start ticks of a process whose name has spaces and parentheses", async () => {
    const dir = mkdtempSync(join(work, "comm-"));
    const exe = join(dir, "a) b (c");
    cpSync("/bin/sleep", exe);
    const child = spawn(exe, ["30"], { stdio: "ignore" });
    try {
      const pid = child.pid ?? 0;
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const expected = stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
      expect(stat).toContain("(a) b (c)");
      const out = await withLib(
        ["result", "common"],
        `t=''; ar_start_ticks t ${pid}; echo "$t"; ar_start_ticks t 999999999 || echo gone`,
      );
      expect(out).toBe(`${expected}\ngone\n`);
    } finally {
      child.kill("SIGKILL");
    }
  });

  it("accepts and refuses the same values as patterns.ts", async () => {
    const samples: [string, string][] = [
      ["targetVersion", "1.0.0"],
      ["targetVersion", "10.2.3.4"],
      ["targetVersion", "2.0.0-rc.1"],
      ["targetVersion", "2.0.0+build.7"],
      ["targetVersion", "1.2.3.4.5"],
      ["targetVersion", "v1.0"],
      ["targetVersion", "1.0\n"],
      ["targetVersion", `1.0.0-${"a".repeat(32)}`],
      ["targetVersion", `1.0.0-${"a".repeat(33)}`],
      ["targetVersion", `1.0.0-${"a".repeat(30)}.${"b".repeat(30)}`],
      ["targetVersion", `${"1".repeat(62)}.0`],
      ["targetVersion", `${"1".repeat(63)}.0`],
      ["fromVersion", ""],
      ["fromVersion", "2.0.0-rc.1"],
      ["toVersion", "1.0"],
      ["toVersion", "v1.0"],
      ["toVersion", " "],
      ["toVersion", `${"1".repeat(63)}.0`],
      ["rolloutId", "exec-2024_01-a"],
      ["rolloutId", "a.b"],
      ["rolloutId", "x".repeat(80)],
      ["rolloutId", "x".repeat(81)],
      ["artifactSha256", "a".repeat(64)],
      ["artifactSha256", "A".repeat(64)],
      ["artifactUrl", "https://artifacts.example.com/agent/2.0.0/agent.tar.gz"],
      ["artifactUrl", "https://artifacts.example.com:8443/a%20b/x+y=z~.tar.gz"],
      ["artifactUrl", "https://artifacts.example.com"],
      ["artifactUrl", "https://artifacts.example.com/a/./b"],
      ["artifactUrl", "https://artifacts.example.com/a/%2E/b"],
      ["artifactUrl", "https://user@artifacts.example.com/a"],
      ["artifactUrl", "file:///srv/artifacts/agent-2.0.0.tar.gz"],
      ["artifactUrl", "file:///srv/../etc/shadow"],
      ["artifactUrl", "file:///srv/my%20work%2Bdir/agent.tar.gz"],
      ["artifactUrl", "file:///srv/my work+dir/agent.tar.gz"],
      ["artifactUrl", "file:///srv/a%2e%2e/x"],
      ["artifactUrl", "file:///srv/a%2E%2E/../x"],
      ["artifactUrl", "file:///srv/a%zz/x"],
      ["artifactUrl", "file://host/x"],
      ["artifactUrl", "ftp://example.com/x"],
      ["profile", "demo"],
      ["profile", "controlm-like"],
      ["profile", "Demo"],
      ["profile", `a${"b".repeat(31)}`],
      ["profile", `a${"b".repeat(32)}`],
      ["mode", "check"],
      ["mode", "jobCount"],
      ["mode", "jobcount"],
      ["mode", "check\n"],
      ["adoptRolloutId", ""],
      ["adoptRolloutId", "r-lost_1"],
      ["adoptRolloutId", "r lost"],
      ["adoptRolloutId", "x".repeat(81)],
    ];
    const tsVerdict = ([name, value]: [string, string]): boolean => {
      if (name === "targetVersion") return isVersion(value);
      if (name === "fromVersion" || name === "toVersion") return value === "" || isVersion(value);
      if (name === "rolloutId") return ROLLOUT_ID_PATTERN.test(value);
      if (name === "adoptRolloutId") return value === "" || ROLLOUT_ID_PATTERN.test(value);
      if (name === "artifactSha256") return SHA256_PATTERN.test(value);
      if (name === "artifactUrl") return isArtifactUrl(value);
      if (name === "mode") return new RegExp(PATTERNS.preflightMode).test(value);
      return PROFILE_NAME_PATTERN.test(value);
    };
    const bashVerdicts = await Promise.all(
      samples.map(([name, value]) =>
        run(
          "bash",
          ["-c", `${sourceLib(["result", "common"])}ar_param ${name} >/dev/null; echo ok`],
          {
            PATH: process.env.PATH,
            [`SSM_${name}`]: value,
          },
        ).then(
          () => true,
          () => false,
        ),
      ),
    );
    expect(bashVerdicts).toEqual(samples.map(tsVerdict));
    expect(bashVerdicts.filter(Boolean)).toHaveLength(23);
  });
});
