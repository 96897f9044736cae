import { cpus, release, totalmem, version } from 'node:os';

/** The machine a benchmark ran on: figures from different machines are not comparable. */
export interface Machine {
  cpuModel: string;
  cores: number;
  memoryGiB: number;
  kernel: string;
  node: string;
  date: string;
}

export function describeMachine(now = new Date()): Machine {
  const list = cpus();
  return {
    cpuModel: list[0]?.model.trim() ?? 'unknown',
    cores: list.length,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    kernel: `${release()} (${version()})`,
    node: process.version,
    date: now.toISOString(),
  };
}
