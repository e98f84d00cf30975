import { defineConfig } from 'tsup';
import { packageOptions } from '../../tsup.shared';

// Bundle tfjs' gradient registrations (Node cannot import that file on its own); tfjs-core itself stays external.
export default defineConfig(packageOptions({ noExternal: [/^@tensorflow\/tfjs-core\/dist\/register_all_gradients/] }));
