// Absolute path of the Beyla test double script, from the TypeScript source or its compiled copy in dist/.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Path of test/beyla-double/beyla, whether this module runs from test/ or from dist/test/. */
export const beylaDoublePath = (): string => {
  const besideSource = fileURLToPath(new URL('./beyla', import.meta.url));
  if (existsSync(besideSource)) return besideSource;
  return fileURLToPath(new URL('../../../test/beyla-double/beyla', import.meta.url));
};
