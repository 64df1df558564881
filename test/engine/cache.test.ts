// The content cache on real folders: save and restore of files and directories, what `has` promises,
// refusing content that changed after it was hashed, and gc keeping exactly what it is asked to.
import * as assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ContentCache } from '../../server/engine/cache';
import { Hasher } from '../../server/engine/hash';
import type { OutHash } from '../../server/engine/hash';

const LONG_AGO = new Date('2021-05-06T07:08:09.000Z');

let workspace: string;
let cache: ContentCache;
let hasher: Hasher;

function md5Of(data: string | Buffer): string {
  return createHash('md5').update(data).digest('hex');
}

function write(relpath: string, content: string | Buffer): string {
  const file = path.join(workspace, relpath);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, content);
  fs.utimesSync(file, LONG_AGO, LONG_AGO);
  return file;
}

/** Every file under a folder with its content, for comparing trees. */
function snapshot(root: string): Record<string, string> {
  const files: Record<string, string> = {};
  for (const entry of fs.readdirSync(root, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const full = path.join(entry.parentPath, entry.name);
    files[path.relative(root, full).split(path.sep).join('/')] = fs.readFileSync(full, 'latin1');
  }
  return files;
}

async function hashOf(absPath: string): Promise<OutHash> {
  const hash = await hasher.hashPath(absPath);
  assert.ok(hash, `${absPath} should exist`);
  return hash;
}

beforeEach(() => {
  workspace = fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-cache-'));
  cache = new ContentCache(workspace);
  hasher = new Hasher(null);
});

afterEach(() => {
  fs.rmSync(workspace, { recursive: true, force: true });
});

describe('ContentCache files', () => {
  it('stores a file read-only under files/md5/<2 hex>/<30 hex>, as DVC lays out its cache', async () => {
    const file = write('model.pkl', 'weights');
    const hash = await hashOf(file);
    await cache.save(file, hash, hasher);
    const object = path.join(workspace, '.cairn', 'cache', 'files', 'md5', hash.md5.slice(0, 2), hash.md5.slice(2));
    assert.equal(fs.readFileSync(object, 'utf8'), 'weights');
    assert.equal(fs.statSync(object).mode & 0o222, 0, 'objects are read-only');
    assert.equal(cache.has(hash), true);
    assert.deepEqual(fs.readdirSync(path.dirname(object)), [hash.md5.slice(2)], 'no temp file is left behind');
  });

  it('saves idempotently', async () => {
    const file = write('data.csv', 'a,b\n');
    const hash = await hashOf(file);
    await cache.save(file, hash, hasher);
    const object = cache.objectPath(hash.md5) as string;
    const firstWrite = fs.statSync(object).mtimeMs;
    await cache.save(file, hash, hasher);
    assert.equal(fs.statSync(object).mtimeMs, firstWrite);
  });

  it('restores a deleted file, writable again', async () => {
    const file = write('out/metrics.json', '{"auc": 0.9}');
    const hash = await hashOf(file);
    await cache.save(file, hash, hasher);
    fs.rmSync(path.join(workspace, 'out'), { recursive: true });

    assert.equal(await cache.restore(file, hash), true);
    assert.equal(fs.readFileSync(file, 'utf8'), '{"auc": 0.9}');
    fs.appendFileSync(file, '\n');
  });

  it('restores a modified file to the cached content', async () => {
    const file = write('predictions.csv', 'id,p\n1,0.3\n');
    const hash = await hashOf(file);
    await cache.save(file, hash, hasher);
    fs.writeFileSync(file, 'edited by hand');

    assert.equal(await cache.restore(file, hash), true);
    assert.equal(fs.readFileSync(file, 'utf8'), 'id,p\n1,0.3\n');
    assert.deepEqual(
      fs.readdirSync(workspace).filter((name) => name.endsWith('.tmp')),
      [],
    );
  });

  it('replaces a folder that stands where a cached file belongs', async () => {
    const file = write('report.html', '<html/>');
    const hash = await hashOf(file);
    await cache.save(file, hash, hasher);
    fs.rmSync(file);
    write('report.html/stray.txt', 'stray');

    assert.equal(await cache.restore(file, hash), true);
    assert.equal(fs.readFileSync(file, 'utf8'), '<html/>');
  });

  it('restores nothing and says so when the object is missing', async () => {
    const file = write('lost.bin', 'lost');
    const hash = await hashOf(file);
    fs.writeFileSync(file, 'current');
    assert.equal(cache.has(hash), false);
    assert.equal(await cache.restore(file, hash), false);
    assert.equal(fs.readFileSync(file, 'utf8'), 'current');
  });

  it('refuses a file that changed after it was hashed', async () => {
    const file = write('moving.csv', 'first version');
    const hash = await hashOf(file);
    fs.writeFileSync(file, 'second version, longer');
    await assert.rejects(cache.save(file, hash, hasher), /moving\.csv changed while it was being saved to the cache/);
    assert.equal(cache.has(hash), false);
  });

  it('treats a hand-edited md5 that is not one as absent', async () => {
    assert.equal(cache.has({ md5: '../../etc/passwd', size: 1, isDir: false }), false);
    assert.equal(await cache.restore(path.join(workspace, 'x'), { md5: 'zz', size: 1, isDir: false }), false);
  });
});

describe('ContentCache directories', () => {
  it('saves a directory and restores it after files were deleted, changed and added', async () => {
    const root = path.join(workspace, 'data', 'prepared');
    write('data/prepared/train.csv', 'x\n1\n2\n');
    write('data/prepared/test.csv', 'x\n3\n');
    write('data/prepared/nested/deep/labels.bin', randomBytes(1000));
    write('data/prepared/nested/copy.csv', 'x\n3\n');
    const original = snapshot(root);
    const hash = await hashOf(root);
    await cache.save(root, hash, hasher);
    assert.equal(cache.has(hash), true);
    assert.deepEqual(
      cache.manifest(hash.md5)?.map((entry) => entry.relpath),
      ['nested/copy.csv', 'nested/deep/labels.bin', 'test.csv', 'train.csv'],
    );

    fs.rmSync(path.join(root, 'train.csv'));
    fs.writeFileSync(path.join(root, 'test.csv'), 'tampered');
    fs.writeFileSync(path.join(root, 'extra.txt'), 'not in the cached version');

    assert.equal(await cache.restore(root, hash), true);
    assert.deepEqual(snapshot(root), original);
    assert.equal((await new Hasher(null).hashPath(root))?.md5, hash.md5);
    assert.deepEqual(fs.readdirSync(path.dirname(root)), ['prepared'], 'the temp and set-aside folders are gone');
  });

  it('restores a deleted directory, parents included', async () => {
    const root = path.join(workspace, 'models', 'checkpoints');
    write('models/checkpoints/epoch-1.pt', 'one');
    write('models/checkpoints/epoch-2.pt', 'two');
    const hash = await hashOf(root);
    await cache.save(root, hash, hasher);
    fs.rmSync(path.join(workspace, 'models'), { recursive: true });

    assert.equal(await cache.restore(root, hash), true);
    assert.deepEqual(snapshot(root), { 'epoch-1.pt': 'one', 'epoch-2.pt': 'two' });
  });

  it('saves an empty directory and restores it', async () => {
    const root = path.join(workspace, 'empty');
    fs.mkdirSync(root);
    const hash = await hashOf(root);
    await cache.save(root, hash, hasher);
    fs.rmSync(root, { recursive: true });
    assert.equal(await cache.restore(root, hash), true);
    assert.deepEqual(fs.readdirSync(root), []);
  });

  it('is not complete, and restores nothing, when one entry object is missing', async () => {
    const root = path.join(workspace, 'set');
    write('set/a.txt', 'a');
    write('set/b.txt', 'b');
    const hash = await hashOf(root);
    await cache.save(root, hash, hasher);
    fs.rmSync(cache.objectPath(md5Of('b')) as string);
    fs.writeFileSync(path.join(root, 'a.txt'), 'changed');

    assert.equal(cache.has(hash), false);
    assert.equal(await cache.restore(root, hash), false);
    assert.equal(fs.readFileSync(path.join(root, 'a.txt'), 'utf8'), 'changed');
  });

  it('refuses a directory whose content changed after it was hashed', async () => {
    const root = path.join(workspace, 'changing');
    write('changing/a.txt', 'a');
    const hash = await hashOf(root);
    write('changing/b.txt', 'b');
    await assert.rejects(cache.save(root, hash, hasher), /changing changed while it was being saved/);
    assert.equal(cache.has(hash), false);
  });
});

describe('ContentCache.gc', () => {
  it('removes every object not kept, keeping the entries of a kept directory', async () => {
    const kept = write('kept.txt', 'kept file');
    const dropped = write('dropped.txt', 'dropped file!');
    const folder = path.join(workspace, 'folder');
    write('folder/one.txt', 'one');
    write('folder/two.txt', 'two');
    const oldFolder = path.join(workspace, 'old-folder');
    write('old-folder/only-here.txt', 'only in the old version');
    write('old-folder/one.txt', 'one');
    const hashes = {
      kept: await hashOf(kept),
      dropped: await hashOf(dropped),
      folder: await hashOf(folder),
      oldFolder: await hashOf(oldFolder),
    };
    for (const [name, hash] of Object.entries(hashes)) {
      await cache.save(
        name === 'kept' ? kept : name === 'dropped' ? dropped : name === 'folder' ? folder : oldFolder,
        hash,
        hasher,
      );
    }
    const manifestBytes = fs.statSync(cache.objectPath(hashes.oldFolder.md5) as string).size;

    const result = cache.gc([hashes.kept.md5, hashes.folder.md5]);

    // Removed: dropped.txt, the old folder's manifest and its file found nowhere else ('one' is shared).
    assert.deepEqual(result, {
      removedObjects: 3,
      freedBytes: 'dropped file!'.length + 'only in the old version'.length + manifestBytes,
    });
    assert.equal(cache.has(hashes.kept), true);
    assert.equal(cache.has(hashes.folder), true);
    assert.equal(cache.has(hashes.dropped), false);
    assert.equal(cache.has(hashes.oldFolder), false);
    assert.deepEqual(cache.gc([hashes.kept.md5, hashes.folder.md5]), { removedObjects: 0, freedBytes: 0 });
  });

  it('removes temp files left by a crash but not one being written now', async () => {
    const file = write('a.txt', 'a');
    await cache.save(file, await hashOf(file), hasher);
    const folder = path.dirname(cache.objectPath(md5Of('a')) as string);
    const stale = path.join(folder, 'deadbeef.123456.tmp');
    const fresh = path.join(folder, 'cafebabe.654321.tmp');
    fs.writeFileSync(stale, 'half an object');
    fs.utimesSync(stale, LONG_AGO, LONG_AGO);
    fs.writeFileSync(fresh, 'being written');

    cache.gc([md5Of('a')]);
    assert.equal(fs.existsSync(stale), false);
    assert.equal(fs.existsSync(fresh), true);
  });

  it('is a no-op on a workspace without a cache', () => {
    assert.deepEqual(cache.gc([]), { removedObjects: 0, freedBytes: 0 });
  });
});
