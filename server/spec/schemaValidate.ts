// Validates YAML nodes against the JSON Schemas in schemas/ and says what is wrong in plain words,
// on the node where the author has to look: the key of an unknown property, the parent key of a
// missing one, the value of a wrong type. Where a schema offers alternatives (oneOf/anyOf) only the
// branch the author most likely meant is reported.
//
// It walks the YAML nodes directly rather than handing plain values to a generic validator, so
// every problem lands on a node with a range. It covers the keywords our schemas use; the schema
// test checks it agrees with Ajv (the reference draft 2020-12 validator) on the whole corpus.
import { isAlias, isMap, isPair, isScalar, isSeq } from 'yaml';
import type { Document, Node as YamlNode, Pair, Scalar } from 'yaml';
import type { AnchoredProblem } from './problems';
import { resolveAlias } from './parse';
import { closest, listNames } from './suggest';

/** How many aliases one validation may follow. */
const ALIAS_BUDGET = 1000;

/** A JSON Schema object (or boolean schema), as loaded from schemas/. */
export type JsonSchema = boolean | SchemaObject;

export interface SchemaObject {
  $ref?: string;
  $defs?: Record<string, JsonSchema>;
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  patternProperties?: Record<string, JsonSchema>;
  additionalProperties?: JsonSchema;
  propertyNames?: JsonSchema;
  required?: string[];
  items?: JsonSchema;
  prefixItems?: JsonSchema[];
  minItems?: number;
  maxItems?: number;
  uniqueItems?: boolean;
  enum?: unknown[];
  const?: unknown;
  oneOf?: JsonSchema[];
  anyOf?: JsonSchema[];
  allOf?: JsonSchema[];
  if?: JsonSchema;
  then?: JsonSchema;
  else?: JsonSchema;
  not?: JsonSchema;
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  minProperties?: number;
  maxProperties?: number;
  description?: string;
  markdownDescription?: string;
  title?: string;
  examples?: unknown[];
  default?: unknown;
  deprecated?: boolean;
  errorMessage?: string;
  [key: string]: unknown;
}

/** Keys that DVC once accepted and now rejects, with what to do instead. */
const LEGACY_KEYS: Record<string, string> = {
  live: "'live' is the old DVCLive stage section, which DVC 2.x+ no longer accepts. Remove it: log with DVCLive and list its files under metrics and plots.",
  checkpoint:
    "'checkpoint' outputs were removed in DVC 3. Remove the key (and 'dvc exp run' checkpoints); use 'persist: true' if the stage resumes from the file.",
};

/** Resolves `$ref` chains within one schema document. */
export class SchemaResolver {
  private readonly patterns = new Map<string, RegExp>();

  constructor(readonly root: SchemaObject) {}

  private readonly resolved = new WeakMap<SchemaObject, JsonSchema>();

  deref(schema: JsonSchema | undefined, depth = 0): JsonSchema {
    if (schema === undefined) return true;
    if (typeof schema === 'boolean' || !schema.$ref || depth > 32) return schema;
    // Resolved once per schema object: validation derefs the same few schemas for every stage.
    const known = this.resolved.get(schema);
    if (known !== undefined) return known;
    const result = this.derefUncached(schema, depth);
    this.resolved.set(schema, result);
    return result;
  }

  private derefUncached(schema: SchemaObject, depth: number): JsonSchema {
    if (!schema.$ref) return schema;
    const target = this.lookup(schema.$ref);
    if (target === undefined) return true;
    const { $ref: _ignored, ...rest } = schema;
    const resolved = this.deref(target, depth + 1);
    // Keywords beside a $ref (draft 2020-12) apply too; descriptions beside it win.
    if (Object.keys(rest).length === 0 || typeof resolved === 'boolean') return resolved;
    return { ...resolved, ...rest };
  }

