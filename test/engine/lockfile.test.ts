// Lock files in DVC's format on real files: the exact text DVC writes, reading DVC 2 and DVC 3
// locks, errors that say where and what to do, and atomic writes (a failed or concurrent write never
// leaves a partial lock).
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { entryMatches, lockPathFor, readLock, writeFileAtomic, writeLockStage } from '../../server/engine/lockfile';
import type { AtomicWriteIo, StageLock } from '../../server/engine/lockfile';

let folder: string;
let lockPath: string;

beforeEach(() => {
  folder = fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-lock-'));
  lockPath = path.join(folder, 'dvc.lock');
});

afterEach(() => {
  fs.rmSync(folder, { recursive: true, force: true });
});

/** The `prepare` stage of DVC's example-get-started project, as DVC 3 locks it. */
const PREPARE_LOCK_TEXT = `schema: '2.0'
stages:
  prepare:
    cmd: python src/prepare.py data/data.xml
    deps:
    - path: data/data.xml
      hash: md5
      md5: 22a1a2931c8370d3aeedd7183606fd7f
      size: 14445097
    - path: src/prepare.py
      hash: md5
      md5: f09ea0c15980b43010257ccb9f0055e2
      size: 1576
    params:
      params.yaml:
        prepare.seed: 20170428
        prepare.split: 0.2
    outs:
    - path: data/prepared
      hash: md5
      md5: 153aad06d376b6595932470e459ef42a.dir
      size: 8437363
      nfiles: 2
`;

const prepare: StageLock = {
  cmd: 'python src/prepare.py data/data.xml',
  // Given out of order: the lock sorts deps by path and params keys, as DVC does.
  deps: [
    { path: 'src/prepare.py', hash: 'md5', md5: 'f09ea0c15980b43010257ccb9f0055e2', size: 1576 },
    { path: 'data/data.xml', hash: 'md5', md5: '22a1a2931c8370d3aeedd7183606fd7f', size: 14445097 },
  ],
  params: { 'params.yaml': { 'prepare.split': 0.2, 'prepare.seed': 20170428 } },
  outs: [{ nfiles: 2, size: 8437363, md5: '153aad06d376b6595932470e459ef42a.dir', hash: 'md5', path: 'data/prepared' }],
};

describe('lockPathFor', () => {
  const cases: [string, string][] = [
    ['/w/dvc.yaml', '/w/dvc.lock'],
    ['/w/sub/pipeline.yaml', '/w/sub/pipeline.lock'],
    ['/w/pipeline.yml', '/w/pipeline.lock'],
    ['/w/train.pipeline.yaml', '/w/train.pipeline.lock'],
  ];
  for (const [pipeline, lock] of cases) {
    it(`${path.basename(pipeline)} locks into ${path.basename(lock)}`, () => {
      assert.equal(lockPathFor(pipeline), lock);
    });
  }
});

