#!/usr/bin/env node
// Build step: compile the JSON Schemas ahead of time into one ESM module (ajv standalone), so
// commands start without loading ajv's compiler. Run by `npm run build` after tsc.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv2020 } from 'ajv/dist/2020.js';
import standaloneCode from 'ajv/dist/standalone/index.js';

const here = dirname(fileURLToPath(import.meta.url));
const out = process.argv[2] ?? join(here, '..', 'dist', 'schemas', 'validators.mjs');
const load = (name) => JSON.parse(readFileSync(join(here, name), 'utf8'));
const service = load('service.schema.json');
const coral = load('coral.schema.json');

// The same options as src/config/schema-validate.ts compileValidators().
const ajv = new Ajv2020({ allErrors: true, verbose: true, strict: true, allowUnionTypes: true, code: { source: true, esm: true } });
ajv.addSchema(service);
ajv.addSchema(coral);
const code = standaloneCode.default(ajv, { service: service.$id, main: coral.$id });
mkdirSync(dirname(out), { recursive: true });
// The standalone code require()s a small ajv runtime helper; give the ESM module a require.
const header = "// Generated from schemas/*.json by schemas/build-validators.mjs; do not edit.\nimport { createRequire } from 'node:module';\nconst require = createRequire(import.meta.url);\n";
writeFileSync(out, header + code.replace(/^"use strict";/, ''));
