// Writes docs/spec.md from the schema. Run: npx tsx scripts/gen-spec-docs.ts
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { renderSpecReference } from '../specs/reference.ts';

const target = fileURLToPath(new URL('../docs/spec.md', import.meta.url));
writeFileSync(target, renderSpecReference());
console.log(`wrote ${target}`);
