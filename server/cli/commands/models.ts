// `cairn models ...`: the model registry. Register an ONNX file behind the gate its pipeline
// declares, list and show versions with their signature, metrics and gate report, move aliases,
// approve versions, and read the audit log.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BundleError, writeBundle } from '../../engine/export/bundle';
import { formatGateReport } from '../../engine/gates/evaluate';
import { recordRunGate } from '../../engine/gates/reports';
import { reproduceVersion } from '../../engine/registry/reproduce';
import type { Reproduction } from '../../engine/registry/reproduce';
import { PipelineError } from '../../engine/runner';
import type { RunEvent } from '../../engine/runner';
import { registerWithGate } from '../../engine/registry/register';
import { Registry, RegistryError, snapshotPath } from '../../engine/registry/registry';
import type { AuditEntry, ModelVersion } from '../../engine/registry/registry';
import { describeTensor, OnnxError } from '../../engine/registry/signature';
import { readModels } from '../../engine/registry/spec';
import { stateDir, Store } from '../../engine/store';
import { nestedMetrics, resolveRun, RunNotFound, runDetail } from '../../engine/tracking/read';
import { rejectUnknownOptions, takeFlag, takeOption, UsageError } from '../args';
import { renderTable } from '../format';
import type { Command, CommandContext } from '../args';

export const modelsCommand: Command = {
  usage: [
    'models list [--json]            List registered models, their versions and aliases.',
    'models show NAME[@ALIAS|@VERSION] [--json]',
    '                                A version: signature, metrics, gate report, aliases, audit.',
    'models register NAME PATH.onnx [--run RUN] [--metrics FILE.json] [--description TEXT] [--tag K=V]... [--force]',
    '                                Register a version behind the gate the pipeline declares for NAME.',
    'models alias NAME ALIAS VERSION [--reason TEXT]',
    '                                Point an alias (champion, challenger, ...) at a version.',
    'models unalias NAME ALIAS [--reason TEXT]',
    '                                Remove an alias.',
    'models tag NAME VERSION KEY=VALUE... [--remove KEY]... [--reason TEXT]',
    '                                Set (or remove) tags of a version.',
    'models approve NAME VERSION [--reason TEXT]',
    '                                Approve a version (deployments may require it).',
    'models audit NAME [--json]      Every change to a model: when, who, what, from, to, why.',
    'models reproduce NAME@ALIAS|NAME:VERSION [--json]',
    '                                Re-run the pipeline that made a version (recorded params, forced, in a',
    '                                working copy) and compare artifact hash, metrics and data; exit 1 on a mismatch.',
    'models export NAME@ALIAS|NAME:VERSION DIR [--include FILE]... [--json]',
    '                                A self-contained bundle: model.onnx, signature, pre/postprocessing, runnable',
    '                                Node and Python examples, README (server, edge, mobile, web), checksums.',
  ],
  run(context) {
    const action = context.args.shift();
    try {
      switch (action) {
        case 'list':
          return listCommand(context);
        case 'show':
          return showCommand(context);
        case 'register':
          return registerCommand(context);
        case 'alias':
          return aliasCommand(context);
        case 'unalias':
          return unaliasCommand(context);
        case 'tag':
          return tagCommand(context);
        case 'approve':
          return approveCommand(context);
        case 'audit':
          return auditCommand(context);
        case 'reproduce':
          return reproduceCommand(context);
        case 'export':
          return exportBundleCommand(context);
        default:
          throw new UsageError(
            action
              ? `Unknown models command '${action}'. Use list, show, register, alias, unalias, tag, approve, audit, reproduce or export.`
              : 'models needs a command: list, show, register, alias, unalias, tag, approve, audit, reproduce or export.',
          );
      }
    } catch (error) {
      // A missing model, version or file, or a file that is not ONNX: bad input, said plainly.
      if (!(error instanceof RegistryError) && !(error instanceof OnnxError) && !(error instanceof BundleError))
        throw error;
      process.stderr.write(`cairn: ${error.message}\n`);
      return 2;
    }
  },
};

