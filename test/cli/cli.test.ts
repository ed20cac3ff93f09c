import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ROOT, tempWorkspace } from '../support/files';

const CLI = join(ROOT, 'dist/cli.js');

function mlpipe(args: string[], cwd = ROOT) {
  const result = spawnSync(process.execPath, [CLI, ...args], { cwd, encoding: 'utf8' });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe('mlpipe check', () => {
  it('finds nothing wrong with the sample workspace', () => {
    const result = mlpipe(['check', 'sample-workspace']);
    assert.equal(result.stdout, '');
    assert.match(result.stderr, /^3 files checked: 0 errors, 0 warnings$/m);
    assert.equal(result.status, 0);
  });

  it('prints file:line:col: severity: message [code] and exits 1 on errors', () => {
    const result = mlpipe(['check', 'test/fixtures/broken/stages']);
    assert.equal(result.status, 1);
    const lines = result.stdout.trim().split('\n');
    assert.ok(lines.length >= 5);
    for (const line of lines)
      assert.match(
        line,
        /^test\/fixtures\/broken\/stages\/mlpipe\.yaml:\d+:\d+: (error|warning|information): .+ \[[a-z-]+\]$/,
      );
    assert.ok(
      lines.includes(
        "test/fixtures/broken/stages/mlpipe.yaml:9:13: error: Unknown stage 'prepar' in needs of stage 'train'; did you mean 'prepare'? [unknown-stage]",
      ),
    );
  });

  it('exits 0 on warnings alone, and 1 with --strict', () => {
    assert.equal(mlpipe(['check', 'test/fixtures/broken/undeclared']).status, 0);
    assert.equal(mlpipe(['check', '--strict', 'test/fixtures/broken/undeclared']).status, 1);
  });

  it('writes SARIF 2.1.0 that code scanning accepts', () => {
    const result = mlpipe(['check', 'test/fixtures/broken/hosts', '--format', 'sarif']);
    const sarif = JSON.parse(result.stdout);
    assert.equal(sarif.version, '2.1.0');
    const run = sarif.runs[0];
    assert.equal(run.tool.driver.name, 'mlpipe');
    assert.ok(run.results.length >= 4);
    for (const finding of run.results) {
      assert.ok(['error', 'warning', 'note'].includes(finding.level));
      assert.equal(run.tool.driver.rules[finding.ruleIndex].id, finding.ruleId);
      const region = finding.locations[0].physicalLocation.region;
      assert.ok(region.startLine >= 1 && region.startColumn >= 1);
      assert.equal(
        finding.locations[0].physicalLocation.artifactLocation.uri,
        'test/fixtures/broken/hosts/mlpipe.yaml',
      );
    }
  });

  it('writes GitHub workflow annotations, escaping what GitHub requires', () => {
    const { dir, cleanup } = tempWorkspace({
      'mlpipe.yaml': 'version: 1\ndefaults: { image: img }\nstages:\n  a:\n    cmd: x\n    needs: [b, "c,d:e"]\n',
    });
    try {
      const result = mlpipe(['check', '.', '--format', 'github'], dir);
      assert.equal(result.status, 1);
      const lines = result.stdout.trim().split('\n');
      assert.equal(lines.length, 2);
      assert.match(
        lines[0],
        /^::error file=mlpipe\.yaml,line=6,col=13,endLine=6,endColumn=14,title=mlpipe unknown-stage::Unknown stage 'b'/,
      );
      // In the message (after `::`) only %, CR and LF are escaped; commas and colons stay.
      assert.match(lines[1], /::Unknown stage 'c,d:e'/);
    } finally {
      cleanup();
    }
  });

  it('answers usage mistakes and missing files with exit 2 and a message, never a stack trace', () => {
    for (const args of [
      ['check', '--format', 'xml'],
      ['check', 'no/such/path'],
      ['frobnicate'],
      ['check', '--bogus'],
      [],
    ]) {
      const result = mlpipe(args);
      assert.equal(result.status, 2, args.join(' '));
      assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace');
    }
    assert.match(mlpipe(['check', 'no/such/path']).stderr, /no such file or directory/);
  });

  it('refuses a YAML file it cannot classify and checks one whose keys say what it is', () => {
    const { dir, cleanup } = tempWorkspace({
      'random.yaml': 'a: 1\n',
      'custom.yaml': 'version: 1\nstages:\n  a:\n    cmd: x\n',
    });
    try {
      assert.equal(mlpipe(['check', 'random.yaml'], dir).status, 2);
      const custom = mlpipe(['check', 'custom.yaml'], dir);
      assert.match(custom.stdout, /custom\.yaml:3:3: error: Stage 'a' has no image/);
    } finally {
      cleanup();
    }
  });

  it('prints its version and help', () => {
    assert.match(mlpipe(['--version']).stdout, /^\d+\.\d+\.\d+/);
    const help = mlpipe(['--help']);
    assert.equal(help.status, 0);
    assert.match(help.stdout, /check \[paths\.\.\.\]/);
  });
});
