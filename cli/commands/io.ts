/** What a command writes to and how it tells time (tests pass their own). */
export interface CommandIo {
  /** Writes one line to standard output. */
  readonly out: (line: string) => void;
  /** Epoch ms. */
  readonly now: () => number;
  readonly sleep: (ms: number) => Promise<void>;
}

/** The real clock and standard output. */
export const processIo: CommandIo = {
  out: (line) => process.stdout.write(`${line}\n`),
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};