/** A tracked run by id, id prefix or name, with its latest metrics in the shape a gate reads. */
function runOf(root: string, reference: string): { id: string; metrics: Record<string, unknown>; artifacts: string[] } {
  if (!fs.existsSync(path.join(stateDir(root), 'cairn.db')))
    throw new UsageError(`No tracked runs in ${root}, so no run '${reference}'.`);
  const store = Store.open(root);
  try {
    const id = resolveRun(store.db, reference);
    return {
      id,
      metrics: nestedMetrics(store.db, id),
      artifacts: (runDetail(store.db, id)?.artifacts ?? []).map((artifact) => artifact.md5),
    };
  } catch (error) {
    if (error instanceof RunNotFound) throw new UsageError(error.message);
    throw error;
  } finally {
    store.close();
  }
}

function withRegistry<T>(root: string, work: (registry: Registry, store: Store) => T): T {
  const store = Store.open(root);
  try {
    const registry = new Registry(store, root);
    // A registry last changed before snapshots existed gets one, so the editor sees its models.
    if (!fs.existsSync(snapshotPath(root))) registry.writeSnapshot();
    return work(registry, store);
  } finally {
    store.close();
  }
}

function listCommand({ root, json, args }: CommandContext): number {
  rejectUnknownOptions(args);
  const models = withRegistry(root, (registry) => registry.models());
  if (json) {
    process.stdout.write(`${JSON.stringify({ models }, null, 2)}\n`);
    return 0;
  }
  if (models.length === 0) {
    process.stdout.write('No models registered yet. Register one with: cairn models register NAME PATH.onnx\n');
    return 0;
  }
  const rows = models.map((model) => [
    model.name,
    String(model.versions),
    model.latest === null ? '-' : `v${model.latest}`,
    Object.entries(model.aliases)
      .map(([alias, version]) => `${alias}=v${version}`)
      .join(' ') || '-',
  ]);
  process.stdout.write(renderTable([['MODEL', 'VERSIONS', 'LATEST', 'ALIASES'], ...rows]));
  return 0;
}

function showCommand({ root, json, args }: CommandContext): number {
  rejectUnknownOptions(args);
  const reference = requireArgument(args, 'a model: NAME, NAME@ALIAS or NAME@VERSION');
  const shown = withRegistry(root, (registry) => {
    const version = registry.resolve(reference);
    return {
      version,
      aliases: registry.aliases(version.model),
      audit: registry.auditLog(version.model).filter((entry) => entry.version === version.version),
    };
  });
  if (json) {
    process.stdout.write(`${JSON.stringify(shown, null, 2)}\n`);
    return 0;
  }
  process.stdout.write(describeVersion(shown.version));
  process.stdout.write(`\nAudit of v${shown.version.version}:\n${auditLines(shown.audit)}`);
  return 0;
}

function describeVersion(version: ModelVersion): string {
  const lines = [
    `${version.model} v${version.version}${version.aliases.length > 0 ? ` (${version.aliases.join(', ')})` : ''}`,
    `  registered   ${timestamp(version.createdAt)}${version.sourcePath ? ` from ${version.sourcePath}` : ''}`,
    `  content      md5 ${version.md5}, ${version.size} bytes`,
    `  stored at    ${version.objectPath}`,
    `  approved     ${version.approved ? `yes, by ${version.approvedBy ?? '?'} at ${timestamp(version.approvedAt ?? 0)}` : 'no'}`,
  ];
  if (version.description) lines.push(`  description  ${version.description}`);
  const tags = Object.entries(version.tags);
  if (tags.length > 0) lines.push(`  tags         ${tags.map(([key, value]) => `${key}=${value}`).join(' ')}`);
  if (version.runId) lines.push(`  run          ${version.runId}${version.pipeline ? ` (${version.pipeline})` : ''}`);
  const signature = version.signature;
  lines.push(
    `  producer     ${signature.producer || '-'}, IR ${signature.irVersion}, opsets ${Object.entries(signature.opsets)
      .map(([domain, opset]) => `${domain} ${opset}`)
      .join(', ')}`,
    '  inputs',
    ...signature.inputs.map((tensor) => `    ${describeTensor(tensor)}`),
    '  outputs',
    ...signature.outputs.map((tensor) => `    ${describeTensor(tensor)}`),
  );
  const metrics = Object.entries(version.metrics ?? {}).filter(([, value]) => typeof value === 'number');
  if (metrics.length > 0) lines.push('  metrics', ...metrics.map(([key, value]) => `    ${key} = ${String(value)}`));
  let text = `${lines.join('\n')}\n`;
  if (version.gateReport) text += indent(formatGateReport(version.gateReport, 'Gate'));
  return text;
}

