/**
 * The metrics of a local run, read back from what the functions wrote: the
 * Powertools Metrics utility appends its EMF objects to `LAMBDA_LOG_FILE` in local
 * mode (instead of stdout, where CloudWatch would pick them up), so summing those
 * objects gives the figures the dashboard would show for the same run.
 *
 * @module
 */
import { open, stat } from "node:fs/promises";

/** One metric of the run, per set of dimensions. */
export interface RunMetric {
  /** Metric name (`HostsFinished`, `SuspendWindow`, …). */
  name: string;
  /** Dimensions other than `service`, as `key=value` joined by commas; `-` for none. */
  dimensions: string;
  unit: string;
  /** Values recorded. */
  samples: number;
  sum: number;
  min: number;
  max: number;
}

/** Size of `file` now (0 when absent): where the lines of a run about to start begin. */
export async function logOffset(file: string): Promise<number> {
  try {
    return (await stat(file)).size;
  } catch {
    return 0;
  }
}

interface EmfObject {
  _aws?: {
    CloudWatchMetrics?: { Dimensions?: string[][]; Metrics?: { Name: string; Unit?: string }[] }[];
  };
  [key: string]: unknown;
}

/**
 * The EMF objects written to `file` from byte `from` on, summed per metric and
 * dimensions, sorted by metric name then dimensions.
 */
export async function readRunMetrics(file: string, from = 0): Promise<RunMetric[]> {
  const text = await readFrom(file, from);
  const metrics = new Map<string, RunMetric>();
  for (const line of text.split("\n")) {
    if (!line.includes('"_aws"')) continue;
    let emf: EmfObject;
    try {
      emf = JSON.parse(line) as EmfObject;
    } catch {
      continue;
    }
    for (const directive of emf._aws?.CloudWatchMetrics ?? []) {
      const keys = (directive.Dimensions?.[0] ?? []).filter((key) => key !== "service");
      const dimensions = keys.map((key) => `${key}=${String(emf[key])}`).join(",") || "-";
      for (const metric of directive.Metrics ?? []) {
        const raw = emf[metric.Name];
        const values = (Array.isArray(raw) ? raw : [raw]).filter(
          (value): value is number => typeof value === "number",
        );
        const id = `${metric.Name} ${dimensions}`;
        const entry = metrics.get(id) ?? {
          name: metric.Name,
          dimensions,
          unit: metric.Unit ?? "None",
          samples: 0,
          sum: 0,
          min: Number.POSITIVE_INFINITY,
          max: Number.NEGATIVE_INFINITY,
        };
        for (const value of values) {
          entry.samples++;
          entry.sum += value;
          entry.min = Math.min(entry.min, value);
          entry.max = Math.max(entry.max, value);
        }
        metrics.set(id, entry);
      }
    }
  }
  return [...metrics.values()]
    .filter((m) => m.samples > 0)
    .sort((a, b) => a.name.localeCompare(b.name) || a.dimensions.localeCompare(b.dimensions));
}

async function readFrom(file: string, from: number): Promise<string> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(file, "r");
  } catch {
    return "";
  }
  try {
    const { size } = await handle.stat();
    if (size <= from) return "";
    const buffer = Buffer.alloc(size - from);
    await handle.read(buffer, 0, buffer.length, from);
    return buffer.toString("utf8");
  } finally {
    await handle.close();
  }
}
