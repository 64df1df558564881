// Lint rules. The one that matters most for the architecture: only `client/` may import `vscode`
// (server/ runs without an editor; webview code runs in a browser sandbox).
import eslint from '@eslint/js';
import tseslint from 'typescript-eslint';

const noVscode = {
  'no-restricted-imports': [
    'error',
    { paths: [{ name: 'vscode', message: 'Only client/ may import vscode: server/ must run without an editor.' }] },
  ],
};

export default tseslint.config(
  { ignores: ['dist/**', 'media/**', 'node_modules/**', '.vscode-test/**', '.e2e/**', 'test/e2e/artifacts/**'] },
  eslint.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: {
        process: 'readonly',
        console: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        Buffer: 'readonly',
        URL: 'readonly',
        __dirname: 'readonly',
        require: 'readonly',
        module: 'writable',
        performance: 'readonly',
        setImmediate: 'readonly',
        setInterval: 'readonly',
        clearInterval: 'readonly',
        fetch: 'readonly',
      },
    },
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': 'off',
    },
  },
  {
    files: ['test/e2e/**/*.mjs'],
    languageOptions: { globals: { document: 'readonly', window: 'readonly', NodeFilter: 'readonly' } },
  },
  { files: ['server/**/*.ts', 'test/unit/**/*.ts', 'test/protocol/**/*.ts', 'bench/**'], rules: noVscode },
  {
    files: ['server/**/*.ts'],
    rules: { 'no-console': 'error' },
  },
  { files: ['server/cli/**/*.ts'], rules: { 'no-console': 'off' } },
  {
    // Webview code runs in the browser sandbox of a webview: DOM globals, no vscode, no Node.
    files: ['client/webview/**/*.ts'],
    languageOptions: {
      globals: { window: 'readonly', document: 'readonly', getComputedStyle: 'readonly', MessageEvent: 'readonly' },
    },
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [
            { name: 'vscode', message: 'Webview code runs in a browser: talk to the host through the contract.' },
          ],
          patterns: [{ group: ['node:*'], message: 'Webview code runs in a browser: no Node modules.' }],
        },
      ],
    },
  },
);