function registerCommand({ root, json, args }: CommandContext): number {
  const metricsFile = takeOption(args, '--metrics');
  const runReference = takeOption(args, '--run');
  const description = takeOption(args, '--description');
  const reason = takeOption(args, '--reason');
  const tags: Record<string, string> = {};
  for (let tag = takeOption(args, '--tag'); tag !== undefined; tag = takeOption(args, '--tag')) {
    const equals = tag.indexOf('=');
    if (equals <= 0) throw new UsageError(`--tag needs KEY=VALUE, got '${tag}'.`);
    tags[tag.slice(0, equals)] = tag.slice(equals + 1);
  }
  const force = takeFlag(args, '--force');
  rejectUnknownOptions(args);
  const name = requireArgument(args, 'the model name');
  const onnxArgument = requireArgument(args, 'the path of the .onnx file');
  if (args.length > 0) throw new UsageError(`Unexpected argument '${args[0] ?? ''}'.`);
  const onnxPath = path.resolve(onnxArgument);
  if (!fs.existsSync(onnxPath)) throw new UsageError(`${onnxArgument}: no such file.`);

  const { models, problems } = readModels(root);
  const declared = models.find((model) => model.name === name);
  const declaredProblems = problems.filter((problem) => problem.message.startsWith(`model '${name}'`));
  if (declaredProblems.length > 0)
    throw new UsageError(
      declaredProblems
        .map((problem) => `${path.relative(root, problem.file)}:${problem.line}: ${problem.message}`)
        .join('\n'),
    );
  // The run that produced the model: recorded with the version, and its metrics judge the gate
  // unless a metrics file is given.
  const found = runReference === undefined ? undefined : runOf(root, runReference);
  const md5 = createHash('md5').update(fs.readFileSync(onnxPath)).digest('hex');
  const run = found && { ...found, md5 };
  if (run) {
    // The run's metrics judge the gate only for the bytes that run produced.
    if (!run.artifacts.includes(md5))
      throw new UsageError(
        `${onnxArgument} is not an artifact of run ${run.id.slice(0, 8)} (its md5 ${md5} is not among the run's artifacts); give that run's model file, or --metrics instead of --run.`,
      );
  }
  const gate = declared?.gate;
  if (gate && metricsFile === undefined && run === undefined && !force)
    throw new UsageError(
      `model '${name}' has a gate (${path.relative(root, declared.file)}:${declared.line}); give the evaluation metrics with --metrics FILE.json or the run with --run RUN, or --force to register without judging it.`,
    );
  const metrics = metricsFile === undefined ? run?.metrics : readMetrics(metricsFile);
  // Skipping a declared gate is a decision the audit log keeps, like forcing past a failing one.
  const auditReason =
    gate && !metrics
      ? ['registered with --force without judging the gate (no --metrics)', reason].filter(Boolean).join(': ')
      : reason;
  const result = withRegistry(root, (registry, store) => {
    const outcome = registerWithGate(registry, {
      name,
      onnxPath,
      tags: { ...(declared?.tags ?? {}), ...tags },
      force,
      ...(metrics ? { metrics } : {}),
      ...(gate && metrics ? { gate } : {}),
      ...((description ?? declared?.description) !== undefined
        ? { description: description ?? declared?.description ?? '' }
        : {}),
      ...(auditReason !== undefined ? { reason: auditReason } : {}),
      ...(declared ? { pipeline: path.relative(root, declared.file) } : {}),
      ...(run ? { runId: run.id } : {}),
    });
    // The gate's verdict is kept with the run that produced the model, as for a pipeline run.
    if (run)
      recordRunGate(store, run.id, {
        model: name,
        md5: run.md5,
        report: outcome.report,
        version: outcome.status === 'refused' ? null : outcome.version.version,
      });
    return outcome;
  });
  if (json) {
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    return result.status === 'refused' ? 1 : 0;
  }
  const title = `Gate for ${name}`;
  if (result.status === 'refused') {
    process.stdout.write(formatGateReport(result.report, title));
    process.stderr.write(
      `cairn: ${name} not registered: the gate failed. Improve the model, or register it anyway with --force (recorded in the audit log).\n`,
    );
    return 1;
  }
  if (result.report) process.stdout.write(formatGateReport(result.report, title));
  const version = result.version;
  if (result.status === 'existing')
    process.stdout.write(
      `${name} v${version.version} already holds this content (md5 ${version.md5}); nothing new registered.\n`,
    );
  else
    process.stdout.write(
      `Registered ${name} v${version.version} (md5 ${version.md5}, ${version.size} bytes)${result.forced ? ' despite the failing gate (--force, recorded in the audit log)' : ''}.\n` +
        `  inputs:  ${version.signature.inputs.map(describeTensor).join('; ')}\n` +
        `  outputs: ${version.signature.outputs.map(describeTensor).join('; ')}\n`,
    );
  return 0;
}

