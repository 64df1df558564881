// The model registry in the workspace store: models, their versions (the ONNX file's content hash,
// signature, metrics, gate report, run and datasets), aliases such as `champion` that move in one
// transaction, approvals, and an audit log of every change with who, when, from, to and why. The
// ONNX bytes are copied into the content-addressed cache, read-only, so a version outlives the
// workspace file it was registered from. Every change also rewrites `.cairn/models.json`, a small
// snapshot of names, versions and aliases that the language server reads without SQLite.
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ContentCache } from '../cache';
import type { GateReport } from '../gates/evaluate';
import { stateDir } from '../store';
import type { Store } from '../store';
import { onnxSignature } from './signature';
import type { OnnxSignature } from './signature';

export type AuditAction = 'register' | 'alias' | 'unalias' | 'approve' | 'tag';

export interface ModelVersion {
  model: string;
  version: number;
  md5: string;
  size: number;
  signature: OnnxSignature;
  /** The workspace-relative path it was registered from. */
  sourcePath: string | null;
  runId: string | null;
  pipeline: string | null;
  datasets: unknown[];
  metrics: Record<string, unknown> | null;
  gateReport: GateReport | null;
  description: string | null;
  tags: Record<string, string>;
  createdAt: number;
  approved: boolean;
  approvedBy: string | null;
  approvedAt: number | null;
  /** Aliases that point at this version. */
  aliases: string[];
  /** Where its ONNX bytes are kept (read-only). */
  objectPath: string;
}

export interface AuditEntry {
  id: number;
  at: number;
  model: string;
  version: number | null;
  action: AuditAction;
  from: string | null;
  to: string | null;
  actor: string;
  reason: string | null;
}

export interface ModelSummary {
  name: string;
  createdAt: number;
  versions: number;
  latest: number | null;
  aliases: Record<string, number>;
}

/** Who did it and why, recorded in the audit log. */
export interface Change {
  actor?: string;
  reason?: string;
  now?: number;
}

export interface RegisterInput extends Change {
  name: string;
  /** Absolute path of the ONNX file. */
  onnxPath: string;
  runId?: string;
  pipeline?: string;
  datasets?: unknown[];
  metrics?: Record<string, unknown>;
  gateReport?: GateReport;
  description?: string;
  tags?: Record<string, string>;
}

/** `.cairn/models.json`: what the language server needs to complete and check model references. */
export interface RegistrySnapshot {
  models: { name: string; versions: number[]; aliases: Record<string, number> }[];
}

/** The path of the registry snapshot of the workspace at `root`. */
export function snapshotPath(root: string): string {
  return path.join(stateDir(root), 'models.json');
}

export interface RegisterResult {
  /** 'existing': the same bytes were registered before; that version is returned unchanged. */
  status: 'created' | 'existing';
  version: ModelVersion;
}

/** Raised for a request the registry refuses (unknown model or version, bad name); the message says what to do. */
export class RegistryError extends Error {}

/**
 * The tag of a version that waits for a person's approval (`cairn models approve`) before a
 * deployment may serve it: an experiment's `register.require_approval` sets it to `required`.
 */
export const APPROVAL_TAG = 'cairn.approval';

/** Whether a version waits for approval: tagged APPROVAL_TAG `required`, and not approved yet. */
export function awaitsApproval(version: Pick<ModelVersion, 'tags' | 'approved'>): boolean {
  return version.tags[APPROVAL_TAG] === 'required' && !version.approved;
}

