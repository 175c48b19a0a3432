/**
 * The loop behind `--watch`: wait an interval, report, again, until Ctrl-C (SIGINT) or SIGTERM,
 * which end the command normally (exit 0), not as a crash. Without watch: one interval, one
 * report. A reader that goes away (`| head`) ends it through main.ts's EPIPE handler.
 */
export interface WatchOptions {
  intervalS: number;
  watch: boolean;
  /** Clear the terminal before each report (watching on a TTY, not JSON). */
  clearScreen: boolean;
}

export async function watchLoop(options: WatchOptions, report: () => void): Promise<void> {
  let stopped = false;
  const stop = (): void => {
    stopped = true;
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    do {
      await sleepUnless(options.intervalS * 1000, () => stopped);
      if (stopped && options.watch) break;
      if (options.clearScreen) process.stdout.write('\x1b[2J\x1b[H');
      report();
    } while (options.watch && !stopped);
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}

/** Waits `ms`, waking early when `cancelled` turns true. */
async function sleepUnless(ms: number, cancelled: () => boolean): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end && !cancelled()) await new Promise((r) => setTimeout(r, Math.min(100, end - Date.now())));
}