function aliasCommand({ root, json, args }: CommandContext): number {
  const reason = takeOption(args, '--reason');
  rejectUnknownOptions(args);
  const name = requireArgument(args, 'the model name');
  const alias = requireArgument(args, 'the alias (champion, challenger, ...)');
  const version = versionNumber(requireArgument(args, 'the version number'));
  const { previous } = withRegistry(root, (registry) =>
    registry.setAlias(name, alias, version, reason !== undefined ? { reason } : {}),
  );
  if (json) process.stdout.write(`${JSON.stringify({ model: name, alias, version, previous })}\n`);
  else if (previous === version) process.stdout.write(`${name}@${alias} already points at v${version}.\n`);
  else
    process.stdout.write(
      `${name}@${alias} now points at v${version}${previous === null ? '' : ` (was v${previous})`}.\n`,
    );
  return 0;
}

function unaliasCommand({ root, json, args }: CommandContext): number {
  const reason = takeOption(args, '--reason');
  rejectUnknownOptions(args);
  const name = requireArgument(args, 'the model name');
  const alias = requireArgument(args, 'the alias to remove');
  if (args.length > 0) throw new UsageError(`Unexpected argument '${args[0] ?? ''}'.`);
  const version = withRegistry(root, (registry) =>
    registry.removeAlias(name, alias, reason !== undefined ? { reason } : {}),
  );
  if (json) process.stdout.write(`${JSON.stringify({ model: name, alias, version })}\n`);
  else process.stdout.write(`${name}@${alias} removed (it pointed at v${version}).\n`);
  return 0;
}

function tagCommand({ root, json, args }: CommandContext): number {
  const reason = takeOption(args, '--reason');
  const removed: string[] = [];
  for (let key = takeOption(args, '--remove'); key !== undefined; key = takeOption(args, '--remove')) removed.push(key);
  rejectUnknownOptions(args);
  const name = requireArgument(args, 'the model name');
  const version = versionNumber(requireArgument(args, 'the version number'));
  const set: [string, string][] = args.splice(0).map((tag) => {
    const equals = tag.indexOf('=');
    if (equals <= 0) throw new UsageError(`A tag is KEY=VALUE, got '${tag}'.`);
    return [tag.slice(0, equals), tag.slice(equals + 1)];
  });
  if (set.length === 0 && removed.length === 0)
    throw new UsageError('Give the tags to set as KEY=VALUE, or the ones to remove with --remove KEY.');
  const change = reason !== undefined ? { reason } : {};
  const tags = withRegistry(root, (registry) => {
    const current = registry.resolve(`${name}@${version}`).tags;
    const missing = removed.filter((key) => !(key in current));
    if (missing.length > 0)
      throw new RegistryError(
        `${name} v${version} has no tag ${missing.map((key) => `'${key}'`).join(', ')} (tags: ${Object.keys(current).join(', ') || 'none'}).`,
      );
    for (const key of removed) registry.setTag(name, version, key, null, change);
    for (const [key, value] of set) registry.setTag(name, version, key, value, change);
    return registry.resolve(`${name}@${version}`).tags;
  });
  if (json) process.stdout.write(`${JSON.stringify({ model: name, version, tags })}\n`);
  else
    process.stdout.write(
      `${name} v${version} tags: ${
        Object.entries(tags)
          .map(([key, value]) => `${key}=${value}`)
          .join(' ') || '(none)'
      }\n`,
    );
  return 0;
}

