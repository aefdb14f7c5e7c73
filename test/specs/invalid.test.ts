import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseSpecText, validateSpecObject, formatProblem } from '../../specs/index.ts';
import { ForgeError } from '../../errors/index.ts';
import { requireSpecs } from '../../specs/index.ts';
import { problemsOf } from './helpers.ts';

test('a typo, a wrong type and a bad unit are three positioned errors in one run', () => {
  const yaml = [
    'name: web',
    'image: nginx',
    'port: "80"',
    'helth:',
    '  path: /',
    'memory: 10x',
    '',
  ].join('\n');
  assert.deepEqual(problemsOf(yaml), [
    'svc.yaml:3:7 port: should be an integer',
    'svc.yaml:4:1 helth: unknown key `helth`; did you mean `health`?',
    'svc.yaml:6:9 memory: `10x` is not a memory size (use 512, 256M, 1Gi)',
  ]);
});

test('invalid specs report exact, positioned messages', () => {
  const cases: { name: string; yaml: string; problems: string[] }[] = [
    {
      name: 'bad duration',
      yaml: 'name: a\nimage: x\nhealth:\n  interval: 10x\n',
      problems: ['svc.yaml:4:13 health.interval: `10x` is not a duration (use 10s, 1500ms, 2m)'],
    },
    {
      name: 'duration given as a number',
      yaml: 'name: a\nimage: x\nhealth:\n  timeout: 3\n',
      problems: ['svc.yaml:4:12 health.timeout: `3` is not a duration (use 10s, 1500ms, 2m)'],
    },
    {
      name: 'nested unknown key with a suggestion, and a misplaced key',
      yaml: 'name: a\nrun:\n  comand: ./a\ncommands: [x]\n',
      problems: [
        'svc.yaml:3:3 run.comand: unknown key `comand`; did you mean `command`?',
        'svc.yaml:3:3 run.command: missing required key `command`: source mode needs the command that starts the service',
        'svc.yaml:4:1 commands: unknown key `commands`; did you mean `build.commands`?',
      ],
    },
    {
      name: 'unknown key far from any known one',
      yaml: 'name: a\nimage: x\nzzz: 1\n',
      problems: ['svc.yaml:3:1 zzz: unknown key `zzz`'],
    },
    {
      name: 'list item of the wrong type',
      yaml: 'name: a\nbuild:\n  commands:\n    - make\n    - 42\nrun:\n  command: ./a\n',
      problems: ['svc.yaml:5:7 build.commands[1]: should be a string'],
    },
    {
      name: 'names, env keys, secrets and domains',
      yaml: 'name: My_App\nimage: x\nenv:\n  lower: 1\n  OK: [1]\nsecrets: [A, A]\ndomains: [bad_host.com]\n',
      problems: [
        "svc.yaml:1:7 name: `My_App` is not a valid name: use lowercase letters, digits and '-', starting and ending with a letter or digit",
        'svc.yaml:4:3 env.lower: `lower` is not a valid variable name: use A-Z, 0-9 and _, not starting with a digit',
        'svc.yaml:5:7 env.OK: should be a string, a number or a boolean (true or false)',
        'svc.yaml:6:14 secrets[1]: `A` is listed twice',
        'svc.yaml:7:11 domains[0]: `bad_host.com` is not a valid host name',
      ],
    },
    {
      name: 'enum with a suggestion, tier, ranges',
      yaml: 'name: a\nimage: x\nprovider: flyy\ncpu: shared-3x\nreplicas: 101\nmemory: 128\nport: 0\n',
      problems: [
        'svc.yaml:3:11 provider: `flyy` is not one of `agent`, `fly`, `cloud`; did you mean `fly`?',
        'svc.yaml:4:6 cpu: `shared-3x` is not a cpu tier (use shared-1x, shared-2x, performance-4x, …; N is 1, 2, 4, 8 or 16)',
        'svc.yaml:5:11 replicas: should be at most 100',
        'svc.yaml:6:9 memory: `128` MB is out of range (256..8192 MB)',
        'svc.yaml:7:7 port: should be at least 1',
      ],
    },
    {
      name: 'memory out of range only after unit conversion',
      yaml: 'name: a\nimage: x\nmemory: 16Gi\n',
      problems: ['svc.yaml:3:9 memory: `16Gi` is 16384 MB, out of range (256..8192 MB)'],
    },
    {
      name: 'image and source together',
      yaml: 'name: a\nimage: x\nbuild:\n  commands: [make]\nrun:\n  command: ./a\n',
      problems: [
        'svc.yaml:3:1 build: `build` cannot be used with `image`: a service runs an image or is built from source, not both',
        'svc.yaml:5:1 run: `run` cannot be used with `image`: a service runs an image or is built from source, not both',
      ],
    },
    {
      name: 'neither image nor run',
      yaml: 'name: a\n',
      problems: ['svc.yaml:1:1: a service needs `image` (image mode) or `run.command` (source mode)'],
    },
    {
      name: 'build without run or dockerfile',
      yaml: 'name: a\nbuild: {}\n',
      problems: [
        'svc.yaml:1:1 run.command: missing required key `command`: source mode needs the command that starts the service',
        'svc.yaml:2:8 build: should have `commands`, `dockerfile` or both',
      ],
    },
    {
      name: 'alias conflicts',
      yaml: 'name: a\nimage: x\nmemory: 512\nresources:\n  memory: 1Gi\n  cpu: 1\ncpu: shared-1x\nport: 8080\n',
      problems: [
        'svc.yaml:5:11 resources.memory: `resources.memory` is 1024 MB but `memory` is 512 MB; they mean the same, give one',
        'svc.yaml:6:8 resources.cpu: `resources.cpu` (a CPU count for agents) and `cpu` (a Fly tier) cannot both be given',
      ],
    },
    {
      name: 'run.port differing from port',
      yaml: 'name: a\nrun:\n  command: ./a\n  port: 8000\nport: 8080\n',
      problems: ['svc.yaml:4:9 run.port: `run.port` is 8000 but `port` is 8080; they mean the same, give one'],
    },
    {
      name: 'zero retries; bad path (a timeout as long as the interval is fine)',
      yaml: 'name: a\nimage: x\nhealth:\n  path: health\n  interval: 5s\n  timeout: 5s\n  retries: 0\n',
      problems: [
        'svc.yaml:4:9 health.path: `health` should start with /',
        'svc.yaml:7:12 health.retries: should be at least 1',
      ],
    },
    {
      name: 'a zero timeout',
      yaml: 'name: a\nimage: x\nhealth:\n  timeout: 0s\n  retries: 3\n---\nname: b\nimage: x\nhealth:\n  timeout: 30s\n',
      problems: [
        'svc.yaml:4:12 health.timeout: should be longer than 0',
      ],
    },
    {
      name: 'a zero or unitless start-up grace',
      yaml: 'name: a\nimage: x\nhealth:\n  grace: 0s\n---\nname: b\nimage: x\nhealth:\n  grace: 90\n',
      problems: [
        'svc.yaml:4:10 health.grace: should be longer than 0',
        'svc.yaml:9:10 health.grace: `90` is not a duration (use 10s, 1500ms, 2m)',
      ],
    },
    {
      name: 'a document that is not a mapping',
      yaml: '- name: a\n',
      problems: ['svc.yaml:1:1: a service spec should be a mapping of keys (like `name: web`)'],
    },
    {
      name: 'missing name',
      yaml: 'image: x\nport: 80\n',
      problems: ['svc.yaml:1:1 name: missing required key `name`'],
    },
    {
      name: 'YAML syntax error',
      yaml: 'name: a\nimage: [x\nport: 80\n',
      problems: ['svc.yaml:3:1: YAML: Flow sequence in block collection must be sufficiently indented and end with a ]'],
    },
    {
      name: 'YAML duplicate key',
      yaml: 'name: a\nimage: x\nname: b\n',
      problems: ['svc.yaml:3:1: YAML: Map keys must be unique'],
    },
    {
      name: 'empty file',
      yaml: '# nothing here\n',
      problems: ['svc.yaml:1:1: no service spec found (the file is empty)'],
    },
    {
      name: 'duplicate names across documents',
      yaml: 'name: a\nimage: x\n---\nname: a\nimage: y\n',
      problems: ['svc.yaml:4:7 name: duplicate service name `a`: also defined at svc.yaml:1:7'],
    },
  ];
  for (const { name, yaml, problems } of cases) assert.deepEqual(problemsOf(yaml), problems, name);
});

