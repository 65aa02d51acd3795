/**
 * The S3 side of command output: where the agent puts a step's full stdout/stderr,
 * the URL SSM reports for it, and a path-style GetObject/HeadObject so that the
 * real S3 client can read it back.
 */
import { createHash, randomUUID } from "node:crypto";
import { mkdir, readFile, stat, writeFile } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import { dirname, resolve, sep } from "node:path";

/** Plugin directory the agent uses in output keys for aws:runShellScript. */
const PLUGIN_DIR = "awsrunShellScript";

/** S3 bucket naming rules (the subset that matters for a path-safe directory name). */
export const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/** `<prefix>/<commandId>/<instanceId>/awsrunShellScript/<step>/<stream>`, as the agent uploads it. */
export function outputKey(
  prefix: string | undefined,
  commandId: string,
  instanceId: string,
  stepName: string,
  stream: "stdout" | "stderr",
): string {
  const parts = [commandId, instanceId, PLUGIN_DIR, stepName, stream];
  const trimmed = (prefix ?? "").replace(/^\/+|\/+$/g, "");
  return trimmed === "" ? parts.join("/") : [trimmed, ...parts].join("/");
}

/** The virtual-host-less S3 URL SSM reports in StandardOutputUrl/StandardErrorUrl. */
export function outputUrl(region: string, bucket: string, key: string): string {
  return `https://s3.${region}.amazonaws.com/${bucket}/${key.split("/").map(encodeURIComponent).join("/")}`;
}

/** Where an object lives on disk, or undefined when the key could escape the bucket directory. */
function objectPath(outputDir: string, bucket: string, key: string): string | undefined {
  if (!BUCKET_NAME.test(bucket) || key === "") return undefined;
  const segments = key.split("/");
  if (segments.some((s) => s === "" || s === "." || s === ".." || s.includes("\0"))) {
    return undefined;
  }
  const bucketDir = resolve(outputDir, bucket);
  const path = resolve(bucketDir, ...segments);
  return path.startsWith(bucketDir + sep) ? path : undefined;
}

/** Stores an object as the agent's upload would. */
export async function putObject(
  outputDir: string,
  bucket: string,
  key: string,
  body: string,
): Promise<void> {
  const path = objectPath(outputDir, bucket, key);
  if (!path) throw new Error(`refusing to store s3://${bucket}/${key}: not a plain key`);
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, body, "utf8");
}

function xmlEscape(text: string): string {
  return text.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
}

function s3Error(
  res: ServerResponse,
  status: number,
  code: string,
  message: string,
  extra: Record<string, string>,
  head: boolean,
): void {
  const requestId = randomUUID();
  const fields = Object.entries(extra)
    .map(([k, v]) => `<${k}>${xmlEscape(v)}</${k}>`)
    .join("");
  const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${xmlEscape(message)}</Message>${fields}<RequestId>${requestId}</RequestId></Error>`;
  res.writeHead(status, {
    "content-type": "application/xml",
    "x-amz-request-id": requestId,
    "content-length": Buffer.byteLength(body),
  });
  res.end(head ? undefined : body);
}

/**
 * Answers a path-style `GET|HEAD /<bucket>/<key>`; 404 with S3's `NoSuchBucket` or
 * `NoSuchKey` XML body when absent, so the SDK raises the matching exception.
 */
export async function serveObject(
  req: IncomingMessage,
  res: ServerResponse,
  outputDir: string,
): Promise<void> {
  const head = req.method === "HEAD";
  const url = new URL(req.url ?? "/", "http://localhost");
  const [rawBucket = "", ...rawKey] = url.pathname.slice(1).split("/");
  let bucket: string;
  let key: string;
  try {
    bucket = decodeURIComponent(rawBucket);
    key = rawKey.map(decodeURIComponent).join("/");
  } catch {
    s3Error(res, 400, "InvalidURI", "Couldn't parse the specified URI.", {}, head);
    return;
  }
  if (req.method !== "GET" && !head) {
    s3Error(
      res,
      405,
      "MethodNotAllowed",
      "The specified method is not allowed against this resource.",
      {},
      head,
    );
    return;
  }
  const bucketDir = BUCKET_NAME.test(bucket) ? resolve(outputDir, bucket) : undefined;
  const bucketExists = bucketDir
    ? await stat(bucketDir).then(
        (s) => s.isDirectory(),
        () => false,
      )
    : false;
  if (!bucketExists) {
    s3Error(
      res,
      404,
      "NoSuchBucket",
      "The specified bucket does not exist",
      { BucketName: bucket },
      head,
    );
    return;
  }
  const path = objectPath(outputDir, bucket, key);
  const info = path ? await stat(path).catch(() => undefined) : undefined;
  if (!path || !info?.isFile()) {
    s3Error(res, 404, "NoSuchKey", "The specified key does not exist.", { Key: key }, head);
    return;
  }
  const body = await readFile(path);
  res.writeHead(200, {
    "content-type": "text/plain; charset=utf-8",
    "content-length": body.length,
    etag: `"${createHash("md5").update(body).digest("hex")}"`,
    "last-modified": info.mtime.toUTCString(),
    "accept-ranges": "bytes",
    "x-amz-request-id": randomUUID(),
  });
  res.end(head ? undefined : body);
}
