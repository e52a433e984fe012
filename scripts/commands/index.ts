/** @file Every CLI command, in the order `--help` lists them. Add a command: one import, one entry. */
import type { CliCommand } from '../cliTypes.ts';
import { command as gpuInfo } from './gpuInfo.ts';
import { command as makeModel } from './makeModel.ts';

export const commands: readonly CliCommand[] = [gpuInfo, makeModel];
