import { describe, expect, it } from "vitest";
import { parseCommandLine } from "../../cli/args.js";
import { EXIT } from "../../cli/errors.js";
import { explain, main } from "../../cli/main.js";
import { UsageError } from "../../local/usage-error.js";

const usage = (argv: string[]) => {
  try {
    parseCommandLine(argv);
  } catch (error) {
    expect(error).toBeInstanceOf(UsageError);
    return (error as Error).message;
  }
  throw new Error(`no usage error for ${argv.join(" ")}`);
};

describe("the command line", () => {
  it("targets the AgentRollout stack by default, another stack and region, or a local dir", () => {
    expect(parseCommandLine(["list"])).toEqual({
      command: { name: "list", limit: 20 },
      target: { kind: "aws", stack: "AgentRollout" },
    });
    expect(parseCommandLine(["status", "r-1", "--stack", "Prod", "--region", "eu-west-1"])).toEqual(
      {
        command: { name: "status", rolloutId: "r-1" },
        target: { kind: "aws", stack: "Prod", region: "eu-west-1" },
      },
    );
    expect(parseCommandLine(["--local", "/tmp/wd", "report", "r-2", "--html", "out.html"])).toEqual(
      {
        command: { name: "report", rolloutId: "r-2", html: "out.html" },
        target: { kind: "local", dir: "/tmp/wd" },
      },
    );
  });

  it("parses start's input flags, rollout id and local job count", () => {
    const { command } = parseCommandLine([
      "start",
      ...["--input", "in.json", "--target-version", "2.0.0", "--tag", "env=prod", "--tag", "app=a"],
      ...["--batch-size", "5", "--dry-run", "--rollout-id", "r-9", "--watch"],
    ]);
    expect(command).toEqual({
      name: "start",
      flags: {
        input: "in.json",
        "target-version": "2.0.0",
        tag: ["env=prod", "app=a"],
        "batch-size": "5",
        "dry-run": true,
      },
      rolloutId: "r-9",
      watch: true,
      jobsPerHost: 3,
    });
  });

  it("parses rollback ROLLOUT and its options", () => {
    expect(
      parseCommandLine(["rollback", "r-1", "--rollout-id", "r-back", "--dry-run"]).command,
    ).toEqual({
      name: "rollback",
      target: "r-1",
      rolloutId: "r-back",
      dryRun: true,
      watch: false,
      jobsPerHost: 3,
    });
    expect(usage(["rollback"])).toBe("usage: rollback ROLLOUT");
    expect(usage(["rollback", "r-1", "--batch-size", "2"])).toBe(
      "rollback does not take --batch-size",
    );
    expect(usage(["--local", "d", "rollback", "r-1", "--watch"])).toMatch(
      /^--watch is for a deployed stack/,
    );
  });

  it("refuses what it cannot run, saying what is wrong", () => {
    expect(usage(["statu"])).toMatch(/^unknown command "statu" \(expected start, status/);
    expect(usage(["list", "--html", "x"])).toBe("list does not take --html");
    expect(usage(["report", "r-1"])).toBe("report needs --html FILE");
    expect(usage(["report", "--html", "x"])).toBe("usage: report ROLLOUT");
    expect(usage(["cleanup"])).toBe("cleanup runs the nightly cleanup now: say so with --now");
    expect(usage(["unlock"])).toBe("usage: unlock FLEET|HOST");
    expect(usage(["list", "--limit", "ten"])).toBe('--limit must be a whole number, got "ten"');
    expect(usage(["list", "--limit", "0"])).toBe("--limit must be between 1 and 1000, got 0");
    expect(usage(["list", "--stack", "A", "--local", "d"])).toBe(
      "--stack and --local name two places: give one",
    );
    expect(usage(["--local", "d", "start", "--watch"])).toMatch(/^--watch is for a deployed stack/);
    expect(usage(["list", "--bogus"])).toMatch(/Unknown option '--bogus'/);
  });

  it("exits 2 on a usage error and prints one line, no stack trace", async () => {
    // Prepare
    const written: string[] = [];
    const write = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((chunk: string) => {
      written.push(chunk);
      return true;
    }) as typeof process.stderr.write;

    // Act
    let code: number;
    try {
      code = await main(["nope"]);
    } finally {
      process.stderr.write = write;
    }

    // Assess
    expect(code).toBe(EXIT.USAGE);
    expect(written.join("")).toBe(
      'agent-rollout: unknown command "nope" (expected start, status, watch, list, report, cleanup, unlock, approve, reject, rollback)\nTry: npx agent-rollout --help\n',
    );
  });

  it("explains AWS and other errors as one line with their exit code", () => {
    const noCredentials = Object.assign(new Error("Could not load credentials"), {
      name: "CredentialsProviderError",
    });
    const denied = Object.assign(new Error("not authorized"), {
      name: "AccessDeniedException",
      $metadata: {},
    });
    const throttled = Object.assign(new Error("slow down"), {
      name: "ThrottlingException",
      $metadata: {},
    });
    expect(explain(noCredentials)).toEqual({
      message:
        "no AWS credentials: set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (or use --local DIR)",
      code: EXIT.NO_ACCESS,
    });
    expect(explain(denied)).toEqual({
      message: "AWS refused: AccessDeniedException: not authorized",
      code: EXIT.NO_ACCESS,
    });
    expect(explain(throttled)).toEqual({
      message: "AWS error: ThrottlingException: slow down",
      code: 1,
    });
    expect(explain(new TypeError("boom"))).toEqual({ message: "TypeError: boom", code: 1 });
  });
});