function approveCommand({ root, json, args }: CommandContext): number {
  const reason = takeOption(args, '--reason');
  rejectUnknownOptions(args);
  const name = requireArgument(args, 'the model name');
  const version = versionNumber(requireArgument(args, 'the version number'));
  const { alreadyApproved } = withRegistry(root, (registry) =>
    registry.approve(name, version, reason !== undefined ? { reason } : {}),
  );
  if (json) process.stdout.write(`${JSON.stringify({ model: name, version, alreadyApproved })}\n`);
  else process.stdout.write(`${name} v${version} ${alreadyApproved ? 'was already approved' : 'approved'}.\n`);
  return 0;
}

function auditCommand({ root, json, args }: CommandContext): number {
  rejectUnknownOptions(args);
  const name = requireArgument(args, 'the model name');
  const entries = withRegistry(root, (registry) => {
    registry.resolve(name);
    return registry.auditLog(name);
  });
  if (json) process.stdout.write(`${JSON.stringify({ model: name, audit: entries }, null, 2)}\n`);
  else process.stdout.write(auditLines(entries));
  return 0;
}

async function reproduceCommand({ root, json, args }: CommandContext): Promise<number> {
  rejectUnknownOptions(args);
  const reference = requireArgument(args, 'the version to reproduce: NAME@ALIAS or NAME:VERSION');
  if (args.length > 0) throw new UsageError(`Unexpected argument '${args[0] ?? ''}'.`);
  const controller = new AbortController();
  const stop = (): void => controller.abort();
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  const store = Store.open(root);
  let reproduction: Reproduction;
  try {
    if (!json) process.stderr.write(`Reproducing ${reference} in a working copy, every stage forced...\n`);
    reproduction = await reproduceVersion(store, root, reference, {
      signal: controller.signal,
      ...(json ? {} : { onEvent: printProgress }),
    });
  } catch (error) {
    if (error instanceof RegistryError || error instanceof OnnxError) {
      process.stderr.write(`cairn: ${error.message}\n`);
      return 2;
    }
    if (error instanceof PipelineError) throw new UsageError(error.message);
    throw error;
  } finally {
    store.close();
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
  if (json) {
    process.stdout.write(`${JSON.stringify(reproduction, null, 2)}\n`);
    return reproduction.reproduced ? 0 : 1;
  }
  process.stdout.write(describeReproduction(reproduction));
  return reproduction.reproduced ? 0 : 1;
}

function exportBundleCommand({ root, json, args }: CommandContext): number {
  const include: string[] = [];
  for (let file = takeOption(args, '--include'); file !== undefined; file = takeOption(args, '--include'))
    include.push(file);
  rejectUnknownOptions(args);
  const reference = requireArgument(args, 'the version to export: NAME@ALIAS or NAME:VERSION');
  const folder = path.resolve(requireArgument(args, 'the folder to write the bundle to'));
  if (args.length > 0) throw new UsageError(`Unexpected argument '${args[0] ?? ''}'.`);
  // The registry reads NAME@3 for a version; NAME:3 is how deployment files write it.
  const version = withRegistry(root, (registry) => registry.resolve(reference.replace(/:(v?[0-9]+)$/, '@$1')));
  const bundle = writeBundle(version, folder, { include });
  if (json) {
    process.stdout.write(`${JSON.stringify({ model: version.model, version: version.version, ...bundle }, null, 2)}\n`);
    return 0;
  }
  process.stdout.write(
    `Exported ${version.model} v${version.version} to ${path.relative(process.cwd(), folder) || '.'}: ${bundle.files.join(', ')}\n` +
      `Try it: cd ${path.relative(process.cwd(), folder) || '.'} && npm install && node predict.mjs sample.json\n`,
  );
  return 0;
}

function printProgress(event: RunEvent): void {
  if (event.event === 'stage-end')
    process.stderr.write(`  ${event.stage}: ${event.status} (${(event.durationMs / 1000).toFixed(1)} s)\n`);
}

function describeReproduction(reproduction: Reproduction): string {
  const label = `${reproduction.model} v${reproduction.version}`;
  const rows = reproduction.items.map((item) => [
    item.kind === 'code' ? (item.match ? 'same' : 'differs') : item.match ? 'match' : 'MISMATCH',
    item.kind,
    item.name,
    item.recorded === null ? '-' : String(item.recorded),
    item.reproduced === null ? '-' : String(item.reproduced),
  ]);
  let text = `${label}: pipeline ${reproduction.pipeline}, recorded by run ${reproduction.sourceRunId.slice(0, 12)}, reproduced by run ${reproduction.runId?.slice(0, 12) ?? '(not tracked)'}\n`;
  text += renderTable([['', 'ITEM', 'NAME', 'RECORDED', 'REPRODUCED'], ...rows], '  ');
  const differing = reproduction.items.filter((item) => !item.match);
  const data = differing.filter((item) => item.kind === 'dataset').map((item) => item.name);
  if (reproduction.status !== 'succeeded')
    text += `${label} was not reproduced: the pipeline run ${reproduction.status}.\n`;
  else if (reproduction.reproduced)
    text += `${label} reproduces: the artifact and every recorded metric match${data.length > 0 ? `, though the data differ (${data.join(', ')})` : ''}.\n`;
  else {
    const judged = differing.filter((item) => item.kind === 'artifact' || item.kind === 'metric');
    text += `${label} does not reproduce: ${judged.map((item) => `${item.kind} ${item.name}`).join(', ')} differ${data.length > 0 ? `; the data differ too (${data.join(', ')})` : ''}.\n`;
  }
  return text;
}

function auditLines(entries: AuditEntry[]): string {
  if (entries.length === 0) return '  (no changes recorded)\n';
  return renderTable(
    entries.map((entry) => [
      timestamp(entry.at),
      entry.action,
      entry.version === null ? '-' : `v${entry.version}`,
      `${entry.from ?? '-'} -> ${entry.to ?? '-'}`,
      entry.actor,
      entry.reason ?? '',
    ]),
    '  ',
  );
}

/** The metrics object of a JSON file; a usage error names the file and the line of a syntax error. */
function readMetrics(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw new UsageError(`${file}: cannot read the metrics file (${(error as NodeJS.ErrnoException).code ?? ''}).`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const position = /position (\d+)/.exec(message);
    const line = position ? text.slice(0, Number(position[1])).split('\n').length : null;
    throw new UsageError(`${file}${line ? `:${line}` : ''}: not valid JSON (${message}). Fix the metrics file.`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw new UsageError(`${file}: the metrics must be a JSON object such as {"auc": 0.81}.`);
  return parsed as Record<string, unknown>;
}

function requireArgument(args: string[], what: string): string {
  const value = args.shift();
  if (value === undefined) throw new UsageError(`Give ${what}.`);
  return value;
}

function versionNumber(text: string): number {
  const version = Number(text.replace(/^v/, ''));
  if (!Number.isInteger(version) || version < 1)
    throw new UsageError(`'${text}' is not a version number; give one such as 3 or v3.`);
  return version;
}

function timestamp(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((line) => (line ? `  ${line}` : line))
    .join('\n');
}
