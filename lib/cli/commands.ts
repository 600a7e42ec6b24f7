/**
 * The CLI's commands, in the order `xclip-node --help` lists them. A new command is a module exporting a
 * {@link Command} plus one line here.
 * @module
 * @internal
 */
import { classify } from './classify';
import type { Command } from './command';
import { embed } from './embed';
import { embedText } from './embedText';
import { enqueue } from './enqueue';
import { indexCommand } from './indexCommand';
import { info } from './info';
import { score } from './score';
import { search } from './search';
import { serve } from './serve';
import { worker } from './worker';

export const COMMANDS: readonly Command[] = [classify, score, embed, embedText, indexCommand, search, serve, enqueue, worker, info];