  /** Finds `#/$defs/name` (or any JSON pointer) in the root schema. */
  lookup(reference: string): JsonSchema | undefined {
    const hash = reference.indexOf('#');
    const pointer = hash === -1 ? '' : reference.slice(hash + 1);
    let current: unknown = this.root;
    for (const raw of pointer.split('/').slice(1)) {
      const part = raw.replace(/~1/g, '/').replace(/~0/g, '~');
      if (current === null || typeof current !== 'object') return undefined;
      current = (current as Record<string, unknown>)[part];
    }
    return current as JsonSchema | undefined;
  }

  regex(pattern: string): RegExp {
    let compiled = this.patterns.get(pattern);
    if (!compiled) {
      compiled = new RegExp(pattern, 'u');
      this.patterns.set(pattern, compiled);
    }
    return compiled;
  }
}

interface Context {
  resolver: SchemaResolver;
  document: Document | null;
  problems: AnchoredProblem[];
  depth: number;
  /** How many more aliases may be followed. */
  aliasBudget: number;
}

/** Validates `node` against `schema`; `keyNode` is the key it hangs under (for missing-key problems). */
export function validateNode(
  node: YamlNode | null,
  schema: JsonSchema,
  resolver: SchemaResolver,
  keyNode: YamlNode | null,
  document: Document | null = null,
): AnchoredProblem[] {
  const context: Context = { resolver, document, problems: [], depth: 0, aliasBudget: ALIAS_BUDGET };
  check(node, schema, keyNode, context);
  return context.problems;
}

type JsonType = 'null' | 'boolean' | 'integer' | 'number' | 'string' | 'object' | 'array';

function typeOf(node: YamlNode | null): JsonType {
  if (node === null) return 'null';
  if (isMap(node)) return 'object';
  if (isSeq(node)) return 'array';
  if (isScalar(node)) {
    const value = node.value;
    if (value === null || value === undefined) return 'null';
    if (typeof value === 'boolean') return 'boolean';
    if (typeof value === 'number' || typeof value === 'bigint')
      return Number.isInteger(Number(value)) ? 'integer' : 'number';
    return 'string';
  }
  return 'null';
}

function typeMatches(actual: JsonType, allowed: string | string[] | undefined): boolean {
  if (allowed === undefined) return true;
  const list = Array.isArray(allowed) ? allowed : [allowed];
  return list.some((type) => type === actual || (type === 'number' && actual === 'integer'));
}

const TYPE_WORDS: Record<string, string> = {
  null: 'nothing',
  boolean: 'true or false',
  integer: 'a whole number',
  number: 'a number',
  string: 'a string',
  object: 'a mapping of keys to values',
  array: 'a list',
};

function describeTypes(types: Iterable<string>): string {
  const words = [...new Set([...types].map((type) => TYPE_WORDS[type] ?? type))];
  if (words.length <= 1) return words[0] ?? 'something else';
  return `${words.slice(0, -1).join(', ')} or ${words[words.length - 1]}`;
}

function anchorOf(node: YamlNode | null, keyNode: YamlNode | null): { range?: [number, number, number] | null } {
  return node ?? keyNode ?? { range: [0, 0, 0] };
}

function check(node: YamlNode | null, raw: JsonSchema, keyNode: YamlNode | null, context: Context): void {
  if (context.depth > 64) return;
  if (node !== null && isAlias(node)) {
    // An alias is checked where it is used (the schema may differ from its anchor's), within a budget:
    // aliases of aliases can stand for exponentially many nodes.
    const target = context.aliasBudget-- > 0 ? resolveAlias(node, context.document) : null;
    if (!target) return;
    node = target;
  }
  const schema = context.resolver.deref(raw);
  if (schema === true) return;
  if (schema === false) {
    report(context, 'schema-not-allowed', 'This value is not allowed here.', anchorOf(node, keyNode));
    return;
  }
  context.depth++;
  try {
    checkObjectSchema(node, schema, keyNode, context);
  } finally {
    context.depth--;
  }
}

