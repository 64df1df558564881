// CPU and memory of the server process and its model workers, read from /proc (Linux). CPU is the
// time used since the previous sample of the same pids, in percent of one core; memory is the sum
// of resident set sizes. Where /proc is missing only the calling process can be measured.
import * as fs from 'node:fs';
import { procStat } from '../processes';
import type { ResourceSample } from './log';

const CLOCK_TICKS_PER_SECOND = 100;
let previous: { at: number; ticks: Map<number, number> } | null = null;

/** CPU ticks (user + system) and resident bytes of a pid, or null when it is gone. */
function processUsage(pid: number): { ticks: number; rssBytes: number } | null {
  const fields = procStat(pid);
  if (!fields) return null;
  try {
    const ticks = Number(fields[11]) + Number(fields[12]);
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const rssKb = Number(/VmRSS:\s+([0-9]+)\s+kB/.exec(status)?.[1] ?? 0);
    return { ticks, rssBytes: rssKb * 1024 };
  } catch {
    return null;
  }
}

/** One sample over `pids`; null the first time /proc is missing and the pids are not this process. */
export function sampleResources(pids: readonly number[], now: number): ResourceSample | null {
  const ticks = new Map<number, number>();
  let rssBytes = 0;
  for (const pid of pids) {
    const usage = processUsage(pid);
    if (!usage) continue;
    ticks.set(pid, usage.ticks);
    rssBytes += usage.rssBytes;
  }
  if (ticks.size === 0) {
    if (!pids.includes(process.pid)) return null;
    const cpu = process.cpuUsage();
    return {
      at: now,
      cpuPercent: ((cpu.user + cpu.system) / 1000 / Math.max(1, process.uptime() * 1000)) * 100,
      rssBytes: process.memoryUsage().rss,
    };
  }
  let cpuPercent = 0;
  if (previous && now > previous.at) {
    let used = 0;
    for (const [pid, value] of ticks) used += value - (previous.ticks.get(pid) ?? value);
    cpuPercent = (used / CLOCK_TICKS_PER_SECOND / ((now - previous.at) / 1000)) * 100;
  }
  previous = { at: now, ticks };
  return { at: now, cpuPercent, rssBytes };
}
