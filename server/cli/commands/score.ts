// `cairn score MODEL INPUT OUTPUT`: batch scoring of a CSV, JSON Lines or Parquet file with a
// registered model version or an ONNX file, with a progress bar (or JSON progress lines) and a clean
// stop on Ctrl-C (exit 130, the rows scored so far left in OUTPUT.partial). Bad input exits 2, a
// model that fails on the rows 1.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Registry, RegistryError } from '../../engine/registry/registry';
import { OnnxError, readOnnxSignature } from '../../engine/registry/signature';
import type { OnnxSignature } from '../../engine/registry/signature';
import { ScoreError, scoreFile } from '../../engine/serving/score';
import type { ScoreProgress } from '../../engine/serving/score';
import { stateDir, Store } from '../../engine/store';
import { rejectUnknownOptions, takeOption, UsageError } from '../args';
import type { Command } from '../args';

export const scoreCommand: Command = {
  usage: [
    'score MODEL INPUT OUTPUT [--batch N] [--id COLUMN] [--json]',
    '                              Score a CSV, JSON Lines or Parquet file with MODEL (NAME@ALIAS, NAME:VERSION',
    '                              or a .onnx file); OUTPUT is .csv or .jsonl, with the COLUMN of each row first.',
  ],
  async run({ root, json, args }) {
    const batchText = takeOption(args, '--batch');
    const idColumn = takeOption(args, '--id');
    rejectUnknownOptions(args);
    const [reference, input, output, extra] = args;
    if (reference === undefined || input === undefined || output === undefined)
      throw new UsageError('score needs MODEL INPUT OUTPUT, for example: cairn score rain@champion in.csv out.csv');
    if (extra !== undefined) throw new UsageError(`Unexpected argument '${extra}'.`);
    const batchSize = batchText === undefined ? 1024 : Number(batchText);
    if (!Number.isInteger(batchSize) || batchSize < 1)
      throw new UsageError(`--batch needs a whole number of rows of at least 1, got '${batchText ?? ''}'.`);
    let model: { path: string; signature: OnnxSignature; label: string };
    try {
      model = resolveModel(root, reference);
    } catch (error) {
      if (error instanceof RegistryError || error instanceof OnnxError) throw new UsageError(error.message);
      throw error;
    }
    const controller = new AbortController();
    const stop = (): void => controller.abort();
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    const bar = !json && process.stderr.isTTY ? progressBar() : null;
    let lastJson = 0;
    const onProgress = (progress: ScoreProgress): void => {
      bar?.(progress);
      if (json && (Date.now() - lastJson >= 500 || progress.rows === progress.total)) {
        lastJson = Date.now();
        process.stdout.write(`${JSON.stringify({ event: 'progress', ...progress, rowsPerSecond: rate(progress) })}\n`);
      }
    };
    try {
      const result = await scoreFile({
        modelPath: model.path,
        signature: model.signature,
        input: path.resolve(input),
        output: path.resolve(output),
        display: input,
        batchSize,
        ...(idColumn !== undefined ? { idColumn } : {}),
        signal: controller.signal,
        onProgress,
      });
      if (bar) process.stderr.write('\n');
      const summary = {
        event: 'done',
        status: result.status,
        model: model.label,
        input,
        output: path.relative(process.cwd(), result.file) || result.file,
        rows: result.rows,
        batches: result.batches,
        elapsedMs: result.elapsedMs,
        rowsPerSecond: rate({ rows: result.rows, elapsedMs: result.elapsedMs }),
        columns: result.columns,
      };
      if (json) process.stdout.write(`${JSON.stringify(summary)}\n`);
      if (result.status === 'cancelled') {
        process.stderr.write(
          `cairn: stopped after ${result.rows} rows; the rows scored so far are in ${summary.output} (not ${output}).\n`,
        );
        return 130;
      }
      if (!json)
        process.stdout.write(
          `Scored ${result.rows} rows with ${model.label} in ${(result.elapsedMs / 1000).toFixed(1)} s (${summary.rowsPerSecond} rows/s): ${output} (${result.columns.join(', ')})\n`,
        );
      return 0;
    } catch (error) {
      if (bar) process.stderr.write('\n');
      if (error instanceof ScoreError) {
        // A failed run leaves nothing that looks like an answer.
        fs.rmSync(`${path.resolve(output)}.partial`, { force: true });
        process.stderr.write(`cairn: ${error.message}\n`);
        return error.exitCode;
      }
      throw error;
    } finally {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
    }
  },
};

/** MODEL as a file: a path to an .onnx file, or a registry reference NAME@ALIAS, NAME@V or NAME:V. */
function resolveModel(root: string, reference: string): { path: string; signature: OnnxSignature; label: string } {
  if (reference.endsWith('.onnx')) {
    const file = path.resolve(reference);
    if (!fs.existsSync(file)) throw new UsageError(`${reference}: no such file.`);
    return { path: file, signature: readOnnxSignature(file), label: reference };
  }
  if (!fs.existsSync(path.join(stateDir(root), 'cairn.db')))
    throw new UsageError(
      `No model registry in ${root}, so no model '${reference}'. Give a .onnx file, or --workspace.`,
    );
  const store = Store.open(root);
  try {
    const version = new Registry(store, root).resolve(reference.replace(/:(v?[0-9]+)$/, '@$1'));
    return { path: version.objectPath, signature: version.signature, label: `${version.model}:${version.version}` };
  } finally {
    store.close();
  }
}

function rate(progress: { rows: number; elapsedMs: number }): number {
  return progress.elapsedMs > 0 ? Math.round((progress.rows * 1000) / progress.elapsedMs) : 0;
}

/** A one-line progress bar on stderr, redrawn at most ten times a second. */
function progressBar(): (progress: ScoreProgress) => void {
  let drawn = 0;
  return (progress) => {
    const now = Date.now();
    if (now - drawn < 100 && progress.rows !== progress.total) return;
    drawn = now;
    const width = 30;
    const share = progress.total ? Math.min(1, progress.rows / progress.total) : 0;
    const filled = Math.round(share * width);
    const bar = progress.total ? `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ` : '';
    const total = progress.total ? `/${progress.total.toLocaleString('en-US')}` : '';
    process.stderr.write(
      `\r${bar}${progress.rows.toLocaleString('en-US')}${total} rows  ${rate(progress).toLocaleString('en-US')} rows/s   `,
    );
  };
}
