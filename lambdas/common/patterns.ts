/**
 * Input patterns of the on-host steps (docs/contracts.md, "SSM documents").
 *
 * One source for the three places that check them: the documents' `allowedPattern`
 * (`lib/host-documents` refuses a template whose pattern differs), the Lambdas'
 * schemas (import the RegExps from here), and `host/scripts/lib/common.sh`, which
 * holds the same strings for bash (test/host compares both on the same samples).
 *
 * @module
 */

/** Pattern sources, exactly as they appear in the documents' `allowedPattern`. */
export const PATTERNS = {
  /** Up to four numeric parts and an optional `-`/`+` suffix. */
  version: "^[0-9]+(\\.[0-9]+){0,3}([-+][0-9A-Za-z.]{1,32})?$",
  /** A version or nothing: the Rollback document's optional expected versions. */
  optionalVersion: "^([0-9]+(\\.[0-9]+){0,3}([-+][0-9A-Za-z.]{1,32})?)?$",
  /** Step Functions execution name. */
  rolloutId: "^[A-Za-z0-9_-]{1,80}$",
  /** An execution name or nothing: the Switch document's rollout to adopt. */
  optionalRolloutId: "^([A-Za-z0-9_-]{1,80})?$",
  /** Lower-case hex sha256. */
  sha256: "^[a-f0-9]{64}$",
  /**
   * https with host and path, or an absolute local file whose path is percent-encoded
   * outside `A-Za-z0-9._/-` (see {@link encodeFilePath}); dot segments are refused apart.
   */
  artifactUrl:
    "^(https://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~%+=-]+)+|file:///([A-Za-z0-9._/-]|%[0-9A-F]{2})+)$",
  /** Profile file name without `.profile`. */
  profileName: "^[a-z][a-z0-9-]{0,31}$",
  /** What the preflight document does: the step's check, or LoadWave's job count. */
  preflightMode: "^(check|jobCount)$",
} as const;

/**
 * An allowed artifact directory: absolute, no trailing `/`, no empty segment, no
 * control character. Any other character (a space, `+`, `:`) is allowed: the file URL
 * and the host's `AR_ARTIFACT_DIRS` carry it percent-encoded ({@link encodeFilePath}).
 */
export const ARTIFACT_DIR_PATTERN = /^(\/[^/\p{Cc}]+)+$/u;

/** True when `dir` is an allowed artifact directory: {@link ARTIFACT_DIR_PATTERN}, no `.` or `..` segment. */
export function isArtifactDir(dir: string): boolean {
  return (
    ARTIFACT_DIR_PATTERN.test(dir) &&
    !dir.split("/").some((segment) => segment === "." || segment === "..")
  );
}

/**
 * A local path as the path of a `file://` URL: every UTF-8 byte outside
 * `A-Za-z0-9._/-` percent-encoded in upper-case hex (`/a b+c` -> `/a%20b%2Bc`), the
 * only form {@link PATTERNS.artifactUrl} and stage.sh accept.
 */
export function encodeFilePath(path: string): string {
  let out = "";
  for (const byte of new TextEncoder().encode(path)) {
    const char = String.fromCharCode(byte);
    out += /[A-Za-z0-9._/-]/.test(char)
      ? char
      : `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

/** The local path of a file URL's path (percent-decoded); undefined when malformed. */
export function decodeFilePath(urlPath: string): string | undefined {
  try {
    const path = decodeURIComponent(urlPath);
    return /\p{Cc}/u.test(path) ? undefined : path;
  } catch {
    return undefined;
  }
}

/** Escapes an encoded directory for a pattern (its only special character is `.`). */
const escapeDir = (dir: string): string => encodeFilePath(dir).replaceAll(".", "\\.");

/**
 * The stage document's `artifactUrl` pattern for a stack whose `artifactDirs` are
 * `dirs`: https as {@link PATTERNS.artifactUrl}, and file:// only below one of `dirs`
 * (none: no file:// at all). Generated at synth; the host re-checks the real path.
 */
export function artifactUrlPattern(dirs: readonly string[]): string {
  const https = "https://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~%+=-]+)+";
  if (dirs.length === 0) return `^(${https})$`;
  return `^(${https}|file://(${dirs.map(escapeDir).join("|")})/([A-Za-z0-9._/-]|%[0-9A-F]{2})+)$`;
}

/**
 * The directory of `dirs` a file:// `url` lies below, or undefined (also for an https
 * URL, or a URL with a dot segment).
 */
export function artifactDirOf(url: string, dirs: readonly string[]): string | undefined {
  if (!url.startsWith("file:///") || hasDotSegment(url)) return undefined;
  const path = decodeFilePath(url.slice("file://".length));
  if (path === undefined || path.split("/").some((s) => s === "." || s === "..")) return undefined;
  return dirs.find((dir) => path.startsWith(`${dir}/`));
}

/** Agent version. Also check {@link VERSION_MAX_LENGTH}. */
export const VERSION_PATTERN = new RegExp(PATTERNS.version);

/** Maximum length of a version (the pattern alone allows more). */
export const VERSION_MAX_LENGTH = 64;

/** Rollout id. */
export const ROLLOUT_ID_PATTERN = new RegExp(PATTERNS.rolloutId);

/** sha256 digest. */
export const SHA256_PATTERN = new RegExp(PATTERNS.sha256);

/** Artifact URL. A match may still hold a dot segment: use {@link isArtifactUrl}. */
export const ARTIFACT_URL_PATTERN = new RegExp(PATTERNS.artifactUrl);

/** Profile name. */
export const PROFILE_NAME_PATTERN = new RegExp(PATTERNS.profileName);

/**
 * True when a path segment of `url` is `.` or `..`, also percent-encoded (`%2e`):
 * the URL pattern admits them, the host scripts refuse them.
 */
export function hasDotSegment(url: string): boolean {
  const afterScheme = url.slice(url.indexOf("://") + 3);
  const path = afterScheme.slice(afterScheme.indexOf("/") + 1);
  return path
    .split("/")
    .map((segment) => segment.toLowerCase().replaceAll("%2e", "."))
    .some((segment) => segment === "." || segment === "..");
}

/** True when `url` is an artifact URL the stage step accepts. */
export function isArtifactUrl(url: string): boolean {
  return ARTIFACT_URL_PATTERN.test(url) && !hasDotSegment(url);
}

/** True when `version` is a version the steps accept. */
export function isVersion(version: string): boolean {
  return version.length <= VERSION_MAX_LENGTH && VERSION_PATTERN.test(version);
}

/**
 * `allowedPattern` of each document parameter, by parameter name. The assembler
 * requires every template parameter to be listed here with exactly this pattern.
 */
export const PARAMETER_PATTERNS: Readonly<Record<string, string>> = {
  profile: PATTERNS.profileName,
  targetVersion: PATTERNS.version,
  releaseVersion: PATTERNS.version,
  fromVersion: PATTERNS.optionalVersion,
  toVersion: PATTERNS.optionalVersion,
  rolloutId: PATTERNS.rolloutId,
  adoptRolloutId: PATTERNS.optionalRolloutId,
  artifactUrl: PATTERNS.artifactUrl,
  artifactSha256: PATTERNS.sha256,
  snapshotSha256: PATTERNS.sha256,
  mode: PATTERNS.preflightMode,
};
