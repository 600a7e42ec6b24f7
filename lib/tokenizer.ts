/**
 * The CLIP tokenizer X-CLIP uses, identical to transformers' CLIPTokenizerFast. The work is done by the native core
 * (one implementation shared with the C++ CLI); calls are synchronous and fast, as in the `tokenizers` package.
 * @module
 */
import { callNative, callNativeSync } from './errors';
import { binding, type LoadedTokenizer, type NativeTensor, type TokenizerHandle } from './native';
import { Tensor } from './tensor';
import { checkArray, checkKeys, is, rangeError, typeError } from './validate';

/** Options of {@link CLIPTokenizer.batchEncode}, with Hugging Face's meaning. */
export interface BatchEncodeOptions {
  /** `true`/`'longest'` (default): pad to the longest text; `'max_length'`: pad to `maxLength`; `false`: no padding. */
  padding?: boolean | 'longest' | 'max_length';
  /** Defaults to the tokenizer's `model_max_length` (77 for CLIP); at most 1,048,576. */
  maxLength?: number;
  /** Cut texts longer than `maxLength`, keeping the end-of-text token. */
  truncation?: boolean;
}

/** `input_ids` and `attention_mask`, int64 `[batch, length]`, ready for `XCLIPModel.forward`. */
export interface BatchEncoding {
  inputIds: Tensor<'int64'>;
  attentionMask: Tensor<'int64'>;
}

export interface DecodeOptions {
  /** Drop `<|startoftext|>` / `<|endoftext|>`. */
  skipSpecialTokens?: boolean;
}

const MAX_SEQUENCE_LENGTH = 1 << 20;
/** Texts in one batchEncode, rows in one batchDecode (the native layer's limit). */
const MAX_BATCH = 65536;

function checkText(text: unknown, name: string): string {
  if (!is.string(text)) throw typeError(name, 'string', text);
  return text;
}

function toIdList(ids: unknown, name: string): number[] | BigInt64Array | Int32Array {
  if (is.typedArray<BigInt64Array>(ids, 'BigInt64Array') || is.typedArray<Int32Array>(ids, 'Int32Array')) {
    if (ids.length > MAX_SEQUENCE_LENGTH) throw rangeError(`${name}.length`, `at most ${MAX_SEQUENCE_LENGTH}`, ids.length);
    return ids;
  }
  return checkArray(name, ids, MAX_SEQUENCE_LENGTH, (id, at) => {
    const n = typeof id === 'bigint' ? Number(id) : id;
    if (!is.integer(n)) throw typeError(at, 'integer', id);
    return n as number;
  }, 'an array of token ids');
}

/**
 * CLIP's byte-level BPE tokenizer, loaded from a model directory (`vocab.json`, `merges.txt`, `tokenizer_config.json`,
 * `special_tokens_map.json`).
 * @example
 * const tok = await CLIPTokenizer.fromPretrained('./xclip-base-patch32');
 * const { inputIds, attentionMask } = tok.batchEncode(['playing sports', 'eating spaghetti']);
 */
export class CLIPTokenizer {
  readonly vocabSize: number;
  readonly bosTokenId: number;
  readonly eosTokenId: number;
  readonly padTokenId: number;
  readonly unkTokenId: number;
  /** Longest input the model accepts (77), or undefined when the files set none. */
  readonly modelMaxLength: number | undefined;
  readonly #handle: TokenizerHandle;

  private constructor(loaded: LoadedTokenizer) {
    this.#handle = loaded.handle;
    this.vocabSize = loaded.vocabSize;
    this.bosTokenId = loaded.bosTokenId;
    this.eosTokenId = loaded.eosTokenId;
    this.padTokenId = loaded.padTokenId;
    this.unkTokenId = loaded.unkTokenId;
    this.modelMaxLength = loaded.modelMaxLength > 0 ? loaded.modelMaxLength : undefined;
  }

  /**
   * @example
   * const tok = await CLIPTokenizer.fromPretrained('/models/xclip');
   */
  static async fromPretrained(dir: string): Promise<CLIPTokenizer> {
    const callSite = new Error();
    checkText(dir, 'dir');
    return new CLIPTokenizer(await callNative(callSite, () => binding().tokenizer.load(dir)));
  }

