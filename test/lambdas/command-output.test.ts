import { GetObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { mockClient } from "aws-sdk-client-mock";
import { beforeEach, describe, expect, it } from "vitest";
import {
  INLINE_STDOUT_LIMIT,
  jobSnapshotSha256,
  parseLastJsonLine,
  parseS3Url,
  readResultLine,
  verifyJobSnapshot,
} from "../../lambdas/common/command-output.js";
import { awsError, BUCKET, jobs, s3Body, sdkClients } from "./helpers.js";

const s3Mock = mockClient(S3Client);

beforeEach(() => {
  s3Mock.reset();
});

describe("parseLastJsonLine", () => {
  it.each([
    [
      "the last line",
      'progress\n{"step":"stage","status":"STAGED"}\n',
      { step: "stage", status: "STAGED" },
    ],
    ["trailing blank lines", '{"a":1}\n\n  \n', { a: 1 }],
    ["no trailing newline", 'x\n{"a":2}', { a: 2 }],
    ["a cut line", '{"step":"switch","jobs":{"items":[["a",1', undefined],
    ["a non-object", "[1,2]\n", undefined],
    ["prose", "all good\n", undefined],
    ["nothing", "", undefined],
  ])("reads %s", (_, stdout, expected) => {
    // Act
    const line = parseLastJsonLine(stdout);

    // Assess
    expect(line).toEqual(expected);
  });
});

describe("parseS3Url", () => {
  it.each([
    [
      "https://s3.eu-west-1.amazonaws.com/my-bucket/commands/r/i/stdout",
      { bucket: "my-bucket", key: "commands/r/i/stdout" },
    ],
    ["https://s3.amazonaws.com/my-bucket/a/b/stdout", { bucket: "my-bucket", key: "a/b/stdout" }],
    [
      "https://my-bucket.s3.eu-west-1.amazonaws.com/a/b/stdout",
      { bucket: "my-bucket", key: "a/b/stdout" },
    ],
    ["https://my.dotted.bucket.s3.amazonaws.com/k", { bucket: "my.dotted.bucket", key: "k" }],
    [
      "https://s3.us-east-1.amazonaws.com/b/with%20space/stdout",
      { bucket: "b", key: "with space/stdout" },
    ],
  ])("reads %s", (url, expected) => {
    // Act
    const location = parseS3Url(url);

    // Assess
    expect(location).toEqual(expected);
  });

  it.each([
    "http://s3.amazonaws.com/b/k",
    "https://example.com/b/k",
    "https://s3.amazonaws.com/only-bucket",
    "not a url",
  ])("refuses %s", (url) => {
    // Act
    const location = parseS3Url(url);

    // Assess
    expect(location).toBeUndefined();
  });
});

describe("readResultLine", () => {
  const s3 = () => sdkClients().s3;
  const url = `https://s3.eu-west-1.amazonaws.com/${BUCKET}/commands/r-1/i-1/switch/stdout`;

  it("uses the inline stdout when it is complete", async () => {
    // Act
    const result = await readResultLine(
      { StandardOutputContent: '{"status":"READY"}\n', StandardOutputUrl: url },
      s3(),
      BUCKET,
    );

    // Assess
    expect(result).toEqual({ line: { status: "READY" }, source: "inline" });
    expect(s3Mock.calls()).toHaveLength(0);
  });

  it("reads S3 when the inline stdout reached the 24,000-character limit", async () => {
    // Prepare
    const full = `${"x".repeat(30_000)}\n{"status":"SWITCHED"}\n`;
    s3Mock.on(GetObjectCommand).resolves({ Body: s3Body(full) });

    // Act
    const result = await readResultLine(
      { StandardOutputContent: full.slice(0, INLINE_STDOUT_LIMIT), StandardOutputUrl: url },
      s3(),
      BUCKET,
    );

    // Assess
    expect(result).toEqual({ line: { status: "SWITCHED" }, source: "s3" });
    expect(s3Mock).toHaveReceivedCommandWith(GetObjectCommand, {
      Bucket: BUCKET,
      Key: "commands/r-1/i-1/switch/stdout",
    });
  });

  it("reads S3 when the last inline line does not parse", async () => {
    // Prepare
    s3Mock.on(GetObjectCommand).resolves({ Body: s3Body('{"status":"STAGED"}\n') });

    // Act
    const result = await readResultLine(
      { StandardOutputContent: "partial {", StandardOutputUrl: url },
      s3(),
      BUCKET,
    );

    // Assess
    expect(result?.source).toBe("s3");
  });

  it("refuses an output URL outside the output bucket", async () => {
    // Act
    const result = readResultLine(
      {
        StandardOutputContent: "x".repeat(INLINE_STDOUT_LIMIT),
        StandardOutputUrl: "https://s3.amazonaws.com/other/k",
      },
      s3(),
      BUCKET,
    );

    // Assess
    await expect(result).rejects.toMatchObject({
      name: "CommandOutputError",
      message: expect.stringContaining("bucket other"),
    });
  });

  it("raises CommandOutputError for a truncated stdout with no S3 copy", async () => {
    // Act
    const result = readResultLine(
      { StandardOutputContent: "x".repeat(INLINE_STDOUT_LIMIT), StandardOutputUrl: "" },
      s3(),
      BUCKET,
    );

    // Assess
    await expect(result).rejects.toMatchObject({
      name: "CommandOutputError",
      message: expect.stringContaining("truncated"),
    });
  });

  it("returns nothing when neither copy has a result line", async () => {
    // Prepare
    s3Mock.on(GetObjectCommand).rejects(awsError("NoSuchKey"));

    // Act
    const result = await readResultLine(
      { StandardOutputContent: "crashed\n", StandardOutputUrl: url },
      s3(),
      BUCKET,
    );

    // Assess
    expect(result).toBeUndefined();
  });
});

describe("job snapshot verification", () => {
  it("computes the sha256 of the snapshot file lines", () => {
    // Prepare
    const { items, sha256 } = jobs(3);

    // Act
    const digest = jobSnapshotSha256(items);

    // Assess
    expect(digest).toBe(sha256);
    // "job-0 1000 500000\njob-1 1001 500001\njob-2 1002 500002\n"
    expect(jobSnapshotSha256([])).toBe(
      "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    );
  });

  it("accepts matching jobs and refuses a sha256 or count mismatch", () => {
    // Prepare
    const { items, sha256 } = jobs(4);

    // Act
    const ok = () => verifyJobSnapshot({ count: 4, sha256, items });
    const badSha = () => verifyJobSnapshot({ count: 4, sha256: "0".repeat(64), items });
    const badCount = () => verifyJobSnapshot({ count: 5, sha256, items });
    const reordered = () => verifyJobSnapshot({ count: 4, sha256, items: [...items].reverse() });

    // Assess
    expect(ok).not.toThrow();
    expect(badSha).toThrow(
      expect.objectContaining({
        name: "CommandOutputError",
        message: expect.stringContaining("sha256 mismatch"),
      }),
    );
    expect(badCount).toThrow(expect.objectContaining({ name: "CommandOutputError" }));
    expect(reordered).toThrow(/sha256 mismatch/);
  });
});
