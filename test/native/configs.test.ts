// Configs: TS defaults vs the native parser, HF JSON round trips, validation through parse_config.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { XCLIPConfig, XCLIPTextConfig, XCLIPVisionConfig, XClipError } from '../../lib';
import { binding } from '../../lib/native';
import { fixturesDir, modelDir } from '../helpers/fixtures';

const MODELS = ['xclip-tiny8', 'xclip-tiny4-gelu', 'xclip-tiny3', 'xclip-deep12', 'xclip-tiny4-gelu-legacy-bin'];

function catchError(fn: () => unknown): XClipError {
  try {
    fn();
  } catch (e) {
    if (e instanceof XClipError) return e;
    throw e;
  }
  throw new Error('expected an XClipError');
}

describe('configs', () => {
  it('new XCLIPConfig() equals the native defaults (xclip-base-patch32)', () => {
    expect(new XCLIPConfig().toJSON()).toEqual(JSON.parse(binding().parseConfig('{}')));
  });

  it('defaults spot check', () => {
    const c = new XCLIPConfig();
    expect(c.projectionDim).toBe(512);
    expect(c.textConfig.vocabSize).toBe(49408);
    expect(c.visionConfig.patchSize).toBe(32);
    expect(c.visionConfig.numFrames).toBe(8);
    expect(c.promptAlpha).toBe(0.1);
  });

  it.each(MODELS)('fromPretrained(%s) round-trips through toJSON/fromJSON', (name) => {
    const config = XCLIPConfig.fromPretrained(modelDir(name));
    const hf = JSON.parse(fs.readFileSync(path.join(modelDir(name), 'config.json'), 'utf8'));
    expect(config.projectionDim).toBe(hf.projection_dim);
    expect(config.textConfig.hiddenSize).toBe(hf.text_config.hidden_size);
    expect(config.visionConfig.mitNumAttentionHeads).toBe(hf.vision_config.mit_num_attention_heads);
    expect(config.textConfig.hiddenAct).toBe(hf.text_config.hidden_act);
    const again = XCLIPConfig.fromJSON(JSON.stringify(config));
    expect(again).toEqual(config);
    expect(again.toJSON()).toEqual(JSON.parse(binding().parseConfig(JSON.stringify(hf))));
  });

  it('fromPretrained accepts the config.json path itself', () => {
    expect(XCLIPConfig.fromPretrained(path.join(modelDir('xclip-tiny3'), 'config.json')).visionConfig.numFrames).toBe(3);
  });

  it('fromJSON accepts objects, legacy torch_dtype and *_config_dict', () => {
    const c = XCLIPConfig.fromJSON({
      torch_dtype: 'float16',
      projection_dim: 64,
      vision_config_dict: { mit_hidden_size: 64, num_frames: 16 },
      text_config_dict: { hidden_size: 128, num_attention_heads: 4 },
      prompt_num_attention_heads: 8,
    });
    expect(c.dtype).toBe('float16');
    expect(c.visionConfig.numFrames).toBe(16);
    expect(c.textConfig.hiddenSize).toBe(128);
  });

  it('fromTextVisionConfigs', () => {
    const c = XCLIPConfig.fromTextVisionConfigs({ hiddenSize: 64, numAttentionHeads: 4 }, new XCLIPVisionConfig({ mitHiddenSize: 256 }), {
      projectionDim: 256,
    });
    expect(c.textConfig).toBeInstanceOf(XCLIPTextConfig);
    expect(c.textConfig.hiddenSize).toBe(64);
    expect(c.projectionDim).toBe(256);
    expect(c.validate()).toBe(c);
  });

  it('JSON.stringify writes HF snake_case', () => {
    const json = JSON.parse(JSON.stringify(new XCLIPConfig()));
    expect(json.model_type).toBe('xclip');
    expect(json.text_config.max_position_embeddings).toBe(77);
    expect(json.vision_config.mit_intermediate_size).toBe(2048);
    expect(json.logit_scale_init_value).toBe(2.6592);
  });

  it('validate() names the key the native validator refuses', () => {
    const e = catchError(() => new XCLIPConfig({ projectionDim: 256 }).validate());
    expect(e.code).toBe('CONFIG_INVALID');
    expect(e.message).toContain('vision_config.mit_hidden_size (512) must equal projection_dim (256)');
  });

  it('fromJSON reports wrong types with the key', () => {
    const e = catchError(() => XCLIPConfig.fromJSON({ text_config: { hidden_size: 'big' } }, 'my.json'));
    expect(e.code).toBe('CONFIG_INVALID');
    expect(e.message).toBe('my.json: text_config.hidden_size must be an integer but is string "big"');
  });

  it('fromJSON reports malformed JSON', () => {
    expect(catchError(() => XCLIPConfig.fromJSON('{"projection_dim": ')).code).toBe('CONFIG_INVALID');
  });

  it('fromPretrained on a missing folder: FILE_NOT_FOUND with the caller in the stack', () => {
    const e = catchError(() => XCLIPConfig.fromPretrained(path.join(os.tmpdir(), 'no-such-xclip-dir')));
    expect(e.code).toBe('FILE_NOT_FOUND');
    expect(e.stack).toContain('configs.test.ts');
  });

  it.each([
    [() => new XCLIPConfig({ projectionDm: 3 } as never), 'Expected one of projectionDim'],
    [() => new XCLIPTextConfig({ hidden_size: 3 } as never), 'for XCLIPTextConfig key but received "hidden_size" of type string'],
    [() => new XCLIPVisionConfig('x' as never), 'Expected an object for XCLIPVisionConfig but received "x" of type string'],
    [() => XCLIPConfig.fromJSON(42 as never), 'Expected a JSON string or object for json but received 42'],
    [() => XCLIPConfig.fromPretrained('' as never), 'Expected a non-empty string for pathOrDir but received "" of type string'],
  ])('bad argument %#: TypeError', (fn, message) => {
    expect(fn).toThrow(TypeError);
    expect(fn).toThrow(message);
  });

  it('the fixtures folder is found', () => {
    expect(fs.existsSync(fixturesDir())).toBe(true);
  });
});