  /**
   * BPE tokens without special tokens.
   * @example
   * tok.tokenize('Hello world'); // ['hello</w>', 'world</w>']
   */
  tokenize(text: string): string[] {
    const callSite = new Error();
    const t = checkText(text, 'text');
    return callNativeSync(callSite, () => binding().tokenizer.tokenize(this.#handle, t));
  }

  /**
   * Token ids with `<|startoftext|>` and `<|endoftext|>`, no padding or truncation.
   * @example
   * tok.encode('a dog'); // [49406, 320, 1929, 49407]
   */
  encode(text: string, options: { addSpecialTokens?: boolean } = {}): number[] {
    const callSite = new Error();
    const t = checkText(text, 'text');
    if (!is.object(options as unknown)) throw typeError('options', 'object', options);
    checkKeys('options', options as Record<string, unknown>, ['addSpecialTokens']);
    const special = options.addSpecialTokens ?? true;
    if (!is.bool(special)) throw typeError('addSpecialTokens', 'boolean', special);
    return callNativeSync(callSite, () => binding().tokenizer.encode(this.#handle, t, special));
  }

  /**
   * Encodes several texts into padded int64 tensors.
   * @example
   * const enc = tok.batchEncode(labels, { padding: 'max_length', maxLength: 77, truncation: true });
   */
  batchEncode(texts: readonly string[], options: BatchEncodeOptions = {}): BatchEncoding {
    const callSite = new Error();
    checkArray('texts', texts, MAX_BATCH, checkText, 'an array of strings');
    if (texts.length === 0) throw rangeError('texts', 'at least one text', texts);
    if (!is.object(options as unknown)) throw typeError('options', 'object', options);
    checkKeys('options', options as Record<string, unknown>, ['padding', 'maxLength', 'truncation']);
    const { padding = true, maxLength, truncation = false } = options;
    if (!(is.bool(padding) || padding === 'longest' || padding === 'max_length')) {
      throw typeError('padding', "true, false, 'longest' or 'max_length'", padding);
    }
    if (maxLength !== undefined) {
      if (!is.integer(maxLength)) throw typeError('maxLength', 'integer', maxLength);
      if (maxLength < 2) throw rangeError('maxLength', 'integer of at least 2', maxLength);
      // Padding to maxLength allocates batch × maxLength ids: the core refuses more than 2^20.
      if (maxLength > MAX_SEQUENCE_LENGTH) throw rangeError('maxLength', `integer of at most ${MAX_SEQUENCE_LENGTH}`, maxLength);
    }
    if (!is.bool(truncation)) throw typeError('truncation', 'boolean', truncation);
    const mode = padding === 'max_length' ? 'max_length' : padding === false ? 'none' : 'longest';
    const out = callNativeSync(callSite, () =>
      binding().tokenizer.batchEncode(this.#handle, texts, { padding: mode, maxLength, truncation }),
    );
    return { inputIds: wrapInt64(out.inputIds), attentionMask: wrapInt64(out.attentionMask) };
  }

  /**
   * Text from ids, with HF's clean-up of tokenization spaces.
   * @example
   * tok.decode([49406, 320, 1929, 49407], { skipSpecialTokens: true }); // 'a dog'
   */
  decode(ids: readonly (number | bigint)[] | BigInt64Array | Int32Array, options: DecodeOptions = {}): string {
    const callSite = new Error();
    const list = toIdList(ids, 'ids');
    const skip = options.skipSpecialTokens ?? false;
    if (!is.bool(skip)) throw typeError('skipSpecialTokens', 'boolean', skip);
    return callNativeSync(callSite, () => binding().tokenizer.decode(this.#handle, list, skip));
  }

  /**
   * Decodes every row of a `[batch, length]` tensor or of an array of id lists.
   * @example
   * tok.batchDecode(enc.inputIds, { skipSpecialTokens: true });
   */
  batchDecode(batch: Tensor<'int64' | 'int32'> | readonly (readonly (number | bigint)[])[], options: DecodeOptions = {}): string[] {
    if (batch instanceof Tensor) {
      if (batch.dims.length !== 2) throw rangeError('batch.dims', 'a 2-D shape', batch.dims);
      const [rows, cols] = batch.dims;
      // An empty tensor may have any number of rows ([2 ** 31, 0]): each would become a string.
      if (rows > MAX_BATCH) throw rangeError('batch.dims[0]', `at most ${MAX_BATCH} rows`, rows);
      const data = batch.data as BigInt64Array | Int32Array;
      return Array.from({ length: rows }, (_, r) => this.decode(data.subarray(r * cols, (r + 1) * cols) as BigInt64Array | Int32Array, options));
    }
    const rows = checkArray('batch', batch, MAX_BATCH, (row) => row, 'a Tensor or an array of id lists');
    return rows.map((row) => this.decode(row as (number | bigint)[], options));
  }

  /** The token string of one id. */
  idToToken(id: number): string {
    const callSite = new Error();
    if (!is.integer(id)) throw typeError('id', 'integer', id);
    return callNativeSync(callSite, () => binding().tokenizer.idToToken(this.#handle, id));
  }

  /** The id of one token string, or undefined. */
  tokenToId(token: string): number | undefined {
    return binding().tokenizer.tokenToId(this.#handle, checkText(token, 'token'));
  }
}

function wrapInt64(t: NativeTensor<'int64'>): Tensor<'int64'> {
  return new Tensor('int64', t.data, t.dims);
}
