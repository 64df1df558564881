// Content hashing on real files: md5 as md5sum computes it, directory digests as DVC computes them
// (known answers from DVC's own test suite and from CPython's json.dumps), DVC 2's dos2unix md5, and
// the stat cache that spares reading unchanged files.
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { dirManifestJson, dirMd5, Hasher, legacyMd5File, md5File } from '../../server/engine/hash';
import { Store } from '../../server/engine/store';

const MiB = 1024 * 1024;
/** Well in the past: the stat cache trusts such files at once. */
const LONG_AGO = new Date('2020-01-02T03:04:05.678Z');

let scratch: string;

function md5Of(data: string | Buffer): string {
  return createHash('md5').update(data).digest('hex');
}

/** Writes files (relpath → content) under a new folder and returns its path. */
function tree(name: string, files: Record<string, string | Buffer>): string {
  const root = path.join(scratch, name);
  fs.mkdirSync(root, { recursive: true });
  for (const [relpath, content] of Object.entries(files)) {
    const file = path.join(root, relpath);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, content);
  }
  return root;
}

function write(relpath: string, content: string | Buffer, mtime?: Date): string {
  const file = path.join(scratch, relpath);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, content);
  if (mtime) fs.utimesSync(file, mtime, mtime);
  return file;
}

before(() => {
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-hash-'));
});

after(() => {
  fs.rmSync(scratch, { recursive: true, force: true });
});

describe('md5File', () => {
  for (const [label, size] of [
    ['an empty file', 0],
    ['a small file', 1000],
    ['a file of exactly one read chunk', 4 * MiB],
    ['a file of several chunks and a tail', 9 * MiB + 123],
  ] as const) {
    it(`equals md5sum on ${label}`, async () => {
      const file = write(`md5sum-${size}.bin`, randomBytes(size));
      const expected = execFileSync('md5sum', [file], { encoding: 'utf8' }).split(' ')[0];
      assert.equal(await md5File(file), expected);
    });
  }

  it('fails on a missing file', async () => {
    await assert.rejects(md5File(path.join(scratch, 'nothing-here')), { code: 'ENOENT' });
  });
});

describe('legacyMd5File (DVC 2 md5-dos2unix)', () => {
  it('reads CRLF as LF in a text file', async () => {
    const file = write('crlf.txt', 'a,b\r\n1,2\r\n');
    assert.equal(await legacyMd5File(file), md5Of('a,b\n1,2\n'));
    assert.notEqual(await md5File(file), md5Of('a,b\n1,2\n'));
  });

  it('leaves a file with a NUL byte as is', async () => {
    const content = Buffer.from('header\0\r\nbody\r\n');
    const file = write('nul.bin', content);
    assert.equal(await legacyMd5File(file), md5Of(content));
  });

  it('leaves a file that is more than 30% non-text bytes as is', async () => {
    // 4 of 10 bytes outside printable ASCII: binary by DVC's rule, though it has no NUL.
    const content = Buffer.from([0xc3, 0xa9, 0xc3, 0xa9, 0x61, 0x0d, 0x0a, 0x62, 0x0d, 0x0a]);
    const file = write('mostly-utf8.txt', content);
    assert.equal(await legacyMd5File(file), md5Of(content));
  });

  it('keeps a CRLF split by the 1 MiB chunk edge, as DVC 2 did', async () => {
    const head = 'x'.repeat(MiB - 1);
    const file = write('edge.txt', `${head}\r\ny\r\n`);
    // DVC converted each 1 MiB chunk on its own: the pair at the edge stays, the later one does not.
    assert.equal(await legacyMd5File(file), md5Of(`${head}\r\ny\n`));
  });

  it('decides text or binary from the first 512 bytes only', async () => {
    const content = Buffer.concat([Buffer.from('t'.repeat(512) + '\r\n'), Buffer.from([0, 1, 2, 0x0d, 0x0a])]);
    const file = write('late-nul.txt', content);
    const expected = Buffer.concat([Buffer.from('t'.repeat(512) + '\n'), Buffer.from([0, 1, 2, 0x0a])]);
    assert.equal(await legacyMd5File(file), md5Of(expected));
  });
});

