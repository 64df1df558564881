// "Cairn: Deploy Model": quick picks for the deployment file (one of the workspace's *.deploy.yaml,
// or a new NAME.deploy.yaml), the model (from the registry), the stable version or alias, the
// strategy (direct, canary, A/B, shadow) with the candidate, and a confirmation. The choices are
// written into the file (deploySpec.ts keeps its other keys and comments), so what runs is what
// the file says and `cairn deploy FILE` repeats it; then `cairn deploy FILE --json` starts the
// server, with its progress in a notification. Every step keeps its quick pick open when the focus
// moves (to the editor, to read the file), so a click elsewhere does not lose the answers given.
import * as net from 'node:net';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { failureText, runCli } from './cliProcess';
import { readConfig } from './config';
import { deployedStatus } from './deployModel';
import type { DeploymentStatus } from './deployModel';
import {
  choiceSummary,
  deploymentNameProblem,
  newDeploymentText,
  suggestedDeploymentName,
  updatedDeploymentText,
} from './deploySpec';
import type { DeployChoice } from './deploySpec';
import type { ModelList, ModelSummary } from './experimentsModel';
import { messageOf, pickFolder, requireTrust } from './experimentUi';
import { cairnJson } from './runs';
import type { RolloutStrategy } from '../server/shared/deployments';

const DEPLOY_GLOB = '**/*.deploy.{yaml,yml}';

/** Where the choices go: an existing file, or a new one with this name. */
type Target = { kind: 'existing'; uri: vscode.Uri; text: string } | { kind: 'new'; name: string; uri: vscode.Uri };

/** Asks for everything, writes the deployment file, runs `cairn deploy`; the status printed, or null. */
export async function deployModel(extensionUri: vscode.Uri): Promise<{
  folder: vscode.WorkspaceFolder;
  status: DeploymentStatus | null;
} | null> {
  if (!(await requireTrust('deploy models'))) return null;
  const folder = await pickFolder('Deploy in which folder?');
  if (!folder) return null;
  try {
    const { models } = await cairnJson<ModelList>(extensionUri, folder, ['models', 'list']);
    if (models.length === 0) {
      void vscode.window.showInformationMessage(
        'No models are registered yet: register one first ("Cairn: Register Model"), then deploy it.',
      );
      return null;
    }
    const target = await pickTarget(folder, models);
    if (!target) return null;
    const model = await pickModel(models, target);
    if (!model) return null;
    const stable = await pickVersion(model, `Serve which version of ${model.name}?`, null);
    if (!stable) return null;
    const strategy = await pickStrategy();
    if (!strategy) return null;
    let candidate: string | null = null;
    if (strategy !== 'direct') {
      candidate = (await pickVersion(model, `Roll out which version beside ${stable}?`, stable)) ?? null;
      if (!candidate) return null;
    }
    const choice: DeployChoice = { model: stable, strategy, candidate };
    const file = path.relative(folder.uri.fsPath, target.uri.fsPath).split(path.sep).join('/');
    const text =
      target.kind === 'new'
        ? newDeploymentText(target.name, choice, await freePort())
        : updatedDeploymentText(target.text, choice);
    if (!(await confirm(choice, text, file, target.kind === 'new'))) return null;
    await vscode.workspace.fs.writeFile(target.uri, Buffer.from(text, 'utf8'));
    const status = await runDeploy(extensionUri, folder, file);
    return status === undefined ? null : { folder, status };
  } catch (error) {
    void vscode.window.showErrorMessage(`Cairn could not deploy: ${messageOf(error)}`);
    return null;
  }
}

/** An existing deployment file of the folder, or a new one. */
async function pickTarget(folder: vscode.WorkspaceFolder, models: ModelSummary[]): Promise<Target | undefined> {
  const files = await vscode.workspace.findFiles(
    new vscode.RelativePattern(folder, DEPLOY_GLOB),
    '**/{node_modules,.cairn}/**',
    100,
  );
  const NEW = '$(add) New deployment file…';
  let picked: vscode.Uri | null = null;
  if (files.length > 0) {
    const relative = (uri: vscode.Uri): string =>
      path.relative(folder.uri.fsPath, uri.fsPath).split(path.sep).join('/');
    const choice = await vscode.window.showQuickPick(
      [
        ...files
          .map((uri) => ({ label: relative(uri), description: 'update its model and rollout', uri }))
          .sort((a, b) => a.label.localeCompare(b.label)),
        { label: NEW, description: 'NAME.deploy.yaml at the top of the folder', uri: null },
      ],
      { placeHolder: 'Deploy with which deployment file?', ignoreFocusOut: true },
    );
    if (!choice) return undefined;
    picked = choice.uri;
  }
  if (picked) {
    const text = Buffer.from(await vscode.workspace.fs.readFile(picked)).toString('utf8');
    return { kind: 'existing', uri: picked, text };
  }
  const name = await vscode.window.showInputBox({
    prompt: 'Name of the new deployment (the file will be NAME.deploy.yaml)',
    placeHolder: 'rain-api',
    value: models.length === 1 && models[0] ? suggestedDeploymentName(models[0].name) : '',
    validateInput: (value) => deploymentNameProblem(value.trim()),
    ignoreFocusOut: true,
  });
  if (!name) return undefined;
  const uri = vscode.Uri.joinPath(folder.uri, `${name.trim()}.deploy.yaml`);
  const exists = await vscode.workspace.fs.stat(uri).then(
    () => true,
    () => false,
  );
  if (exists) {
    const text = Buffer.from(await vscode.workspace.fs.readFile(uri)).toString('utf8');
    return { kind: 'existing', uri, text };
  }
  return { kind: 'new', name: name.trim(), uri };
}

