// Which arm answers a request: the stable version or the candidate, by the traffic split, sticky by a
// request key when there is one (the same key always lands on the same arm for a given weight), and
// whether a copy goes to a shadow candidate. Pure functions; randomness is passed in.
import type { IncomingHttpHeaders } from 'node:http';
import type { TrafficSplit } from '../../shared/deployments';

export interface Traffic extends TrafficSplit {
  /** A header, V2 parameter, MLflow param or column whose value is the sticky key. */
  stickyKey?: string;
}

/** FNV-1a over the key's UTF-16 code units: a stable bucket in [0, 10000) for a key. */
export function keyBucket(key: string): number {
  let hash = 0x811c9dc5;
  for (let index = 0; index < key.length; index++) {
    hash ^= key.charCodeAt(index);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) % 10000;
}

/** The arm of a request: its key's bucket (or a random draw without a key) against the candidate's percent. */
export function chooseArm(
  traffic: Traffic,
  hasCandidate: boolean,
  key: string | null,
  random: () => number,
): 'stable' | 'candidate' {
  if (!hasCandidate || traffic.candidate <= 0) return 'stable';
  if (traffic.candidate >= 100) return 'candidate';
  const draw = key === null ? random() * 10000 : keyBucket(key);
  return draw < traffic.candidate * 100 ? 'candidate' : 'stable';
}

/** Whether a copy of this request goes to the shadow candidate. */
export function shouldMirror(traffic: Traffic, hasCandidate: boolean, random: () => number): boolean {
  if (!hasCandidate || traffic.mirror <= 0) return false;
  return traffic.mirror >= 100 || random() * 100 < traffic.mirror;
}

function scalarText(value: unknown): string | null {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return null;
}

function field(value: unknown, name: string): unknown {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)[name]
    : undefined;
}

/**
 * The sticky key of a request: the `x-cairn-key` header, else (with a sticky key name) the header of
 * that name, the V2 `parameters` / MLflow `params` field, or the first row's column of that name.
 */
export function requestKey(headers: IncomingHttpHeaders, body: unknown, stickyKey: string | undefined): string | null {
  const header = headers['x-cairn-key'];
  if (typeof header === 'string' && header !== '') return header;
  if (!stickyKey) return null;
  const named = headers[stickyKey.toLowerCase()];
  if (typeof named === 'string' && named !== '') return named;
  const candidates = [
    field(field(body, 'parameters'), stickyKey),
    field(field(body, 'params'), stickyKey),
    field(firstRecord(body), stickyKey),
    firstSplitValue(body, stickyKey),
    firstInputsValue(body, stickyKey),
  ];
  for (const candidate of candidates) {
    const text = scalarText(candidate);
    if (text !== null) return text;
  }
  return null;
}

function firstRecord(body: unknown): unknown {
  for (const form of ['dataframe_records', 'instances']) {
    const rows = field(body, form);
    if (Array.isArray(rows)) return rows[0];
  }
  return undefined;
}

function firstInputsValue(body: unknown, name: string): unknown {
  const column = field(field(body, 'inputs'), name);
  return Array.isArray(column) ? column[0] : undefined;
}

function firstSplitValue(body: unknown, name: string): unknown {
  const frame = field(body, 'dataframe_split');
  const columns = field(frame, 'columns');
  const data = field(frame, 'data');
  if (!Array.isArray(columns) || !Array.isArray(data)) return undefined;
  const position = columns.indexOf(name);
  const row: unknown = data[0];
  return position >= 0 && Array.isArray(row) ? row[position] : undefined;
}
