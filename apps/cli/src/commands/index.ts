import type { Command } from '../command';
import { convert } from './convert';
import { inspect } from './inspect';
import { sampleCommand } from './sample';
import { statsCommand } from './stats';
import { trainCommand } from './train';
import { decodeCommand, encodeCommand, reconstructCommand } from './autoencode';

export const commands: Command[] = [convert, inspect, sampleCommand, encodeCommand, decodeCommand, reconstructCommand, statsCommand, trainCommand] as Command[];