function checkObjectSchema(
  node: YamlNode | null,
  schema: SchemaObject,
  keyNode: YamlNode | null,
  context: Context,
): void {
  const actual = typeOf(node);
  if (!typeMatches(actual, schema.type)) {
    const expected = describeTypes(Array.isArray(schema.type) ? schema.type : [schema.type ?? '']);
    const value = scalarValue(node);
    if (typeMatches('boolean', schema.type) && typeof value === 'string' && /^(yes|no|on|off|y|n)$/i.test(value)) {
      const meant = /^(yes|on|y)$/i.test(value) ? 'true' : 'false';
      report(
        context,
        'schema-type',
        `Expected true or false here. YAML 1.2 (which DVC and Cairn read) takes '${value}' as a string: write ${meant}.`,
        anchorOf(node, keyNode),
      );
      return;
    }
    report(
      context,
      'schema-type',
      `Expected ${expected} here, but this is ${TYPE_WORDS[actual] ?? actual}.`,
      anchorOf(node, keyNode),
    );
    return;
  }
  if (schema.oneOf) checkAlternatives(node, schema.oneOf, keyNode, context);
  if (schema.anyOf) checkAlternatives(node, schema.anyOf, keyNode, context);
  for (const part of schema.allOf ?? []) check(node, part, keyNode, context);
  if (schema.if !== undefined) {
    const passes = validateNode(node, schema.if, context.resolver, keyNode, context.document).length === 0;
    const branch = passes ? schema.then : schema.else;
    if (branch !== undefined) check(node, branch, keyNode, context);
  }
  if (schema.const !== undefined && !sameValue(scalarValue(node), schema.const)) {
    report(context, 'schema-const', `Expected ${JSON.stringify(schema.const)} here.`, anchorOf(node, keyNode));
  }
  if (schema.enum) checkEnum(node, schema.enum, keyNode, context);
  if (actual === 'string' && node && isScalar(node)) checkString(node, schema, context);
  if ((actual === 'number' || actual === 'integer') && node && isScalar(node)) checkNumber(node, schema, context);
  if (actual === 'object' && node && isMap(node)) checkMap(node, schema, keyNode, context);
  if (actual === 'array' && node && isSeq(node)) checkSeq(node, schema, keyNode, context);
}

function scalarValue(node: YamlNode | null): unknown {
  return node && isScalar(node) ? node.value : undefined;
}

function sameValue(a: unknown, b: unknown): boolean {
  return a === b || (typeof a === 'number' && typeof b === 'number' && a === b);
}

function checkEnum(node: YamlNode | null, allowed: unknown[], keyNode: YamlNode | null, context: Context): void {
  const value = scalarValue(node);
  if (allowed.some((option) => sameValue(option, value))) return;
  const names = allowed.map((option) => String(option));
  const suggestion = typeof value === 'string' ? closest(value, names) : undefined;
  const shown = value === undefined || value === null ? 'This value' : `'${String(value)}'`;
  const message = `${shown} is not one of ${listNames(names, 12)}.${suggestion ? ` Did you mean '${suggestion}'?` : ''}`;
  const problem: AnchoredProblem = { severity: 'error', code: 'schema-enum', message, anchor: anchorOf(node, keyNode) };
  if (suggestion) problem.fix = { kind: 'replace', replacement: suggestion };
  context.problems.push(problem);
}

function checkString(node: Scalar, schema: SchemaObject, context: Context): void {
  const value = String(node.value);
  if (schema.minLength !== undefined && value.length < schema.minLength) {
    report(
      context,
      'schema-length',
      schema.minLength === 1 ? 'This must not be empty.' : `This must be at least ${schema.minLength} characters long.`,
      node,
    );
  }
  if (schema.maxLength !== undefined && value.length > schema.maxLength) {
    report(context, 'schema-length', `This must be at most ${schema.maxLength} characters long.`, node);
  }
  if (schema.pattern !== undefined && !context.resolver.regex(schema.pattern).test(value)) {
    const example = schema.examples?.[0];
    const hint =
      schema.errorMessage ??
      (example !== undefined
        ? `Expected something like ${JSON.stringify(example)}.`
        : `Expected the format ${schema.pattern}.`);
    report(context, 'schema-pattern', `'${value}' is not in the expected format. ${hint}`, node);
  }
}

