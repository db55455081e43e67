// ESLint flat config: typescript-eslint, plus the rule that keeps config/, plan/ and lifecycle/ pure.
import tseslint from 'typescript-eslint';

const edgeModules = [
  'node:fs', 'node:fs/promises', 'fs', 'fs/promises',
  'node:net', 'net', 'node:http', 'http', 'node:dgram', 'dgram',
  'node:child_process', 'child_process',
  'node:timers', 'node:timers/promises', 'timers', 'timers/promises',
  'pino', 'execa', 'chokidar', 'proper-lockfile', 'sd-notify',
];

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'build/**'] },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['src/config/**/*.ts', 'src/plan/**/*.ts', 'src/lifecycle/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        paths: edgeModules.map((name) => ({ name, message: 'config/, plan/ and lifecycle/ are pure: no I/O, timers, processes or logging. Pass data in from an edge folder.' })),
        patterns: [{ group: ['../{store,watch,reconcile,beyla,health,systemd,control,metrics,daemon,cli}/*', '../log.js'], message: 'config/, plan/ and lifecycle/ import only each other, errors and the schemas.' }],
      }],
      'no-restricted-globals': ['error',
        { name: 'setTimeout', message: 'pure folder: no timers' },
        { name: 'setInterval', message: 'pure folder: no timers' },
        { name: 'setImmediate', message: 'pure folder: no timers' },
        { name: 'process', message: 'pure folder: pass env and argv in' },
        { name: 'fetch', message: 'pure folder: no network' },
      ],
    },
  },
);
