import type { Command } from '../command';
import { convert } from './convert';
import { inspect } from './inspect';
import { sampleCommand } from './sample';
import { statsCommand } from './stats';
import { trainCommand } from './train';
import { cacheCommand } from './cache';
import { dataCommand } from './data';
import { evalCommand } from './eval';
import { decodeCommand, encodeCommand, reconstructCommand } from './autoencode';

export const commands: Command[] = [convert, inspect, sampleCommand, encodeCommand, decodeCommand, reconstructCommand, statsCommand, dataCommand, cacheCommand, trainCommand, evalCommand] as Command[];
