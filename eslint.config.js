// Lint: type-aware rules everywhere, and a sandbox fence around workflows/ (workflow code is replayed
// deterministically inside Temporal's V8 isolate, so Node built-ins and I/O clients are banned there).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const nodeBuiltins = [
  'fs',
  'path',
  'os',
  'child_process',
  'crypto',
  'http',
  'https',
  'net',
  'dns',
  'stream',
  'url',
  'util',
  'worker_threads',
  'process',
  'timers',
];

export default tseslint.config(
  { ignores: ['node_modules/**', '.mlops/**', '.venv/**', 'dist/**', 'examples/**/*.py'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      parserOptions: {
        projectService: { allowDefaultProject: ['*.js', 'bin/*.js', 'scripts/*.mjs'] },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly' } },
  },
  {
    files: ['workflows/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [
            ...nodeBuiltins.flatMap((m) => [
              { name: m, message: 'workflows/ runs in the Temporal sandbox: no Node built-ins. Use an activity.' },
              {
                name: `node:${m}`,
                message: 'workflows/ runs in the Temporal sandbox: no Node built-ins. Use an activity.',
              },
            ]),
            {
              name: '@temporalio/activity',
              message: 'Import activities as types only (import type).',
              allowTypeImports: true,
            },
            { name: '@temporalio/client', message: 'Workflows cannot use the client.', allowTypeImports: true },
            { name: '@temporalio/worker', message: 'Workflows cannot use the worker.', allowTypeImports: true },
          ],
          patterns: [
            { group: ['@google-cloud/*', '@kubernetes/*'], message: 'I/O clients belong in activities/.' },
            {
              group: ['../activities/*', '../activities', '../../activities/*', '../../activities'],
              message: 'Import activities as types only.',
              allowTypeImports: true,
            },
            { group: ['../workers/*', '../../workers/*'], message: 'workflows/ may not import workers/.' },
          ],
        },
      ],
      'no-restricted-globals': [
        'error',
        { name: 'setTimeout', message: 'Use sleep() / condition() from @temporalio/workflow.' },
        { name: 'setInterval', message: 'Use a loop with sleep() from @temporalio/workflow.' },
      ],
      'no-restricted-properties': [
        'error',
        { object: 'Math', property: 'random', message: 'Use uuid4() or a value from an activity.' },
      ],
    },
  },
);
