// The resampling worker thread's entry when the backend runs from TypeScript source (tsx in
// development, vitest in tests): a worker thread does not inherit the parent's module loader, so
// register tsx here, then load the real entry. Production runs the built dist/resample-thread.js.
import { register } from 'tsx/esm/api';

register();
await import('./resample-thread.ts');
