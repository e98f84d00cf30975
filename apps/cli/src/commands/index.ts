import type { Command } from '../command';
import { convert } from './convert';
import { inspect } from './inspect';

export const commands: Command[] = [convert, inspect] as Command[];