test('env values never appear in messages', () => {
  const problems = problemsOf('name: a\nimage: x\nenv:\n  TOKEN: {value: hunter2-secret}\n');
  assert.deepEqual(problems, ['svc.yaml:4:10 env.TOKEN: should be a string, a number or a boolean (true or false)']);
});

test('objects (API bodies) get path-only problems', () => {
  const result = validateSpecObject({ name: 'a', image: 'x', helth: {}, replicas: -1 });
  assert.equal(result.ok, false);
  if (result.ok) return;
  assert.deepEqual(result.problems.map(formatProblem), [
    'helth: unknown key `helth`; did you mean `health`?',
    'replicas: should be at least 0',
  ]);
  assert.deepEqual(result.problems[0], { file: '', path: 'helth', message: 'unknown key `helth`; did you mean `health`?' });
});

test('a relative source needs a base directory; an object without one is refused', () => {
  const result = validateSpecObject({ name: 'a', source: 'web', run: { command: './a' } });
  assert.deepEqual(result.ok ? [] : result.problems.map(formatProblem), [
    'source: is a relative directory, but this spec has no base directory to resolve it against',
  ]);
  const based = validateSpecObject({ name: 'a', source: 'web', run: { command: './a' } }, { baseDir: '/repo' });
  assert.equal(based.ok && based.specs[0]?.spec.sourceDir, '/repo/web');
});

test('requireSpecs throws E_SPEC_INVALID carrying the problems', () => {
  const result = parseSpecText('name: a\nimage: x\nport: x\n', 'svc.yaml');
  assert.throws(() => requireSpecs(result), (error: unknown) => {
    assert.ok(error instanceof ForgeError);
    assert.equal(error.code, 'E_SPEC_INVALID');
    assert.equal(error.message, 'svc.yaml:3:7 port: should be an integer');
    assert.deepEqual(error.details, [{ file: 'svc.yaml', line: 3, col: 7, path: 'port', message: 'should be an integer' }]);
    return true;
  });
});

test('runtime must be one Forge knows: a positioned error with a suggestion (issue 13 item 14)', () => {
  const [cobol] = problemsOf('name: a\nimage: x\nruntime: cobol85\n');
  assert.match(cobol ?? '', /^svc\.yaml:3:10 runtime: `cobol85` is not one of `node`, `node18`, `node20`, .*`python3\.11`/);
  const [typo] = problemsOf('name: a\nimage: x\nruntime: pyhton3.11\n');
  assert.match(typo ?? '', /; did you mean `python3\.11`\?$/);
  assert.deepEqual(problemsOf('name: a\nimage: x\nruntime: node20\n'), []);
});