function checkNumber(node: Scalar, schema: SchemaObject, context: Context): void {
  const value = Number(node.value);
  if (schema.minimum !== undefined && value < schema.minimum)
    report(context, 'schema-range', `This must be at least ${schema.minimum}.`, node);
  if (schema.maximum !== undefined && value > schema.maximum)
    report(context, 'schema-range', `This must be at most ${schema.maximum}.`, node);
  if (schema.exclusiveMinimum !== undefined && value <= schema.exclusiveMinimum)
    report(context, 'schema-range', `This must be greater than ${schema.exclusiveMinimum}.`, node);
  if (schema.exclusiveMaximum !== undefined && value >= schema.exclusiveMaximum)
    report(context, 'schema-range', `This must be less than ${schema.exclusiveMaximum}.`, node);
}

function checkMap(
  node: YamlNode & { items: Pair[] },
  schema: SchemaObject,
  keyNode: YamlNode | null,
  context: Context,
): void {
  const present = new Set<string>();
  for (const pair of node.items) if (isScalar(pair.key)) present.add(String(pair.key.value));
  for (const name of schema.required ?? []) {
    if (present.has(name)) continue;
    const anchor = keyNode ?? (node.items[0]?.key as YamlNode | undefined) ?? node;
    const where = keyNode && isScalar(keyNode) ? ` in '${String(keyNode.value)}'` : '';
    report(context, 'schema-required', `Missing required property '${name}'${where}.`, anchor);
  }
  const properties = schema.properties ?? {};
  const known = Object.keys(properties);
  for (const pair of node.items) {
    if (!isPair(pair)) continue;
    const key = pair.key as YamlNode | null;
    const name = key && isScalar(key) ? String(key.value) : null;
    const value = (pair.value as YamlNode | null) ?? null;
    if (name === null) continue;
    if (schema.propertyNames !== undefined) check(key, schema.propertyNames, key, context);
    const property = Object.prototype.hasOwnProperty.call(properties, name) ? properties[name] : undefined;
    if (property !== undefined) {
      check(value, property, key, context);
      continue;
    }
    let matched = false;
    for (const [pattern, patternSchema] of Object.entries(schema.patternProperties ?? {})) {
      if (context.resolver.regex(pattern).test(name)) {
        matched = true;
        check(value, patternSchema, key, context);
      }
    }
    if (matched) continue;
    const additional = schema.additionalProperties;
    if (additional === false) reportUnknownKey(name, key, known, context);
    else if (additional !== undefined && additional !== true) check(value, additional, key, context);
  }
  if (schema.minProperties !== undefined && node.items.length < schema.minProperties) {
    report(
      context,
      'schema-size',
      `This needs at least ${schema.minProperties} entr${schema.minProperties === 1 ? 'y' : 'ies'}.`,
      keyNode ?? node,
    );
  }
}

function reportUnknownKey(name: string, key: YamlNode | null, known: string[], context: Context): void {
  const anchor = anchorOf(key, null);
  const legacy = LEGACY_KEYS[name];
  if (legacy && !known.includes(name)) {
    context.problems.push({ severity: 'error', code: 'schema-legacy', message: legacy, anchor });
    return;
  }
  const suggestion = closest(name, known);
  const problem: AnchoredProblem = {
    severity: 'error',
    code: 'schema-unknown-property',
    message: suggestion
      ? `Unknown property '${name}'. Did you mean '${suggestion}'?`
      : `Unknown property '${name}'.${known.length ? ` Expected one of ${listNames(known)}.` : ''}`,
    anchor,
  };
  if (suggestion) problem.fix = { kind: 'replace', replacement: suggestion };
  context.problems.push(problem);
}