describe('directory digests', () => {
  // Known answers published in DVC's test suite (iterative/dvc-data tests/hashfile/test_build.py
  // and iterative/dvc tests/func/test_virtual_directory.py): directory, .dir md5, size, nfiles.
  const published: [Record<string, string>, string, number, number][] = [
    [{ foo: 'foo', bar: 'bar' }, '5ea40360f5b4ec688df672a4db9c17d1.dir', 6, 2],
    [{ foo: 'foo', 'subdir/lorem': 'lorem' }, '22a16c9bf84b3068bc2206d88a6b5776.dir', 8, 2],
    [
      { foo: 'foo', bar: 'bar', 'subdir/lorem': 'lorem', 'subdir/ipsum': 'ipsum' },
      '15b0e3c73ad2c748ce206988cb6b7319.dir',
      16,
      4,
    ],
  ];
  published.forEach(([files, md5, size, nfiles], index) => {
    it(`matches DVC's published digest ${md5}`, async () => {
      const root = tree(`published-${index}`, files);
      assert.deepEqual(await new Hasher(null).hashPath(root), { md5, size, nfiles, isDir: true });
    });
  });

  it("matches CPython's json.dumps on names that need escaping and code-point order", async () => {
    // Expected digest computed with CPython 3.11: md5(json.dumps(sorted entries, sort_keys=True)).
    const root = tree('escaping', {
      'é.txt': 'accent',
      '\uffee.txt': 'halfwidth',
      '😀.txt': 'smile',
      'quo"te\\back': 'q',
      'tab\tname': 't',
      Zeta: 'z',
      'a b/c': 'space',
      'sub/deep/x.bin': 'deep',
      '\x7fdel': 'd',
    });
    const hash = await new Hasher(null).hashPath(root);
    assert.equal(hash?.md5, 'c5ade16d034f125aa7cc3761056db6a1.dir');
    const entries = await new Hasher(null).dirEntries(root);
    // Python sorts by code point: U+FFEE before U+1F600 (UTF-16 order would swap them).
    assert.deepEqual(
      entries.map((entry) => entry.relpath),
      ['Zeta', 'a b/c', 'quo"te\\back', 'sub/deep/x.bin', 'tab\tname', '\x7fdel', 'é.txt', '\uffee.txt', '😀.txt'],
    );
    assert.ok(dirManifestJson(entries).includes('"relpath": "\\ud83d\\ude00.txt"'));
  });

  it('computes the digest by the documented rule for a nested folder', async () => {
    const root = tree('by-hand', { 'b.csv': 'x,y\n1,2\n', 'a/z.txt': 'zz', 'a/b/c.bin': '\u0000\u0001' });
    const expectedJson =
      `[{"md5": "${md5Of('\u0000\u0001')}", "relpath": "a/b/c.bin"}, ` +
      `{"md5": "${md5Of('zz')}", "relpath": "a/z.txt"}, ` +
      `{"md5": "${md5Of('x,y\n1,2\n')}", "relpath": "b.csv"}]`;
    const hash = await new Hasher(null).hashPath(root);
    assert.deepEqual(hash, { md5: `${md5Of(expectedJson)}.dir`, size: 12, nfiles: 3, isDir: true });
  });

  it('hashes an empty folder as DVC does (md5 of "[]"), ignoring empty subfolders', async () => {
    const root = path.join(scratch, 'empty');
    fs.mkdirSync(path.join(root, 'nested', 'deeper'), { recursive: true });
    assert.deepEqual(await new Hasher(null).hashPath(root), {
      md5: 'd751713988987e9331980363e24189ce.dir',
      size: 0,
      nfiles: 0,
      isDir: true,
    });
  });

  it('follows symlinks to files and folders but not a link back to an ancestor', async () => {
    const root = tree('links', { 'real/data.txt': 'data' });
    fs.symlinkSync(path.join(root, 'real', 'data.txt'), path.join(root, 'alias.txt'));
    fs.symlinkSync(path.join(root, 'real'), path.join(root, 'mirror'));
    fs.symlinkSync(root, path.join(root, 'real', 'loop'));
    fs.symlinkSync(path.join(root, 'gone'), path.join(root, 'broken'));
    const entries = await new Hasher(null).dirEntries(root);
    assert.deepEqual(
      entries.map((entry) => entry.relpath),
      ['alias.txt', 'mirror/data.txt', 'real/data.txt'],
    );
    assert.ok(entries.every((entry) => entry.md5 === md5Of('data')));
  });

  it('returns null for a missing path and a plain hash for a file', async () => {
    const hasher = new Hasher(null);
    assert.equal(await hasher.hashPath(path.join(scratch, 'missing', 'deeper')), null);
    const file = write('plain.txt', 'plain');
    assert.deepEqual(await hasher.hashPath(file), { md5: md5Of('plain'), size: 5, isDir: false });
  });

  it('hashes a DVC 2 directory with dos2unix entry md5s when asked', async () => {
    const root = tree('legacy-dir', { 'a.txt': 'one\r\ntwo\r\n', 'b.bin': Buffer.from([0, 13, 10]) });
    const hash = await new Hasher(null).hashPath(root, 'md5-dos2unix');
    const expected = dirMd5([
      { relpath: 'a.txt', md5: md5Of('one\ntwo\n'), size: 0 },
      { relpath: 'b.bin', md5: md5Of(Buffer.from([0, 13, 10])), size: 0 },
    ]);
    assert.equal(hash?.md5, expected);
    assert.notEqual(hash?.md5, (await new Hasher(null).hashPath(root))?.md5);
  });
});

