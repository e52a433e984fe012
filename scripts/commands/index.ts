/** @file Every CLI command, in the order `--help` lists them. Add a command: one import, one entry. */
import type { CliCommand } from '../cliTypes.ts';
import { command as benchKernels } from './benchKernels.ts';
import { command as gpuInfo } from './gpuInfo.ts';
import { command as inspect } from './inspect.ts';
import { command as makeModel } from './makeModel.ts';
import { command as split } from './split.ts';
import { command as packDemo } from './packDemo.ts';
import { command as tokenize } from './tokenize.ts';
import { command as detokenize } from './detokenize.ts';
import { command as serve } from './serve.ts';
import { command as logits } from './logits.ts';
import { command as generate } from './generate.ts';
import { command as retrieve } from './retrieve.ts';
import { command as bench } from './bench.ts';
import { command as benchBrowser } from './benchBrowser.ts';
import { command as profile } from './profile.ts';

export const commands: readonly CliCommand[] = [gpuInfo, benchKernels, makeModel, inspect, split, packDemo, tokenize, detokenize, logits, generate, retrieve, serve, bench, benchBrowser, profile];
