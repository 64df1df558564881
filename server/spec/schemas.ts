// The spec kinds, their JSON Schemas (schemas/ is the one source of truth), and navigation in a
// schema by a path of keys, which completion and hover use.
import * as path from 'node:path';
import deploymentSchema from '../../schemas/deployment.schema.json';
import experimentSchema from '../../schemas/experiment.schema.json';
import pipelineSchema from '../../schemas/pipeline.schema.json';
import { SchemaResolver } from './schemaValidate';
import type { JsonSchema, SchemaObject } from './schemaValidate';

export type SpecKind = 'pipeline' | 'experiment' | 'deployment' | 'params';

/** Tells which kind of spec a file is from its name, or null for files Cairn does not read. */
export function specKindOf(filePath: string): SpecKind | null {
  const name = path.posix.basename(filePath.replace(/\\/g, '/'));
  if (
    name === 'dvc.yaml' ||
    name === 'pipeline.yaml' ||
    name === 'pipeline.yml' ||
    name.endsWith('.pipeline.yaml') ||
    name.endsWith('.pipeline.yml')
  )
    return 'pipeline';
  if (name.endsWith('.experiment.yaml') || name.endsWith('.experiment.yml')) return 'experiment';
  if (name.endsWith('.deploy.yaml') || name.endsWith('.deploy.yml')) return 'deployment';
  if (name === 'params.yaml' || name === 'params.yml') return 'params';
  return null;
}

const resolvers: Record<Exclude<SpecKind, 'params'>, SchemaResolver> = {
  pipeline: new SchemaResolver(pipelineSchema as SchemaObject),
  experiment: new SchemaResolver(experimentSchema as SchemaObject),
  deployment: new SchemaResolver(deploymentSchema as SchemaObject),
};

/** The schema resolver of a kind, or null for kinds without a schema (params.yaml). */
export function resolverFor(kind: SpecKind): SchemaResolver | null {
  return kind === 'params' ? null : resolvers[kind];
}

/** The schema of one pipeline stage, validated segment by segment. */
export function stageSchema(): JsonSchema {
  return resolvers.pipeline.lookup('#/$defs/stage') ?? true;
}

/** All schemas that may apply at `keys` below the root, with alternatives flattened. */
export function schemasAt(resolver: SchemaResolver, keys: readonly (string | number)[]): SchemaObject[] {
  let current = flatten(resolver, resolver.root);
  for (const key of keys) {
    const next: SchemaObject[] = [];
    for (const schema of current) {
      if (typeof key === 'number') {
        const item = schema.prefixItems?.[key] ?? schema.items;
        if (item !== undefined) next.push(...flatten(resolver, item));
        continue;
      }
      const property = schema.properties?.[key];
      if (property !== undefined) {
        next.push(...flatten(resolver, property));
        continue;
      }
      let matched = false;
      for (const [pattern, patternSchema] of Object.entries(schema.patternProperties ?? {})) {
        if (resolver.regex(pattern).test(key)) {
          matched = true;
          next.push(...flatten(resolver, patternSchema));
        }
      }
      if (!matched && schema.additionalProperties !== undefined && typeof schema.additionalProperties !== 'boolean') {
        next.push(...flatten(resolver, schema.additionalProperties));
      }
    }
    current = next;
    if (current.length === 0) break;
  }
  return current;
}

/** A schema and its oneOf/anyOf/allOf alternatives as a flat list of object schemas. */
export function flatten(resolver: SchemaResolver, schema: JsonSchema, depth = 0): SchemaObject[] {
  const resolved = resolver.deref(schema);
  if (typeof resolved === 'boolean' || depth > 16) return [];
  const result: SchemaObject[] = [resolved];
  for (const branch of [...(resolved.oneOf ?? []), ...(resolved.anyOf ?? []), ...(resolved.allOf ?? [])]) {
    for (const inner of flatten(resolver, branch, depth + 1)) {
      // Alternatives inherit the description of the schema that offers them.
      result.push(inner.description || !resolved.description ? inner : { ...inner, description: resolved.description });
    }
  }
  return result;
}

/** The properties offered by a set of schemas, first description wins. */
export function propertiesOf(resolver: SchemaResolver, schemas: SchemaObject[]): Map<string, SchemaObject> {
  const result = new Map<string, SchemaObject>();
  for (const schema of schemas) {
    for (const [name, property] of Object.entries(schema.properties ?? {})) {
      const resolved = resolver.deref(property);
      if (typeof resolved === 'boolean') continue;
      const existing = result.get(name);
      if (!existing || (!existing.description && resolved.description)) result.set(name, resolved);
    }
  }
  return result;
}

/** The description of a schema in Markdown, with its examples. */
export function schemaDocumentation(schema: SchemaObject): string {
  const parts: string[] = [];
  const text = schema.markdownDescription ?? schema.description;
  if (typeof text === 'string') parts.push(text);
  if (schema.enum) parts.push(`Allowed: ${schema.enum.map((value) => `\`${String(value)}\``).join(', ')}`);
  if (schema.default !== undefined) parts.push(`Default: \`${JSON.stringify(schema.default)}\``);
  const examples = schema.examples;
  if (Array.isArray(examples) && examples.length > 0) {
    const shown = examples
      .slice(0, 2)
      .map((example) => (typeof example === 'string' ? example : JSON.stringify(example)));
    parts.push(`Example: \`${shown.join('`, `')}\``);
  }
  return parts.join('\n\n');
}
