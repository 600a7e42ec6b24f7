// CLIPTokenizer through the TS API vs. CLIPTokenizerFast's outputs in fixtures/tokenizer/encodings.json.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

import { XClipError } from '../../lib/errors';
import { CLIPTokenizer } from '../../lib/tokenizer';
import { fixturesDir } from '../helpers/fixtures';

interface Variant {
  input_ids: number[];
  tokens: string[];
  max77_input_ids: number[];
  max77_attention_mask: number[];
  decode: string;
  decode_skip_special: string;
}
const encodings = JSON.parse(fs.readFileSync(path.join(fixturesDir(), 'tokenizer', 'encodings.json'), 'utf8')) as {
  cases: { text: string; fast: Variant }[];
};

describe('CLIPTokenizer (= CLIPTokenizerFast)', () => {
  let tok: CLIPTokenizer;
  beforeAll(async () => {
    tok = await CLIPTokenizer.fromPretrained(path.join(fixturesDir(), 'tokenizer'));
  });

  it('has CLIP special tokens and sizes', () => {
    expect(tok.vocabSize).toBe(49408);
    expect(tok.bosTokenId).toBe(49406);
    expect(tok.eosTokenId).toBe(49407);
    expect(tok.padTokenId).toBe(49407);
    expect(tok.modelMaxLength).toBe(77);
  });

  it(`matches input_ids, tokens, max_length=77 ids and masks and both decodes on all ${encodings.cases.length} strings`, () => {
    const mismatches: string[] = [];
    for (const { text, fast } of encodings.cases) {
      const ids = tok.encode(text);
      if (JSON.stringify(ids) !== JSON.stringify(fast.input_ids)) mismatches.push(`ids ${JSON.stringify(text)}`);
      const tokens = ids.map((id) => tok.idToToken(id));
      if (JSON.stringify(tokens) !== JSON.stringify(fast.tokens)) mismatches.push(`tokens ${JSON.stringify(text)}`);
      const enc = tok.batchEncode([text], { padding: 'max_length', maxLength: 77, truncation: true });
      if (JSON.stringify(Array.from(enc.inputIds.data, Number)) !== JSON.stringify(fast.max77_input_ids)) mismatches.push(`max77 ${JSON.stringify(text)}`);
      if (JSON.stringify(Array.from(enc.attentionMask.data, Number)) !== JSON.stringify(fast.max77_attention_mask)) mismatches.push(`mask ${JSON.stringify(text)}`);
      if (tok.decode(fast.input_ids) !== fast.decode) mismatches.push(`decode ${JSON.stringify(text)}`);
      if (tok.decode(fast.input_ids, { skipSpecialTokens: true }) !== fast.decode_skip_special) mismatches.push(`decode_skip ${JSON.stringify(text)}`);
    }
    expect(mismatches).toEqual([]);
  });

  it('pads a batch to the longest text with the pad id and a 0 mask (HF padding=True)', () => {
    const picked = encodings.cases.filter((c) => c.text.length > 0 && c.fast.input_ids.length <= 77).slice(0, 6);
    const longest = Math.max(...picked.map((c) => c.fast.input_ids.length));
    const { inputIds, attentionMask } = tok.batchEncode(picked.map((c) => c.text));
    expect(inputIds.dims).toEqual([picked.length, longest]);
    const ids = Array.from(inputIds.data, Number);
    const mask = Array.from(attentionMask.data, Number);
    picked.forEach((c, r) => {
      const n = c.fast.input_ids.length;
      expect(ids.slice(r * longest, (r + 1) * longest)).toEqual([...c.fast.input_ids, ...Array(longest - n).fill(49407)]);
      expect(mask.slice(r * longest, (r + 1) * longest)).toEqual([...Array(n).fill(1), ...Array(longest - n).fill(0)]);
    });
    expect(tok.batchDecode(inputIds, { skipSpecialTokens: true })).toEqual(picked.map((c) => c.fast.decode_skip_special));
  });

  it('refuses bad arguments with the argument named', () => {
    expect(() => tok.encode(42 as unknown as string)).toThrow(new TypeError('Expected string for text but received 42'));
    expect(() => tok.batchEncode([])).toThrow(RangeError);
    expect(() => tok.batchEncode(['a'], { maxLength: 1 })).toThrow(new RangeError('Expected integer of at least 2 for maxLength but received 1'));
    // Padding to an absurd length would allocate gigabytes before anything else failed.
    expect(() => tok.batchEncode(['a'], { padding: 'max_length', maxLength: 1e12 })).toThrow(RangeError);
    expect(() => tok.batchEncode(['a'], { padding: 'left' as unknown as boolean })).toThrow(TypeError);
    expect(() => tok.batchEncode(['a'], { pading: true } as unknown as object)).toThrow(TypeError);
    expect(() => tok.decode([1.5])).toThrow(TypeError);
  });

  it('reports ids outside the vocabulary as INVALID_INPUT', () => {
    expect(() => tok.decode([49408])).toThrow(XClipError);
    try {
      tok.decode([-1]);
    } catch (e) {
      expect((e as XClipError).code).toBe('INVALID_INPUT');
    }
  });

  it('reports missing and malformed tokenizer files as TOKENIZER_ERROR', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xclip-tok-'));
    try {
      await expect(CLIPTokenizer.fromPretrained(dir)).rejects.toMatchObject({ code: 'TOKENIZER_ERROR' });
      fs.writeFileSync(path.join(dir, 'vocab.json'), '{"a": 0,');
      fs.writeFileSync(path.join(dir, 'merges.txt'), '#version: 0.2\n');
      await expect(CLIPTokenizer.fromPretrained(dir)).rejects.toMatchObject({ code: 'TOKENIZER_ERROR', message: expect.stringContaining('vocab.json') });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