describe('the stat cache', () => {
  let workspace: string;
  let store: Store;

  beforeEach(() => {
    workspace = fs.mkdtempSync(path.join(scratch, 'workspace-'));
    store = Store.open(workspace);
  });

  afterEach(() => {
    store.close();
  });

  it('does not read an unchanged file again, in this command or the next', async () => {
    const file = write(path.relative(scratch, path.join(workspace, 'data.csv')), 'a,b\n1,2\n', LONG_AGO);
    const first = new Hasher(store);
    assert.equal((await first.hashFile(file)).md5, md5Of('a,b\n1,2\n'));
    assert.equal((await first.hashFile(file)).md5, md5Of('a,b\n1,2\n'));
    assert.equal(first.filesRead, 1);
    first.flush();

    const next = new Hasher(store);
    assert.deepEqual(await next.hashFile(file), { md5: md5Of('a,b\n1,2\n'), size: 8 });
    assert.equal(next.filesRead, 0);
  });

  it('reads a file again when its content changes with the same size and a new mtime', async () => {
    const file = write(path.relative(scratch, path.join(workspace, 'same-size.txt')), 'aaaa', LONG_AGO);
    const first = new Hasher(store);
    await first.hashFile(file);
    first.flush();

    fs.writeFileSync(file, 'bbbb');
    const later = new Date(LONG_AGO.getTime() + 1500);
    fs.utimesSync(file, later, later);
    const next = new Hasher(store);
    assert.equal((await next.hashFile(file)).md5, md5Of('bbbb'));
    assert.equal(next.filesRead, 1);
  });

  it('reads a file again when it is replaced by another with the same size and mtime (inode)', async () => {
    const file = write(path.relative(scratch, path.join(workspace, 'swapped.txt')), 'old!', LONG_AGO);
    const first = new Hasher(store);
    await first.hashFile(file);
    first.flush();

    const replacement = write(path.relative(scratch, path.join(workspace, 'incoming.txt')), 'new!', LONG_AGO);
    fs.renameSync(replacement, file);
    const next = new Hasher(store);
    assert.equal((await next.hashFile(file)).md5, md5Of('new!'));
  });

  it('does not persist a file modified moments before it was read (same-second rewrite)', async () => {
    // A whole-second mtime within the last second: a rewrite in that second keeps size and mtime.
    const now = new Date(Math.floor(Date.now() / 1000) * 1000);
    const file = write(path.relative(scratch, path.join(workspace, 'racy.txt')), 'v1', now);
    const first = new Hasher(store);
    assert.equal((await first.hashFile(file)).md5, md5Of('v1'));
    first.flush();

    fs.writeFileSync(file, 'v2');
    fs.utimesSync(file, now, now);
    const next = new Hasher(store);
    assert.equal((await next.hashFile(file)).md5, md5Of('v2'));
    assert.equal(next.filesRead, 1);
  });

  it('serves a folder of unchanged files without reading any, and notices the one that changed', async () => {
    const root = path.join(workspace, 'images');
    const names = Array.from({ length: 50 }, (_, index) => `img-${String(index).padStart(3, '0')}.bin`);
    for (const name of names) write(path.relative(scratch, path.join(root, name)), randomBytes(64), LONG_AGO);
    const first = new Hasher(store);
    const before = await first.hashPath(root);
    assert.equal(first.filesRead, 50);
    first.flush();

    const second = new Hasher(store);
    assert.deepEqual(await second.hashPath(root), before);
    assert.equal(second.filesRead, 0);

    const changed = path.join(root, 'img-007.bin');
    fs.writeFileSync(changed, randomBytes(64));
    fs.utimesSync(changed, new Date(LONG_AGO.getTime() + 5000), new Date(LONG_AGO.getTime() + 5000));
    const third = new Hasher(store);
    const after = await third.hashPath(root);
    assert.equal(third.filesRead, 1);
    assert.notEqual(after?.md5, before?.md5);
  });

  it('works without a store for the life of the Hasher', async () => {
    const file = write('no-store.txt', 'content', LONG_AGO);
    const hasher = new Hasher(null);
    await hasher.hashFile(file);
    await hasher.hashFile(file);
    hasher.flush();
    assert.equal(hasher.filesRead, 1);
  });
});