describe('writeLockStage', () => {
  it('writes the text DVC 3 writes: key order, sorted entries, list style, quoting', () => {
    writeLockStage(lockPath, 'prepare', prepare);
    assert.equal(fs.readFileSync(lockPath, 'utf8'), PREPARE_LOCK_TEXT);
  });

  it('round-trips through readLock', () => {
    writeLockStage(lockPath, 'prepare', prepare);
    const lock = readLock(lockPath);
    assert.equal(lock.schema, '2.0');
    assert.deepEqual(lock.stages['prepare']?.outs, prepare.outs);
    assert.deepEqual(lock.stages['prepare']?.params, {
      'params.yaml': { 'prepare.seed': 20170428, 'prepare.split': 0.2 },
    });
    assert.deepEqual(
      lock.stages['prepare']?.deps?.map((entry) => entry.path),
      ['data/data.xml', 'src/prepare.py'],
    );
  });

  it('updates one stage in place, keeps the order of the others, and removes a stage on null', () => {
    for (const name of ['prepare', 'featurize', 'train']) writeLockStage(lockPath, name, { cmd: `run ${name}` });
    writeLockStage(lockPath, 'prepare', { cmd: ['python prepare.py', 'echo done'] });
    assert.deepEqual(Object.keys(readLock(lockPath).stages), ['prepare', 'featurize', 'train']);
    assert.deepEqual(readLock(lockPath).stages['prepare']?.cmd, ['python prepare.py', 'echo done']);

    writeLockStage(lockPath, 'featurize', null);
    assert.deepEqual(Object.keys(readLock(lockPath).stages), ['prepare', 'train']);
  });

  it('lists params.yaml first, then other params files by name, and leaves out empty parts', () => {
    writeLockStage(lockPath, 'train', {
      cmd: 'python train.py',
      deps: [],
      params: { 'z.yaml': { b: 1, a: 2 }, 'params.yaml': { lr: 0.1 }, 'conf/a.yaml': { x: 'y' } },
      outs: [],
    });
    assert.equal(
      fs.readFileSync(lockPath, 'utf8'),
      `schema: '2.0'
stages:
  train:
    cmd: python train.py
    params:
      params.yaml:
        lr: 0.1
      conf/a.yaml:
        x: y
      z.yaml:
        a: 2
        b: 1
`,
    );
  });

  it('keeps stages DVC wrote, with fields Cairn does not know, when it writes another stage', () => {
    fs.writeFileSync(
      lockPath,
      `schema: '2.0'
stages:
  dvc-made:
    cmd: ./build.sh
    outs:
    - path: bin/tool
      hash: md5
      md5: acbd18db4cc2f85cedef654fccc4a4d8
      size: 3
      isexec: true
`,
    );
    writeLockStage(lockPath, 'cairn-made', { cmd: 'echo hi' });
    const text = fs.readFileSync(lockPath, 'utf8');
    assert.match(text, /isexec: true/);
    assert.deepEqual(Object.keys(readLock(lockPath).stages), ['dvc-made', 'cairn-made']);
  });
  it('edits a hand-formatted lock without disturbing the rest of it', () => {
    fs.writeFileSync(
      lockPath,
      `# kept: a comment above everything
schema: '2.0'
stages:
    a:
        cmd: echo a
    b:
        cmd: |
          multi
          line
extra: kept
`,
    );
    writeLockStage(lockPath, 'b', {
      cmd: 'first line\nsecond line',
      outs: [{ path: 'o', hash: 'md5', md5: 'f'.repeat(32), size: 1 }],
    });
    writeLockStage(lockPath, 'c', { cmd: ['one', 'two: with colon'] });
    writeLockStage(lockPath, 'a', null);
    const text = fs.readFileSync(lockPath, 'utf8');
    assert.match(text, /^# kept: a comment above everything\n/);
    assert.match(text, /\nextra: kept\n$/);
    const lock = readLock(lockPath);
    assert.deepEqual(Object.keys(lock.stages), ['b', 'c']);
    assert.equal(lock.stages['b']?.cmd, 'first line\nsecond line');
    assert.equal(lock.stages['b']?.outs?.[0]?.md5, 'f'.repeat(32));
    assert.deepEqual(lock.stages['c']?.cmd, ['one', 'two: with colon']);
  });

  it('writes into a lock whose stages are empty or written in flow style', () => {
    fs.writeFileSync(lockPath, `schema: '2.0'\nstages: {}\n`);
    writeLockStage(lockPath, 'first', { cmd: 'a' });
    writeLockStage(lockPath, 'first', null);
    writeLockStage(lockPath, 'second', { cmd: 'b' });
    assert.deepEqual(readLock(lockPath).stages, { second: { cmd: 'b' } });
  });
});

describe('readLock', () => {
  it('reads a missing lock as empty', () => {
    assert.deepEqual(readLock(path.join(folder, 'never-ran.lock')), { schema: '2.0', stages: {} });
  });

  it('reads an empty file as empty', () => {
    fs.writeFileSync(lockPath, '');
    assert.deepEqual(readLock(lockPath), { schema: '2.0', stages: {} });
  });

  it('reads a DVC 2 lock: entries without `hash: md5`', () => {
    fs.writeFileSync(
      lockPath,
      `schema: '2.0'
stages:
  train:
    cmd: python train.py
    deps:
    - path: data.csv
      md5: 22a1a2931c8370d3aeedd7183606fd7f
      size: 10
    outs:
    - path: model
      md5: 153aad06d376b6595932470e459ef42a.dir
      size: 20
      nfiles: 2
`,
    );
    const stage = readLock(lockPath).stages['train'];
    assert.deepEqual(stage?.deps, [{ path: 'data.csv', md5: '22a1a2931c8370d3aeedd7183606fd7f', size: 10 }]);
    assert.equal(stage?.outs?.[0]?.hash, undefined);
    assert.equal(stage?.outs?.[0]?.nfiles, 2);
  });

  it('names the file and line of broken YAML and says to fix or delete it', () => {
    fs.writeFileSync(lockPath, `schema: '2.0'\nstages:\n  train:\n    cmd: python train.py\n   deps: [\n`);
    assert.throws(
      () => readLock(lockPath),
      (error: Error) => {
        assert.ok(error.message.startsWith(`${lockPath}:5:`), error.message);
        assert.match(error.message, /Fix it, or delete it/);
        return true;
      },
    );
  });

  it('names the line of a stage that is not a lock entry', () => {
    fs.writeFileSync(lockPath, `schema: '2.0'\nstages:\n  ok:\n    cmd: a\n  broken:\n    deps: nothing\n`);
    assert.throws(
      () => readLock(lockPath),
      (error: Error) => error.message.startsWith(`${lockPath}:6: `) && /stage 'broken'/.test(error.message),
    );
  });

  it('refuses a lock without schema 2.0 (DVC 1) with what to do', () => {
    fs.writeFileSync(lockPath, `train:\n  cmd: python train.py\n`);
    assert.throws(() => readLock(lockPath), /no `schema: '2.0'`.*delete it/);
  });
});

describe('atomic writes', () => {
  it('leaves the old lock intact, and no temp file, when a write fails midway', () => {
    writeLockStage(lockPath, 'prepare', prepare);
    const before = fs.readFileSync(lockPath, 'utf8');
    const failing: AtomicWriteIo = {
      openSync: (file, flags) => fs.openSync(file, flags),
      // Writes half of the text, then the disk is full.
      writeSync: (fd, data, offset, length) => {
        if (offset > 0) throw Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
        return fs.writeSync(fd, data, offset, Math.ceil(length / 2));
      },
      fsyncSync: (fd) => fs.fsyncSync(fd),
      closeSync: (fd) => fs.closeSync(fd),
      renameSync: (from, to) => fs.renameSync(from, to),
      rmSync: (file, options) => fs.rmSync(file, options),
    };
    assert.throws(() => writeFileAtomic(lockPath, before.replace('prepare', 'changed'), failing), /ENOSPC/);
    assert.equal(fs.readFileSync(lockPath, 'utf8'), before);
    assert.deepEqual(fs.readdirSync(folder), ['dvc.lock']);
  });

  it('never shows a reader a partial lock while another process rewrites it', async () => {
    // A big lock makes each write take long enough that a non-atomic write would be caught midway.
    const stages = Array.from({ length: 150 }, (_, index) => `stage${index}`);
    const writer = `
      const { writeLockStage } = require(${JSON.stringify(path.join(__dirname, '..', '..', 'server', 'engine', 'lockfile.ts'))});
      const stages = ${JSON.stringify(stages)};
      for (let round = 0; round < 10; round++)
        for (const name of stages.slice(0, 20))
          writeLockStage(${JSON.stringify(lockPath)}, name, {
            cmd: 'python step.py --round ' + round,
            deps: Array.from({ length: 5 }, (_, i) => ({ path: 'data/part-' + i + '.csv', hash: 'md5', md5: 'a'.repeat(32), size: round })),
          });
    `;
    for (const name of stages) writeLockStage(lockPath, name, { cmd: 'initial' });
    const child = spawn(process.execPath, ['--require', 'tsx/cjs', '-e', writer], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    let done = false;
    void exited.then(() => (done = true));
    let reads = 0;
    try {
      while (!done) {
        const lock = readLock(lockPath);
        assert.equal(Object.keys(lock.stages).length, stages.length, 'every read sees a whole lock');
        reads++;
        await new Promise((resolve) => setImmediate(resolve));
      }
    } finally {
      if (!done) child.kill();
    }
    assert.equal(await exited, 0, stderr);
    assert.ok(reads > 10, `the reader ran alongside the writer (${reads} reads)`);
    assert.match(readLock(lockPath).stages['stage0']?.cmd as string, /--round 9/);
  });
});

describe('entryMatches', () => {
  const entry = { path: 'data.csv', hash: 'md5' as const, md5: '22a1a2931c8370d3aeedd7183606fd7f', size: 10 };

  it('matches the same md5 and nothing else', () => {
    assert.equal(entryMatches(entry, { md5: entry.md5, size: 10, isDir: false }), true);
    assert.equal(entryMatches(entry, { md5: 'f09ea0c15980b43010257ccb9f0055e2', size: 10, isDir: false }), false);
    assert.equal(entryMatches(entry, null), false);
  });

  it('never matches an entry without an md5', () => {
    assert.equal(entryMatches({ path: 'remote', md5: '', size: 0 }, { md5: '', size: 0, isDir: false }), false);
  });
});
