// The inference body reader: the same values as JSON.parse (numbers bit for bit, strings with
// escapes, nesting, __proto__ as a plain key), long number lists as Float64Arrays, and the same
// refusals of text that is not JSON.
import * as assert from 'node:assert/strict';
import { isList, parseJson } from '../../server/engine/serving/json';

function parse(text: string): unknown {
  return parseJson(Buffer.from(text, 'utf8'));
}

/** Converts Float64Arrays back to arrays, to compare with JSON.parse. */
function plain(value: unknown): unknown {
  if (value instanceof Float64Array) return Array.from(value);
  if (Array.isArray(value)) return value.map(plain);
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, plain(item)]));
  }
  return value;
}

describe('serving JSON reader', () => {
  it('reads what JSON.parse reads', () => {
    const texts = [
      '{"a": 1, "b": [true, false, null], "c": {"d": "e\\n\\u00e9\\"x\\""}, "é": "ü"}',
      ' [ ] ',
      '{}',
      '[-0, 0.5, -1.25e-3, 1E+2, 123456789012345678901234567890, 1e-400, 2.5e308]',
      '"just a string"',
      '{"__proto__": {"polluted": true}}',
      '[[1,2],[3,4]]',
    ];
    for (const text of texts) assert.deepEqual(plain(parse(text)), JSON.parse(text), text);
    const proto = parse('{"__proto__": {"polluted": true}}') as Record<string, unknown>;
    assert.equal(({} as Record<string, unknown>)['polluted'], undefined);
    assert.ok(Object.prototype.hasOwnProperty.call(proto, '__proto__'));
  });

  it('reads every number exactly as JSON.parse does', () => {
    let state = 12345;
    const random = (): number => {
      state = (Math.imul(state, 1103515245) + 12345) >>> 0;
      return state / 2 ** 32;
    };
    const numbers: number[] = [];
    for (let index = 0; index < 20_000; index++) {
      const magnitude = 10 ** (Math.floor(random() * 44) - 22);
      numbers.push((random() - 0.5) * magnitude, Math.round(random() * 1e6) / 1e3, Math.fround(random()));
    }
    const text = JSON.stringify(numbers);
    const read = parse(text);
    assert.ok(read instanceof Float64Array);
    const expected = JSON.parse(text) as number[];
    for (let index = 0; index < expected.length; index++)
      assert.ok(Object.is(read[index], expected[index]), `${expected[index]}`);
  });

  it('keeps short or mixed lists as arrays and long number lists as Float64Arrays', () => {
    const long = Array.from({ length: 20 }, (_, index) => index / 4);
    const value = parse(JSON.stringify({ shape: [1, 20], data: long, mixed: [...long, 'x'] })) as Record<
      string,
      unknown
    >;
    assert.ok(Array.isArray(value['shape']));
    assert.ok(value['data'] instanceof Float64Array);
    assert.deepEqual(Array.from(value['data'] as Float64Array), long);
    assert.deepEqual(value['mixed'], [...long, 'x']);
    assert.ok(isList(value['data']) && isList(value['shape']) && !isList('x'));
  });

  it('refuses what is not JSON, saying where', () => {
    for (const text of [
      '',
      '{',
      '[1,]',
      '[01]',
      '{"a" 1}',
      '[1 2]',
      '"open',
      'nul',
      '[-]',
      '[1.]',
      '[1e]',
      '{"a":1}x',
      '["\u0001"]',
    ]) {
      assert.throws(() => parse(text), SyntaxError, text);
      assert.throws(() => JSON.parse(text), SyntaxError, `JSON.parse also refuses ${text}`);
    }
    assert.throws(() => parse('[1, 2 3]'), /Expected ',' or '\]' at position 6/);
  });
});
