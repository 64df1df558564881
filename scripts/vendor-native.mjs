// Copies the native modules the CLI and the language server load at run time (better-sqlite3 and
// what it requires; onnxruntime-node with its CPU binaries for this platform, which model servers,
// `cairn score` and evaluations load) into dist/node_modules, so the packaged extension's
// `dist/cli/cairn.js` finds them next to itself. The extension host itself never loads them
// (ARCHITECTURE.md).
import * as fs from 'node:fs';
import * as path from 'node:path';

const repository = path.resolve(import.meta.dirname, '..');
const target = path.join(repository, 'dist', 'node_modules');
const pieces = [
  ['better-sqlite3', ['package.json', 'LICENSE', 'lib', 'build/Release/better_sqlite3.node']],
  ['bindings', ['package.json', 'LICENSE.md', 'bindings.js']],
  ['file-uri-to-path', ['package.json', 'LICENSE', 'index.js']],
  ['onnxruntime-node', ['package.json', 'LICENSE', 'dist', `bin/napi-v6/${process.platform}/${process.arch}`]],
  ['onnxruntime-common', ['package.json', 'LICENSE', 'dist/cjs']],
];

fs.rmSync(target, { recursive: true, force: true });
for (const [name, files] of pieces) {
  for (const file of files) {
    const from = path.join(repository, 'node_modules', name, file);
    if (!fs.existsSync(from)) {
      if (file.startsWith('LICENSE')) continue;
      throw new Error(`${from} is missing: run npm ci first.`);
    }
    const to = path.join(target, name, file);
    fs.mkdirSync(path.dirname(to), { recursive: true });
    fs.cpSync(from, to, { recursive: true });
  }
}
process.stdout.write(`vendored ${pieces.map(([name]) => name).join(', ')} into dist/node_modules\n`);
