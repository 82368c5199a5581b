#!/usr/bin/env node
// The `temporal-mlops` command. Installed, it runs the compiled CLI in dist/; in a checkout of the repository
// (the TypeScript sources beside it) it runs the sources through tsx, so the repo's tests never see a stale build.
// tsx is a dev dependency: it is imported only on the sources path, never by an installed package.
import { existsSync } from 'node:fs';

const sources = new URL('../cli/index.ts', import.meta.url);
if (existsSync(sources)) {
  const { register } = await import('tsx/esm/api');
  register();
  await import(sources.href);
} else {
  await import('../dist/cli/index.js');
}
