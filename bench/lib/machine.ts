import { availableParallelism, cpus, totalmem } from 'node:os';

/** What the figures were measured on; every result file carries it. */
export const machine = () => ({
  node: process.version,
  platform: `${process.platform}-${process.arch}`,
  cpus: availableParallelism(),
  cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
  memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
});

/** Busy and total CPU milliseconds of the whole machine so far (all cores, os.cpus() counters). */
export const machineCpu = () =>
  cpus().reduce(
    (acc, cpu) => {
      const { user, nice, sys, idle, irq } = cpu.times;
      return { busy: acc.busy + user + nice + sys + irq, total: acc.total + user + nice + sys + idle + irq };
    },
    { busy: 0, total: 0 },
  );

/** Share of all CPUs busy over `ms`: other work on the machine skews a benchmark. */
export const cpuBusyShare = async (ms = 1000): Promise<number> => {
  const before = machineCpu();
  await new Promise((resolve) => setTimeout(resolve, ms));
  const after = machineCpu();
  const total = after.total - before.total;
  return total > 0 ? (after.busy - before.busy) / total : 0;
};

/** Prints a warning when the machine was not quiet before a benchmark (returns the busy share). */
export const checkQuiet = async (log: (line: string) => void): Promise<number> => {
  const busy = await cpuBusyShare();
  if (busy > 0.15)
    log(
      `WARNING: ${Math.round(busy * 100)}% of the CPUs were busy with other work just before this run; figures will be noisy (run on a quiet machine)`,
    );
  return busy;
};

/**
 * Watches a benchmark's timed phases for other processes' CPU use: `watched(work)` runs one phase,
 * `otherShare()` is the largest share of the machine others used during any of them (over 0.1, the
 * figures are skewed: run again on a quiet machine).
 */
export const otherCpuWatch = () => {
  let largest = 0;
  return {
    watched: async <T>(work: () => Promise<T>): Promise<T> => {
      const machineBefore = machineCpu();
      const selfBefore = process.cpuUsage();
      const value = await work();
      const self = process.cpuUsage(selfBefore);
      const machineAfter = machineCpu();
      const others = machineAfter.busy - machineBefore.busy - (self.user + self.system) / 1000;
      largest = Math.max(largest, others / Math.max(1, machineAfter.total - machineBefore.total));
      return value;
    },
    otherShare: (): number => largest,
  };
};
