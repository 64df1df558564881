import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { applyParams, createWorkingCopy, removeWorkingCopy, workingCopiesDir } from '../../server/engine/workingCopy';

describe('working copies', () => {
  let root: string;
  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-wc-'));
    fs.mkdirSync(path.join(root, 'src'));
    fs.writeFileSync(path.join(root, 'src', 'train.py'), 'print(1)\n');
    fs.writeFileSync(
      path.join(root, 'params.yaml'),
      '# tuned by hand\ntrain:\n  lr: 0.1 # learning rate\n  epochs: 10\n',
    );
    fs.mkdirSync(path.join(root, 'node_modules', 'pkg'), { recursive: true });
    fs.mkdirSync(path.join(root, '.git'));
    fs.mkdirSync(path.join(root, '.cairn', 'cache'), { recursive: true });
    fs.writeFileSync(path.join(root, '.cairn', 'cairn.db'), '');
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  it('copies the workspace, links packages, skips state and shares the cache', () => {
    const copy = createWorkingCopy(root, path.join(workingCopiesDir(root, 'sweep-1'), 'trial-0'));
    assert.equal(fs.readFileSync(path.join(copy, 'src', 'train.py'), 'utf8'), 'print(1)\n');
    assert.ok(fs.lstatSync(path.join(copy, 'node_modules')).isSymbolicLink());
    assert.ok(!fs.existsSync(path.join(copy, '.git')));
    assert.ok(!fs.existsSync(path.join(copy, '.cairn', 'cairn.db')));
    assert.equal(
      fs.realpathSync(path.join(copy, '.cairn', 'cache')),
      fs.realpathSync(path.join(root, '.cairn', 'cache')),
    );
    // Writing in the copy leaves the workspace alone.
    fs.writeFileSync(path.join(copy, 'src', 'train.py'), 'print(2)\n');
    assert.equal(fs.readFileSync(path.join(root, 'src', 'train.py'), 'utf8'), 'print(1)\n');
    removeWorkingCopy(copy);
    assert.ok(!fs.existsSync(copy));
    assert.ok(fs.existsSync(path.join(root, '.cairn', 'cache')));
  });

  it('keeps links working from the copy and never writes params through a link out of it', () => {
    const shared = fs.mkdtempSync(path.join(os.tmpdir(), 'cairn-wc-shared-'));
    try {
      fs.writeFileSync(path.join(shared, 'rows.csv'), 'a\n1\n');
      fs.symlinkSync(path.relative(root, shared), path.join(root, 'data'));
      fs.symlinkSync(path.join(root, 'params.yaml'), path.join(root, 'linked.yaml'));
      const copy = createWorkingCopy(root, path.join(workingCopiesDir(root, 'sweep-2'), 'trial-0'));
      assert.equal(fs.readFileSync(path.join(copy, 'data', 'rows.csv'), 'utf8'), 'a\n1\n');
      assert.throws(() => applyParams(copy, { 'linked.yaml:train.lr': 9 }), /link to a file outside/);
      assert.match(fs.readFileSync(path.join(root, 'params.yaml'), 'utf8'), /lr: 0\.1/);
    } finally {
      fs.rmSync(shared, { recursive: true, force: true });
    }
  });

  it('refuses a folder outside the workspace state', () => {
    assert.throws(() => createWorkingCopy(root, path.join(root, 'copy')), /inside/);
  });

  it('sets params keeping comments, and creates what is missing', () => {
    applyParams(root, { 'train.lr': 0.01, 'train.model': 'tree', 'other.yaml:depth': 3 });
    const text = fs.readFileSync(path.join(root, 'params.yaml'), 'utf8');
    assert.match(text, /# tuned by hand/);
    assert.match(text, /lr: 0\.01 # learning rate/);
    assert.match(text, /model: tree/);
    assert.match(text, /epochs: 10/);
    assert.equal(fs.readFileSync(path.join(root, 'other.yaml'), 'utf8'), 'depth: 3\n');
    assert.throws(() => applyParams(root, { '../x.yaml:a': 1 }), /outside/);
  });
});
