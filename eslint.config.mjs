// Lint rules that catch bugs the type checker does not: promises nobody awaits or marks `void`,
// and imports that break the layering (core stays free of editor and protocol libraries).
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: [
      'core/src/schema/validators.generated.ts',
      'dist/**',
      'out/**',
      'node_modules/**',
      '.scratch/**',
      '.bench/**',
      'test-results/**',
      'sample-workspace/**',
    ],
  },
  {
    files: ['**/*.ts'],
    languageOptions: {
      parser: tseslint.parser,
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    plugins: { '@typescript-eslint': tseslint.plugin },
    rules: {
      // node:test's describe/it return promises the runner tracks itself.
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          allowForKnownSafeCalls: [
            { from: 'package', name: ['describe', 'it', 'test', 'before', 'after'], package: 'node:test' },
          ],
        },
      ],
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: false }],
      '@typescript-eslint/await-thenable': 'error',
    },
  },
  {
    files: ['core/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['vscode', 'vscode-languageserver*', 'vscode-languageclient*', 'vscode-jsonrpc*'],
              message: 'core/ must not depend on the editor or the LSP libraries.',
            },
          ],
        },
      ],
    },
  },
);