function checkSeq(
  node: YamlNode & { items: unknown[] },
  schema: SchemaObject,
  keyNode: YamlNode | null,
  context: Context,
): void {
  const items = node.items as (YamlNode | null)[];
  items.forEach((item, index) => {
    const prefix = schema.prefixItems?.[index];
    if (prefix !== undefined) check(item, prefix, keyNode, context);
    else if (schema.items !== undefined) check(item, schema.items, keyNode, context);
  });
  if (schema.minItems !== undefined && items.length < schema.minItems) {
    report(
      context,
      'schema-size',
      schema.minItems === 1 ? 'This list must not be empty.' : `This list needs at least ${schema.minItems} items.`,
      keyNode ?? node,
    );
  }
  if (schema.maxItems !== undefined && items.length > schema.maxItems) {
    report(context, 'schema-size', `This list can hold at most ${schema.maxItems} items.`, keyNode ?? node);
  }
}

/** Reports only the alternative the author most likely meant. */
function checkAlternatives(
  node: YamlNode | null,
  branches: JsonSchema[],
  keyNode: YamlNode | null,
  context: Context,
): void {
  const actual = typeOf(node);
  let best: { problems: AnchoredProblem[]; score: number } | null = null;
  const expectedTypes = new Set<string>();
  for (const branch of branches) {
    const resolved = context.resolver.deref(branch);
    // A branch of another type cannot match: skip it before validating (the common case for
    // `string or object` alternatives, met for every dep and out of every stage).
    const branchTypes = branchTypeSet(resolved, context.resolver);
    for (const type of branchTypes) expectedTypes.add(type);
    const typeFits = branchTypes.size === 0 || [...branchTypes].some((type) => typeMatches(actual, type));
    if (!typeFits) continue;
    const problems = validateNode(node, branch, context.resolver, keyNode, context.document);
    if (problems.length === 0) return;
    const score = problems.length - keyOverlap(node, resolved, context.resolver) * 2;
    if (!best || score < best.score) best = { problems, score };
  }
  if (best) {
    context.problems.push(...best.problems);
    return;
  }
  report(
    context,
    'schema-type',
    `Expected ${describeTypes(expectedTypes)} here, but this is ${TYPE_WORDS[actual] ?? actual}.`,
    anchorOf(node, keyNode),
  );
}

const branchTypes = new WeakMap<SchemaObject, Set<string>>();

/** The JSON types a schema (or its alternatives) admits; empty when it does not say. Cached. */
function branchTypeSet(schema: JsonSchema, resolver: SchemaResolver, depth = 0): Set<string> {
  if (typeof schema === 'boolean') return new Set();
  let types = branchTypes.get(schema);
  if (!types) {
    types = computeBranchTypes(schema, resolver, depth);
    branchTypes.set(schema, types);
  }
  return types;
}

function computeBranchTypes(schema: JsonSchema, resolver: SchemaResolver, depth: number): Set<string> {
  const types = new Set<string>();
  if (typeof schema === 'boolean' || depth > 8) return types;
  if (schema.type) for (const type of Array.isArray(schema.type) ? schema.type : [schema.type]) types.add(type);
  else {
    for (const branch of [...(schema.oneOf ?? []), ...(schema.anyOf ?? [])]) {
      for (const type of branchTypeSet(resolver.deref(branch), resolver, depth + 1)) types.add(type);
    }
    if (types.size === 0 && (schema.properties || schema.additionalProperties !== undefined)) types.add('object');
  }
  return types;
}

function keyOverlap(node: YamlNode | null, schema: JsonSchema, resolver: SchemaResolver): number {
  if (!node || !isMap(node) || typeof schema === 'boolean') return 0;
  const properties = new Set(Object.keys(schema.properties ?? {}));
  for (const branch of [...(schema.oneOf ?? []), ...(schema.anyOf ?? [])]) {
    const resolved = resolver.deref(branch);
    if (typeof resolved !== 'boolean') for (const name of Object.keys(resolved.properties ?? {})) properties.add(name);
  }
  let count = 0;
  for (const pair of node.items) if (isScalar(pair.key) && properties.has(String(pair.key.value))) count++;
  return count;
}

function report(
  context: Context,
  code: string,
  message: string,
  anchor: { range?: [number, number, number] | null },
): void {
  context.problems.push({ severity: 'error', code, message, anchor });
}
