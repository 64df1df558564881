// Builds every bundle of the project: the extension client, the language server and the `cairn`
// CLI. One shared helper, one short entry per bundle. `--watch` rebuilds on change.
import * as esbuild from 'esbuild';

const watch = process.argv.includes('--watch');
const production = process.argv.includes('--production');

/** @type {esbuild.BuildOptions} */
const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  sourcemap: !production,
  minify: production,
  logLevel: 'info',
};

/** Native modules are loaded from node_modules at run time (server and CLI only, never the client). */
const native = ['better-sqlite3', 'onnxruntime-node'];

const bundles = [
  // The extension host bundle: `vscode` is provided by the editor at run time.
  { ...common, entryPoints: ['client/extension.ts'], outfile: 'dist/client/extension.js', external: ['vscode'] },
  // The language server, started by the client or by any editor as `cairn-language-server --stdio`.
  {
    ...common,
    entryPoints: ['server/languageServer.ts'],
    outfile: 'dist/server/languageServer.js',
    external: native,
    banner: { js: '#!/usr/bin/env node' },
  },
  // The command line.
  {
    ...common,
    entryPoints: ['server/cli/cairn.ts'],
    outfile: 'dist/cli/cairn.js',
    external: native,
    banner: { js: '#!/usr/bin/env node' },
  },
  // The lineage webview (DOM only, in the webview's sandbox); its CSS import becomes media/lineage.css.
  // Always minified and without a source map: most of it is ELK, itself shipped minified, and a map
  // in media/ would go into the .vsix.
  {
    ...common,
    platform: 'browser',
    target: 'es2022',
    format: 'iife',
    minify: true,
    sourcemap: false,
    entryPoints: ['client/webview/lineage.ts'],
    outfile: 'media/lineage.js',
  },
  // The experiments table webview (DOM only); its CSS import becomes media/experiments.css.
  {
    ...common,
    platform: 'browser',
    target: 'es2022',
    format: 'iife',
    minify: true,
    sourcemap: false,
    entryPoints: ['client/webview/experiments.ts'],
    outfile: 'media/experiments.js',
  },
  // The monitoring dashboard webview (DOM only); its CSS import becomes media/monitor.css.
  {
    ...common,
    platform: 'browser',
    target: 'es2022',
    format: 'iife',
    minify: true,
    sourcemap: false,
    entryPoints: ['client/webview/monitor.ts'],
    outfile: 'media/monitor.js',
  },
];

if (watch) {
  const contexts = await Promise.all(bundles.map((options) => esbuild.context(options)));
  await Promise.all(contexts.map((context) => context.watch()));
} else {
  await Promise.all(bundles.map((options) => esbuild.build(options)));
}
