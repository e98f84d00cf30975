import { defineConfig } from 'tsup';
import { packageOptions } from '../../tsup.shared';

export default defineConfig(packageOptions());
