import { GetObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { mockClient } from "aws-sdk-client-mock";
import { beforeEach, describe, expect, it } from "vitest";
import {
  findResultDigest,
  INLINE_STDOUT_LIMIT,
  jobSnapshotSha256,
  parseLastJsonLine,
  parseS3Url,
  readResultLine,
  verifyJobSnapshot,
} from "../../lambdas/common/command-output.js";
import { awsError, BUCKET, jobs, s3Body, scriptStdout, sdkClients } from "./helpers.js";

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
    const full = scriptStdout(`{"status":"SWITCHED","pad":"${"x".repeat(30_000)}"}`);
    s3Mock.on(GetObjectCommand).resolves({ Body: s3Body(full) });

    // Act
    const result = await readResultLine(
      { StandardOutputContent: full.slice(0, INLINE_STDOUT_LIMIT), StandardOutputUrl: url },
      s3(),
      BUCKET,
    );

    // Assess
    expect(result).toMatchObject({ line: { status: "SWITCHED" }, source: "s3" });
    expect(s3Mock).toHaveReceivedCommandWith(GetObjectCommand, {
      Bucket: BUCKET,
      Key: "commands/r-1/i-1/switch/stdout",
    });
  });

  it("reads S3 when the last inline line does not parse and the digest vouches for it", async () => {
    // Prepare
    const full = scriptStdout('{"status":"STAGED"}');
    s3Mock.on(GetObjectCommand).resolves({ Body: s3Body(full) });

    // Act
    const result = await readResultLine(
      { StandardOutputContent: `${full.split("\n")[0]}\npartial {`, StandardOutputUrl: url },
      s3(),
      BUCKET,
    );

    // Assess
    expect(result).toEqual({ line: { status: "STAGED" }, source: "s3" });
  });

  it("refuses an S3 copy whose result line is not the one the instance hashed", async () => {
    // Prepare: the instance printed one result; another host overwrote the object with
    // a valid-looking result of its own (same shape, other job snapshot).
    const genuine = scriptStdout(
      `{"step":"switch","status":"SWITCHED","jobs":{"count":1,"items":[["a",1,2]]},"pad":"${"x".repeat(30_000)}"}`,
    );
    const forged = scriptStdout(
      `{"step":"switch","status":"SWITCHED","jobs":{"count":0,"items":[]},"pad":"${"x".repeat(30_000)}"}`,
    );
    s3Mock.on(GetObjectCommand).resolves({ Body: s3Body(forged) });
    const expected = findResultDigest(genuine);

    // Act
    const result = readResultLine(
      { StandardOutputContent: genuine.slice(0, INLINE_STDOUT_LIMIT), StandardOutputUrl: url },
      s3(),
      BUCKET,
    );

    // Assess
    await expect(result).rejects.toMatchObject({
      name: "CommandOutputError",
      message: expect.stringMatching(
        new RegExp(`does not match the instance's inline result-sha256: expected ${expected}`),
      ),
    });
  });

  it("refuses an S3 copy that also forges the integrity line", async () => {
    // Prepare: a forger can print any digest in the object; only the inline one counts.
    const genuine = scriptStdout(`{"status":"SWITCHED","pad":"${"a".repeat(30_000)}"}`);
    const forged = scriptStdout(`{"status":"SWITCHED","pad":"${"b".repeat(30_000)}"}`);
    s3Mock.on(GetObjectCommand).resolves({ Body: s3Body(forged) });

    // Act
    const result = readResultLine(
      { StandardOutputContent: genuine.slice(0, INLINE_STDOUT_LIMIT), StandardOutputUrl: url },
      s3(),
      BUCKET,
    );

    // Assess
    await expect(result).rejects.toMatchObject({ name: "CommandOutputError" });
  });

  it("does not read S3 when the cut inline stdout has no integrity line", async () => {
    // Prepare
    s3Mock.on(GetObjectCommand).resolves({ Body: s3Body('{"status":"SWITCHED"}\n') });

    // Act
    const result = readResultLine(
      { StandardOutputContent: "x".repeat(INLINE_STDOUT_LIMIT), StandardOutputUrl: url },
      s3(),
      BUCKET,
    );

    // Assess
    await expect(result).rejects.toMatchObject({
      name: "CommandOutputError",
      message: expect.stringContaining("no result-sha256 line"),
    });
    expect(s3Mock.calls()).toHaveLength(0);
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
      {
        StandardOutputContent: `result-sha256 ${"0".repeat(64)}\ncrashed\n`,
        StandardOutputUrl: url,
      },
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