/** The model to deploy; the one an existing file serves comes first. */
async function pickModel(models: ModelSummary[], target: Target): Promise<ModelSummary | undefined> {
  const current =
    target.kind === 'existing' ? /^model:\s*["']?([A-Za-z0-9][A-Za-z0-9_.-]*)/m.exec(target.text)?.[1] : undefined;
  const ordered = [...models].sort((a, b) => Number(b.name === current) - Number(a.name === current));
  if (ordered.length === 1) return ordered[0];
  const picked = await vscode.window.showQuickPick(
    ordered.map((model) => ({
      label: model.name,
      description: [
        `${model.versions} version${model.versions === 1 ? '' : 's'}`,
        aliasText(model.aliases),
        model.name === current ? 'served by this file now' : '',
      ]
        .filter(Boolean)
        .join(' · '),
      model,
    })),
    {
      placeHolder: target.kind === 'new' ? `Deploy which model as ${target.name}?` : 'Deploy which model?',
      ignoreFocusOut: true,
    },
  );
  return picked?.model;
}

/** An alias (followed when it moves) or a pinned version, as a model reference; never `except`. */
async function pickVersion(
  model: ModelSummary,
  placeHolder: string,
  except: string | null,
): Promise<string | undefined> {
  const aliases = Object.entries(model.aliases)
    .sort(([a], [b]) => Number(b === 'champion') - Number(a === 'champion') || a.localeCompare(b))
    .map(([alias, version]) => ({
      label: `${model.name}@${alias}`,
      description: `v${version} now; follows the alias when it moves`,
    }));
  const latest = model.latest ?? 0;
  const versions = Array.from({ length: latest }, (_, index) => latest - index).map((version) => ({
    label: `${model.name}:${version}`,
    description: `v${version}, pinned${version === latest ? ' (latest)' : ''}`,
  }));
  const items = [...aliases, ...versions].filter((item) => item.label !== except);
  const picked = await vscode.window.showQuickPick(items, { placeHolder, ignoreFocusOut: true });
  return picked?.label;
}

const STRATEGIES: { label: string; strategy: RolloutStrategy; detail: string }[] = [
  { label: 'Direct', strategy: 'direct', detail: 'Serve this version to all traffic at once (blue/green switch).' },
  {
    label: 'Canary',
    strategy: 'canary',
    detail: 'Send 10%, then 50%, then all traffic to a candidate, checking its error rate at each step.',
  },
  { label: 'A/B test', strategy: 'ab', detail: 'Split traffic 50/50 with a candidate, sticky per request key.' },
  {
    label: 'Shadow',
    strategy: 'shadow',
    detail: 'Mirror requests to a candidate; its answers are logged, never returned.',
  },
];

async function pickStrategy(): Promise<RolloutStrategy | undefined> {
  const picked = await vscode.window.showQuickPick(STRATEGIES, {
    placeHolder: 'Roll out how?',
    matchOnDetail: true,
    ignoreFocusOut: true,
  });
  return picked?.strategy;
}

async function confirm(choice: DeployChoice, text: string, file: string, created: boolean): Promise<boolean> {
  const DEPLOY = '$(rocket) Deploy';
  const picked = await vscode.window.showQuickPick(
    [
      {
        label: DEPLOY,
        description: choiceSummary(choice, text),
        detail: `${created ? 'Writes the new file' : 'Updates'} ${file}, then runs: cairn deploy ${file}`,
      },
      { label: 'Cancel', description: '', detail: '' },
    ],
    { placeHolder: `Deploy ${file}?`, ignoreFocusOut: true },
  );
  return picked?.label === DEPLOY;
}

/**
 * Runs `cairn deploy FILE --json` with its stderr as progress; the status it printed (null when it
 * printed none), or undefined when it failed or was cancelled (the user was told).
 */
export async function runDeploy(
  extensionUri: vscode.Uri,
  folder: vscode.WorkspaceFolder,
  file: string,
): Promise<DeploymentStatus | null | undefined> {
  const nodePath = readConfig().nodePath;
  let cancelled = false;
  const result = await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: `Cairn: deploying ${file}`, cancellable: true },
    (progress, token) => {
      const abort = new AbortController();
      token.onCancellationRequested(() => {
        cancelled = true;
        abort.abort();
      });
      return runCli({
        nodePath,
        cliPath: vscode.Uri.joinPath(extensionUri, 'dist', 'cli', 'cairn.js').fsPath,
        args: ['deploy', file, '--json', '--workspace', folder.uri.fsPath],
        cwd: folder.uri.fsPath,
        signal: abort.signal,
        onErrorLine: (line) => {
          if (line.trim()) progress.report({ message: line.trim().slice(0, 200) });
        },
      });
    },
  );
  if (cancelled) {
    void vscode.window.showWarningMessage(`Cairn: the deployment of ${file} was cancelled.`);
    return undefined;
  }
  if (result.code !== 0 || result.startError) {
    void vscode.window
      .showErrorMessage(`Cairn could not deploy ${file}: ${failureText(result, 'deploy', nodePath)}`, 'Open File')
      .then((choice) => (choice ? vscode.window.showTextDocument(vscode.Uri.joinPath(folder.uri, file)) : undefined));
    return undefined;
  }
  try {
    return deployedStatus(JSON.parse(result.stdout));
  } catch {
    return null;
  }
}

function aliasText(aliases: Record<string, number>): string {
  return Object.entries(aliases)
    .map(([alias, version]) => `@${alias} → v${version}`)
    .join(', ');
}

/** A TCP port of 127.0.0.1 free right now, for a new deployment's server. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 8080;
      server.close(() => resolve(port));
    });
  });
}
