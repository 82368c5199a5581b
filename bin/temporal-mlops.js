#!/usr/bin/env node
// The `temporal-mlops` command. Runs the TypeScript CLI through tsx's loader.
import { register } from 'tsx/esm/api';

register();
await import('../cli/index.ts');
