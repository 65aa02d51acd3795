/**
 * What SSM keeps of a step's output in API responses (the full output only goes to
 * S3). The limits and markers are those of the SSM agent (iohandler.DefaultOutputConfig,
 * pluginutil.StringPrefix, iohandler.TruncateOutput); lengths are counted in UTF-16
 * code units where the agent counts bytes, which is the same for ASCII output.
 */

/** GetCommandInvocation keeps the first 24,000 characters of stdout and 8,000 of stderr. */
export const MAX_STDOUT_CONTENT = 24_000;
export const MAX_STDERR_CONTENT = 8_000;
/** The agent ends a truncated StandardOutputContent/StandardErrorContent with this suffix. */
export const TRUNCATED_SUFFIX = "--output truncated--";
/** CommandPlugin.Output (ListCommandInvocations with Details) holds 2,500 characters of stdout + stderr. */
const MAX_PLUGIN_OUTPUT = 2_500;

/** pluginutil.StringPrefix: a string at or over the limit is cut so that prefix + suffix is exactly the limit. */
export function stringPrefix(text: string, max: number): string {
  if (text.length < max) return text;
  return text.slice(0, max - TRUNCATED_SUFFIX.length) + TRUNCATED_SUFFIX;
}

/** iohandler.TruncateOutput: stdout and stderr merged into CommandPlugin.Output. */
export function pluginOutput(stdout: string, stderr: string): string {
  const truncOut = "\n---Output truncated---";
  const truncErr = "\n---Error truncated----";
  const title = stderr.length > 0 ? "\n----------ERROR-------\n" : "";
  const space = MAX_PLUGIN_OUTPUT - title.length;
  const half = Math.floor(space / 2);
  if (stdout.length + stderr.length < space) return stdout + title + stderr;
  if (stdout.length > half && stderr.length > half) {
    const size = Math.floor((space - truncErr.length - truncOut.length) / 2);
    return stdout.slice(0, size) + truncOut + title + stderr.slice(0, size) + truncErr;
  }
  if (stdout.length < half) {
    return stdout + title + stderr.slice(0, space - truncErr.length - stdout.length) + truncErr;
  }
  return stdout.slice(0, space - truncOut.length - stderr.length) + truncOut + title + stderr;
}
