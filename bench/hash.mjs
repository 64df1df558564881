// Hashing benchmark: Cairn's md5File beside md5sum on a 1 GiB file (page-cached after a warm-up
// read, so both measure hashing, not the disk), and the stat cache on a folder of 10,000 small
// files: the first hashPath reads every file, the next command's hashPath only stats them.
// Prints JSON to stdout.
//
// Usage: node --import tsx bench/hash.mjs [--runs 3] [--files 10000]
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Hasher, md5File } from '../server/engine/hash.ts';
import { Store } from '../server/engine/store.ts';

const GiB = 1024 * 1024 * 1024;
const MiB = 1024 * 1024;

function option(name, fallback) {
  const index = process.argv.indexOf(`--${name}`);
  return index === -1 ? fallback : Number(process.argv[index + 1]);
}

const runs = option('runs', 3);
const fileCount = option('files', 10_000);

/** A 1 GiB file of random bytes in the temp folder, made once and reused by later runs. */
function bigFile() {
  const file = path.join(os.tmpdir(), 'cairn-bench-hash-1GiB.bin');
  if (fs.existsSync(file) && fs.statSync(file).size === GiB) return file;
  const fd = fs.openSync(file, 'w');
  const block = randomBytes(64 * MiB);
  for (let written = 0; written < GiB; written += block.length) fs.writeSync(fd, block);
  fs.closeSync(fd);
  return file;
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

async function timed(work) {
  const started = performance.now();
  const result = await work();
  return { ms: performance.now() - started, result };
}

async function throughput(file) {
  // Warm-up: one read of the whole file puts it in the page cache for both contenders.
  execFileSync('cat', [file], { stdio: ['ignore', 'ignore', 'inherit'] });
  const md5sumMs = [];
  const cairnMs = [];
  let md5sumHash = '';
  let cairnHash = '';
  for (let run = 0; run < runs; run++) {
    const external = await timed(() => execFileSync('md5sum', [file], { encoding: 'utf8' }));
    md5sumMs.push(external.ms);
    md5sumHash = external.result.split(' ')[0];
    const ours = await timed(() => md5File(file));
    cairnMs.push(ours.ms);
    cairnHash = ours.result;
  }
  if (md5sumHash !== cairnHash) throw new Error(`hashes differ: md5sum ${md5sumHash}, cairn ${cairnHash}`);
  const mbps = (ms) => Math.round(GiB / MiB / (ms / 1000));
  const md5sumMbps = mbps(median(md5sumMs));
  const cairnMbps = mbps(median(cairnMs));
  return {
    md5sum_mbps: md5sumMbps,
    cairn_mbps: cairnMbps,
    ratio: Number((cairnMbps / md5sumMbps).toFixed(3)),
    md5sum_runs_ms: md5sumMs.map(Math.round),
    cairn_runs_ms: cairnMs.map(Math.round),
  };
}

async function statCache() {
  const workspace = fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-bench-stat-'));
  try {
    const folder = path.join(workspace, 'images');
    fs.mkdirSync(folder);
    for (let index = 0; index < fileCount; index++) {
      fs.writeFileSync(path.join(folder, `img-${String(index).padStart(5, '0')}.bin`), randomBytes(2048));
    }
    // Files written this instant are not trusted by the stat cache (a same-tick rewrite would go
    // unseen); let them settle past its margin, as outputs of an earlier run have.
    await new Promise((resolve) => setTimeout(resolve, 2500));
    const store = Store.open(workspace);
    const first = new Hasher(store);
    const cold = await timed(() => first.hashPath(folder));
    const flush = await timed(() => first.flush());
    // The next command: a new Hasher that loads the stat cache from the store.
    const second = new Hasher(store);
    const warm = await timed(() => second.hashPath(folder));
    store.close();
    if (cold.result.md5 !== warm.result.md5) throw new Error('the cached hash differs from the first one');
    return {
      files: fileCount,
      first_ms: Math.round(cold.ms),
      first_files_read: first.filesRead,
      flush_ms: Math.round(flush.ms),
      cached_ms: Math.round(warm.ms),
      cached_files_read: second.filesRead,
      speedup: Number((cold.ms / warm.ms).toFixed(1)),
    };
  } finally {
    fs.rmSync(workspace, { recursive: true, force: true });
  }
}

const result = { ...(await throughput(bigFile())), stat_cache: await statCache() };
process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
