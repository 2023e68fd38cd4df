// check_schemas.mjs: the feed's JSON Schemas checked by Ajv, an independent validator.
//
//   node check_schemas.mjs [--examples FEED-V1.MD] [--corpus DIR] SCHEMA.json...
//
// Each schema is compiled by the Ajv class of the draft its $schema names (2020-12 or 2019-09;
// another draft is an error), in strict mode: an unknown keyword, a misplaced one or a
// meta-schema violation fails, where a validator that ignores what it does not know would pass.
// Then, when given, the examples of the feed contract's "Example" section (the first block is an
// event, the others replies) and the corpus lines tests/corpus/expected.tsv marks `accepted` are
// validated: the published examples must pass the published schemas. Prints one line per
// problem, naming the file and the JSON path; exit status 1 when there is any.
import { readFileSync, readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import Ajv2020 from 'ajv/dist/2020.js';
import Ajv2019 from 'ajv/dist/2019.js';
import addFormats from 'ajv-formats';

const DRAFTS = {
  'https://json-schema.org/draft/2020-12/schema': Ajv2020,
  'https://json-schema.org/draft/2019-09/schema': Ajv2019,
};

const problems = [];
const args = process.argv.slice(2);
let examples = null;
let corpus = null;
const files = [];
while (args.length) {
  const a = args.shift();
  if (a === '--examples') examples = args.shift();
  else if (a === '--corpus') corpus = args.shift();
  else files.push(a);
}
if (!files.length) {
  console.error('usage: check_schemas.mjs [--examples FEED-V1.MD] [--corpus DIR] SCHEMA.json...');
  process.exit(2);
}

// name ("feed-event") -> compiled validate function, for the examples
const validators = {};
const broken = new Set(); // names whose schema did not compile: their documents go unchecked
for (const file of files) {
  const name = basename(file).replace(/\.schema\.json$/, '');
  broken.add(name);
  let schema;
  try {
    schema = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    problems.push(`${file}: not JSON: ${e.message}`);
    continue;
  }
  const Cls = DRAFTS[schema.$schema];
  if (!Cls) {
    problems.push(`${file}: $schema ${JSON.stringify(schema.$schema)} is not a draft this check knows (2020-12, 2019-09)`);
    continue;
  }
  // strict: everything Ajv can flag is an error, with two exceptions named here. Union types
  // ("type": ["string", "null"]) are how the schemas say "optional, null meaning absent".
  // strictRequired looks for a required member's definition only in the same subschema, so it
  // refuses the standard if/then idiom (members defined at the top, required by a condition).
  const ajv = new Cls({ strict: true, allowUnionTypes: true, strictRequired: false, allErrors: true });
  addFormats(ajv);
  try {
    validators[name] = ajv.compile(schema);
    broken.delete(name);
    console.log(`${file}: valid ${schema.$schema.replace(/^.*draft\//, 'draft ').replace(/\/schema$/, '')} schema (Ajv strict)`);
  } catch (e) {
    problems.push(`${file}: ${e.message}`);
  }
}

function check(name, doc, where) {
  const validate = validators[name];
  if (!validate) {
    if (broken.has(name)) return; // reported once, above
    problems.push(`${where}: no ${name} schema given to check it with`);
    return;
  }
  if (!validate(doc)) {
    for (const e of validate.errors) {
      problems.push(`${where}: not a valid ${name}: ${e.instancePath || '(top)'} ${e.message} (${e.schemaPath})`);
    }
  }
}

if (examples) {
  const text = readFileSync(examples, 'utf8');
  const section = text.split(/^## /m).find((s) => /^\d+\.\s+Example/.test(s));
  const blocks = section ? [...section.matchAll(/```json\n([\s\S]*?)```/g)].map((m) => m[1]) : [];
  if (blocks.length < 2) problems.push(`${examples}: no "Example" section with an event and a reply in json blocks`);
  blocks.forEach((b, i) => {
    let doc;
    try {
      doc = JSON.parse(b);
    } catch (e) {
      problems.push(`${examples}: example ${i + 1} is not JSON: ${e.message}`);
      return;
    }
    check(i === 0 ? 'feed-event' : 'feed-reply', doc, `${examples}: example ${i + 1}`);
  });
  console.log(`${examples}: ${blocks.length} examples checked`);
}

if (corpus) {
  const rows = readFileSync(join(corpus, 'expected.tsv'), 'utf8').split('\n')
    .filter((r) => r && !r.startsWith('#') && !r.startsWith('file\t'))
    .map((r) => r.split('\t'))
    .filter((c) => c[1] === 'accepted');
  for (const [file] of rows) {
    const line = readFileSync(join(corpus, file), 'utf8').replace(/\r?\n$/, '');
    let doc;
    try {
      doc = JSON.parse(line);
    } catch (e) {
      problems.push(`${corpus}/${file}: marked accepted but not JSON: ${e.message}`);
      continue;
    }
    check('feed-event', doc, `${corpus}/${file}`);
  }
  console.log(`${corpus}: ${rows.length} accepted lines checked`);
  if (!rows.length) problems.push(`${corpus}/expected.tsv: no line marked accepted`);
}

for (const p of problems) console.log(`FAIL ${p}`);
console.log(problems.length ? `${problems.length} problem(s)` : 'no problems');
process.exit(problems.length ? 1 : 0);