/** What a deployment says of a version that awaits approval, with the command that gives it. */
export function approvalNeeded(version: Pick<ModelVersion, 'model' | 'version'>): string {
  return `${version.model}:${version.version} waits for a person's approval (registered with require_approval). Approve it: cairn models approve ${version.model} ${version.version}`;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

interface VersionRow {
  model: string;
  version: number;
  md5: string;
  size: number;
  signature: string;
  source_path: string | null;
  run_id: string | null;
  pipeline: string | null;
  datasets: string;
  metrics: string | null;
  gate_report: string | null;
  description: string | null;
  tags: string;
  created_at: number;
  approved: number;
  approved_by: string | null;
  approved_at: number | null;
}

interface AuditRow {
  id: number;
  at: number;
  model: string;
  version: number | null;
  action: AuditAction;
  from_value: string | null;
  to_value: string | null;
  actor: string;
  reason: string | null;
}

/** The OS user, recorded as the actor of changes made from this process. */
export function currentActor(): string {
  try {
    return os.userInfo().username;
  } catch {
    return process.env['USER'] ?? process.env['USERNAME'] ?? 'unknown';
  }
}

export class Registry {
  private readonly cache: ContentCache;

  constructor(
    private readonly store: Store,
    private readonly root: string,
  ) {
    this.cache = new ContentCache(root);
  }

  /** Registers the ONNX file as a new version, or returns the version that already has the same bytes. */
  register(input: RegisterInput): RegisterResult {
    checkName(input.name, 'model');
    let bytes: Buffer;
    try {
      bytes = fs.readFileSync(input.onnxPath);
    } catch (error) {
      throw new RegistryError(
        `${input.onnxPath}: cannot read the model (${(error as NodeJS.ErrnoException).code ?? String(error)}). Check the path, or run the stage that writes it.`,
      );
    }
    const signature = onnxSignature(bytes, input.onnxPath);
    const md5 = createHash('md5').update(bytes).digest('hex');
    // The object goes in first: a version row always points at bytes that exist.
    this.saveObject(md5, bytes);
    const now = input.now ?? Date.now();
    const db = this.store.db;
    const register = db.transaction((): RegisterResult => {
      const existing = db
        .prepare('SELECT version FROM model_versions WHERE model = ? AND md5 = ?')
        .get(input.name, md5) as { version: number } | undefined;
      if (existing) return { status: 'existing', version: this.requireVersion(input.name, existing.version) };
      db.prepare('INSERT OR IGNORE INTO models (name, created_at) VALUES (?, ?)').run(input.name, now);
      const last = db.prepare('SELECT MAX(version) AS version FROM model_versions WHERE model = ?').get(input.name) as {
        version: number | null;
      };
      const version = (last.version ?? 0) + 1;
      const relative = path.relative(this.root, input.onnxPath).split(path.sep).join('/');
      db.prepare(
        `INSERT INTO model_versions (model, version, md5, size, signature, source_path, run_id, pipeline, datasets,
           metrics, gate_report, description, tags, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ).run(
        input.name,
        version,
        md5,
        bytes.length,
        JSON.stringify(signature),
        relative.startsWith('..') ? input.onnxPath : relative,
        input.runId ?? null,
        input.pipeline ?? null,
        JSON.stringify(input.datasets ?? []),
        input.metrics ? JSON.stringify(input.metrics) : null,
        input.gateReport ? JSON.stringify(input.gateReport) : null,
        input.description ?? null,
        JSON.stringify(input.tags ?? {}),
        now,
      );
      this.record(input.name, version, 'register', null, `v${version}`, input, now);
      this.writeSnapshot();
      return { status: 'created', version: this.requireVersion(input.name, version) };
    });
    return register.immediate();
  }

  /** Points `alias` at `version`, in one transaction with its audit entry; returns the version it held before. */
  setAlias(name: string, alias: string, version: number, change: Change = {}): { previous: number | null } {
    checkName(alias, 'alias');
    if (/^v?[0-9]+$/.test(alias))
      throw new RegistryError(`'${alias}' looks like a version number; an alias needs a name such as champion.`);
    const db = this.store.db;
    const move = db.transaction(() => {
      this.requireVersion(name, version);
      const current = this.aliasVersion(name, alias);
      if (current === version) return { previous: current };
      const now = change.now ?? Date.now();
      db.prepare(
        `INSERT INTO model_aliases (model, alias, version, updated_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (model, alias) DO UPDATE SET version = excluded.version, updated_at = excluded.updated_at`,
      ).run(name, alias, version, now);
      this.record(
        name,
        version,
        'alias',
        current === null ? null : `${alias}=v${current}`,
        `${alias}=v${version}`,
        change,
        now,
      );
      this.writeSnapshot();
      return { previous: current };
    });
    return move.immediate();
  }

  /** Removes an alias; returns the version it pointed at. */
  removeAlias(name: string, alias: string, change: Change = {}): number {
    const db = this.store.db;
    const remove = db.transaction(() => {
      const current = this.aliasVersion(name, alias);
      if (current === null) throw new RegistryError(`Model '${name}' has no alias '${alias}'.`);
      const now = change.now ?? Date.now();
      db.prepare('DELETE FROM model_aliases WHERE model = ? AND alias = ?').run(name, alias);
      this.record(name, current, 'unalias', `${alias}=v${current}`, null, change, now);
      this.writeSnapshot();
      return current;
    });
    return remove.immediate();
  }

  /** Marks a version approved (deployments may require it); approving twice changes nothing. */
  approve(name: string, version: number, change: Change = {}): { alreadyApproved: boolean } {
    const db = this.store.db;
    const approve = db.transaction(() => {
      const found = this.requireVersion(name, version);
      if (found.approved) return { alreadyApproved: true };
      const now = change.now ?? Date.now();
      const actor = change.actor ?? currentActor();
      db.prepare(
        'UPDATE model_versions SET approved = 1, approved_by = ?, approved_at = ? WHERE model = ? AND version = ?',
      ).run(actor, now, name, version);
      this.record(name, version, 'approve', 'not approved', 'approved', { ...change, actor }, now);
      this.writeSnapshot();
      return { alreadyApproved: false };
    });
    return approve.immediate();
  }

  /** Sets (or with value null removes) a tag of a version. */
  setTag(name: string, version: number, key: string, value: string | null, change: Change = {}): void {
    const db = this.store.db;
    db.transaction(() => {
      const found = this.requireVersion(name, version);
      const before = found.tags[key];
      const tags = { ...found.tags };
      if (value === null) delete tags[key];
      else tags[key] = value;
      if (before === (value ?? undefined)) return;
      const now = change.now ?? Date.now();
      db.prepare('UPDATE model_versions SET tags = ? WHERE model = ? AND version = ?').run(
        JSON.stringify(tags),
        name,
        version,
      );
      this.record(
        name,
        version,
        'tag',
        before === undefined ? null : `${key}=${before}`,
        value === null ? null : `${key}=${value}`,
        change,
        now,
      );
      this.writeSnapshot();
    }).immediate();
  }

  models(): ModelSummary[] {
    const rows = this.store.db
      .prepare(
        `SELECT m.name, m.created_at, COUNT(v.version) AS versions, MAX(v.version) AS latest
         FROM models m LEFT JOIN model_versions v ON v.model = m.name GROUP BY m.name ORDER BY m.name`,
      )
      .all() as { name: string; created_at: number; versions: number; latest: number | null }[];
    return rows.map((row) => ({
      name: row.name,
      createdAt: row.created_at,
      versions: row.versions,
      latest: row.latest,
      aliases: this.aliases(row.name),
    }));
  }

  hasModel(name: string): boolean {
    return this.store.db.prepare('SELECT 1 FROM models WHERE name = ?').get(name) !== undefined;
  }

  /** Alias → version of a model. */
  aliases(name: string): Record<string, number> {
    const rows = this.store.db
      .prepare('SELECT alias, version FROM model_aliases WHERE model = ? ORDER BY alias')
      .all(name) as { alias: string; version: number }[];
    return Object.fromEntries(rows.map((row) => [row.alias, row.version]));
  }

  aliasVersion(name: string, alias: string): number | null {
    const row = this.store.db
      .prepare('SELECT version FROM model_aliases WHERE model = ? AND alias = ?')
      .get(name, alias) as { version: number } | undefined;
    return row?.version ?? null;
  }

  versions(name: string): ModelVersion[] {
    const rows = this.store.db
      .prepare('SELECT * FROM model_versions WHERE model = ? ORDER BY version')
      .all(name) as VersionRow[];
    const aliases = this.aliases(name);
    return rows.map((row) => this.versionOf(row, aliases));
  }

  version(name: string, version: number): ModelVersion | undefined {
    const row = this.store.db
      .prepare('SELECT * FROM model_versions WHERE model = ? AND version = ?')
      .get(name, version) as VersionRow | undefined;
    return row ? this.versionOf(row, this.aliases(name)) : undefined;
  }

  /**
   * The version a reference names: `NAME` (the latest), `NAME@3`, `NAME@v3` or `NAME@ALIAS`.
   * Throws a RegistryError that lists what exists when nothing matches.
   */
  resolve(reference: string): ModelVersion {
    const at = reference.lastIndexOf('@');
    const name = at === -1 ? reference : reference.slice(0, at);
    const selector = at === -1 ? null : reference.slice(at + 1);
    if (!this.hasModel(name)) {
      const known = this.models().map((model) => model.name);
      throw new RegistryError(`No model '${name}' in the registry (registered: ${known.join(', ') || 'none'}).`);
    }
    let version: number | null;
    if (selector === null) {
      const versions = this.versions(name);
      version = versions[versions.length - 1]?.version ?? null;
    } else if (/^v?[0-9]+$/.test(selector)) {
      version = Number(selector.replace(/^v/, ''));
    } else {
      version = this.aliasVersion(name, selector);
      if (version === null) {
        const aliases = Object.keys(this.aliases(name));
        throw new RegistryError(
          `Model '${name}' has no alias '${selector}' (aliases: ${aliases.join(', ') || 'none'}).`,
        );
      }
    }
    if (version === null) throw new RegistryError(`Model '${name}' has no version yet.`);
    return this.requireVersion(name, version);
  }

  /** Names, versions and aliases of every model, as `.cairn/models.json` holds them. */
  snapshot(): RegistrySnapshot {
    const db = this.store.db;
    const versions = db.prepare('SELECT model, version FROM model_versions ORDER BY model, version').all() as {
      model: string;
      version: number;
    }[];
    const aliases = db.prepare('SELECT model, alias, version FROM model_aliases ORDER BY model, alias').all() as {
      model: string;
      alias: string;
      version: number;
    }[];
    const names = db.prepare('SELECT name FROM models ORDER BY name').all() as { name: string }[];
    return {
      models: names.map(({ name }) => ({
        name,
        versions: versions.filter((row) => row.model === name).map((row) => row.version),
        aliases: Object.fromEntries(aliases.filter((row) => row.model === name).map((row) => [row.alias, row.version])),
      })),
    };
  }

  /**
   * Rewrites `.cairn/models.json` through a temp file and a rename. Called inside each change's write
   * transaction, so snapshots of changes from several processes are written in the order of the changes.
   */
  writeSnapshot(): void {
    const file = snapshotPath(this.root);
    const temp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
    try {
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(temp, `${JSON.stringify(this.snapshot(), null, 2)}\n`);
      fs.renameSync(temp, file);
    } catch (error) {
      fs.rmSync(temp, { force: true });
      throw error;
    }
  }

  /** The audit log of a model, oldest first. */
  auditLog(name: string): AuditEntry[] {
    const rows = this.store.db.prepare('SELECT * FROM model_audit WHERE model = ? ORDER BY id').all(name) as AuditRow[];
    return rows.map((row) => ({
      id: row.id,
      at: row.at,
      model: row.model,
      version: row.version,
      action: row.action,
      from: row.from_value,
      to: row.to_value,
      actor: row.actor,
      reason: row.reason,
    }));
  }

  private record(
    name: string,
    version: number,
    action: AuditAction,
    from: string | null,
    to: string | null,
    change: Change,
    at: number,
  ): void {
    this.store.db
      .prepare(
        'INSERT INTO model_audit (at, model, version, action, from_value, to_value, actor, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
      )
      .run(at, name, version, action, from, to, change.actor ?? currentActor(), change.reason ?? null);
  }

  private requireVersion(name: string, version: number): ModelVersion {
    const found = this.version(name, version);
    if (found) return found;
    if (!this.hasModel(name)) throw new RegistryError(`No model '${name}' in the registry. Register it first.`);
    const versions = this.versions(name).map((candidate) => `v${candidate.version}`);
    throw new RegistryError(`Model '${name}' has no version ${version} (versions: ${versions.join(', ') || 'none'}).`);
  }

  private versionOf(row: VersionRow, aliases: Record<string, number>): ModelVersion {
    return {
      model: row.model,
      version: row.version,
      md5: row.md5,
      size: row.size,
      signature: JSON.parse(row.signature) as OnnxSignature,
      sourcePath: row.source_path,
      runId: row.run_id,
      pipeline: row.pipeline,
      datasets: JSON.parse(row.datasets) as unknown[],
      metrics: row.metrics ? (JSON.parse(row.metrics) as Record<string, unknown>) : null,
      gateReport: row.gate_report ? (JSON.parse(row.gate_report) as GateReport) : null,
      description: row.description,
      tags: JSON.parse(row.tags) as Record<string, string>,
      createdAt: row.created_at,
      approved: row.approved === 1,
      approvedBy: row.approved_by,
      approvedAt: row.approved_at,
      aliases: Object.entries(aliases)
        .filter(([, version]) => version === row.version)
        .map(([alias]) => alias),
      objectPath: this.cache.objectPath(row.md5) ?? '',
    };
  }

  /** Writes the bytes as a read-only cache object through a temp file and a rename (kept if present). */
  private saveObject(md5: string, bytes: Buffer): void {
    const object = this.cache.objectPath(md5);
    if (!object) throw new Error(`md5 '${md5}' has no cache path`);
    if (fs.existsSync(object)) return;
    fs.mkdirSync(path.dirname(object), { recursive: true });
    const temp = `${object}.${randomBytes(6).toString('hex')}.tmp`;
    try {
      fs.writeFileSync(temp, bytes);
      fs.chmodSync(temp, 0o444);
      fs.renameSync(temp, object);
    } catch (error) {
      fs.rmSync(temp, { force: true });
      throw error;
    }
  }
}

function checkName(name: string, what: string): void {
  if (!NAME.test(name))
    throw new RegistryError(
      `${what} name '${name}' can hold only letters, digits, '_', '.' and '-', and must start with a letter or digit.`,
    );
}
