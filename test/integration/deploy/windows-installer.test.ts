import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Language, Parser, type Node } from 'web-tree-sitter';
import { skipOrFail } from '../../support/prerequisites';
import { REPO_ROOT } from '../../support/processes';
import { makeTempDir } from '../../support/temp-dir';

// deploy/agent/windows: the PowerShell installer and the C# service host. There is no PowerShell
// and no Windows here: the scripts are parsed with the tree-sitter PowerShell grammar (WebAssembly,
// from the npm registry), the service host is compiled with Mono's C# compiler at the C# level
// of the .NET Framework 4 compiler that install.ps1 uses, and the documentation is held to the
// scripts' param() blocks and exit codes. Nothing here has run on Windows.
const WINDOWS_DIR = join(REPO_ROOT, 'deploy', 'agent', 'windows');
const SCRIPTS = readdirSync(WINDOWS_DIR).filter((file) => file.endsWith('.ps1')).sort();

let parser: Parser | undefined;
async function powershellParser(): Promise<Parser> {
  if (parser === undefined) {
    await Parser.init();
    const language = await Language.load(join(REPO_ROOT, 'node_modules', 'tree-sitter-powershell', 'tree-sitter-powershell.wasm'));
    parser = new Parser();
    parser.setLanguage(language);
  }
  return parser;
}

/** Every ERROR or MISSING node, as "line:column text". */
function syntaxErrors(root: Node): string[] {
  const errors: string[] = [];
  const visit = (node: Node) => {
    if (node.isError || node.isMissing) {
      errors.push(`${node.startPosition.row + 1}:${node.startPosition.column + 1} ${node.isMissing ? 'missing ' : ''}${node.text.slice(0, 60)}`);
    }
    if (node.hasError) for (const child of node.children) if (child) visit(child);
  };
  visit(root);
  return errors;
}

async function parse(source: string) {
  const tree = (await powershellParser()).parse(source);
  assert.ok(tree, 'the parser returned no tree');
  return tree;
}

/** The names declared in the script's top-level param() block, from the parse tree ([] without one). */
function paramNames(root: Node): string[] {
  const block = root.children.find((child) => child?.type === 'param_block');
  if (!block) return [];
  return block.descendantsOfType('script_parameter').map((parameter) => {
    const variable = parameter!.descendantsOfType('variable')[0];
    assert.ok(variable, `a parameter without a variable: ${parameter!.text}`);
    return variable!.text.replace(/^\$/, '');
  });
}

test('the PowerShell scripts parse without a syntax error', async (t) => {
  assert.deepEqual(SCRIPTS, ['gpo-startup.ps1', 'install.ps1', 'intune-detect.ps1', 'uninstall.ps1']);
  for (const script of SCRIPTS) {
    const source = readFileSync(join(WINDOWS_DIR, script), 'utf8');
    const started = Date.now();
    const tree = await parse(source);
    assert.deepEqual(syntaxErrors(tree.rootNode), [], `${script} has syntax errors`);
    t.diagnostic(`${script}: ${source.split('\n').length} lines parsed in ${Date.now() - started} ms`);
  }
});

test('the parser finds a syntax error in a broken copy (so the check above can fail)', async () => {
  const source = readFileSync(join(WINDOWS_DIR, 'install.ps1'), 'utf8');
  for (const broken of [source.replace('$ErrorActionPreference = ', '$ErrorActionPreference = = ('), source.replace(/\}\s*$/, '')]) {
    assert.notDeepEqual(syntaxErrors((await parse(broken)).rootNode), []);
  }
});

test('the parameters in the README are the parameters of the scripts, and each has help', async () => {
  const readme = readFileSync(join(WINDOWS_DIR, 'README.md'), 'utf8');
  const uninstallSection = readme.slice(readme.indexOf('## Uninstall'));
  const uninstallDocumented = [...uninstallSection.matchAll(/^\| `-(\w+)/gm)].map((match) => match[1]);
  const uninstallDeclared = paramNames((await parse(readFileSync(join(WINDOWS_DIR, 'uninstall.ps1'), 'utf8'))).rootNode);
  assert.deepEqual([...uninstallDocumented].sort(), [...uninstallDeclared].sort());
  const installSection = readme.slice(readme.indexOf('## install.ps1 parameters'), readme.indexOf('### install.ps1 exit codes'));
  const documented = [...installSection.matchAll(/^\| `-(\w+)/gm)].map((match) => match[1]);
  const source = readFileSync(join(WINDOWS_DIR, 'install.ps1'), 'utf8');
  const declared = paramNames((await parse(source)).rootNode);
  assert.ok(declared.length >= 4, `install.ps1 declares ${declared.join(', ')}`);
  assert.deepEqual([...documented].sort(), [...declared].sort());
  for (const script of SCRIPTS) {
    const text = readFileSync(join(WINDOWS_DIR, script), 'utf8');
    for (const name of paramNames((await parse(text)).rootNode)) {
      assert.match(text, new RegExp(`\\.PARAMETER ${name}\\n`), `${script}: -${name} has no .PARAMETER help`);
      assert.match(readme, new RegExp(`-${name}\\b`), `${script}: -${name} is not in the README`);
    }
  }
});

test('the exit codes install.ps1 and uninstall.ps1 use are the ones their help and the README list', () => {
  const readme = readFileSync(join(WINDOWS_DIR, 'README.md'), 'utf8');
  const installTable = readme.slice(readme.indexOf('### install.ps1 exit codes'), readme.indexOf('## Intune'));
  const uninstallText = readme.slice(readme.indexOf('## Uninstall'));
  const documented = {
    'install.ps1': new Set([...installTable.matchAll(/^\| (\d+) \|/gm)].map((match) => match[1])),
    'uninstall.ps1': new Set([...(/Exit codes: ([^]*)$/.exec(uninstallText)?.[1] ?? '').matchAll(/(\d+) [a-z]/g)].map((match) => match[1])),
  };
  for (const [script, inReadme] of Object.entries(documented)) {
    const source = readFileSync(join(WINDOWS_DIR, script), 'utf8');
    const used = new Set([...source.matchAll(/Stop-(?:Install|Uninstall) (\d+) /g), ...source.matchAll(/\bexit (\d+)\b/g)].map((match) => match[1]));
    const helpLine = /Exit codes: ([^\n]+(?:\n[^\n.][^\n]*)*)/.exec(source)?.[1] ?? '';
    const inHelp = new Set([...helpLine.matchAll(/(\d+) [a-z]/g)].map((match) => match[1]));
    assert.ok(used.size >= 5, `${script}: found only exit codes ${[...used]}`);
    assert.deepEqual([...used].sort(), [...inHelp].sort(), `${script}: exit codes used vs .DESCRIPTION`);
    assert.deepEqual([...used].sort(), [...inReadme].sort(), `${script}: exit codes used vs README`);
  }
});

test('the service host compiles at the C# level of the .NET Framework 4 compiler', (t) => {
  if (spawnSync('mcs', ['--version'], { stdio: 'ignore' }).status !== 0) {
    return skipOrFail(t, "Mono's C# compiler mcs is not installed (Debian packages mono-mcs, libmono-system-serviceprocess4.0-cil)");
  }
  const out = makeTempDir('mamori-service-host-');
  t.after(() => out.cleanup());
  const exe = join(out.path, 'mamori-agent-service.exe');
  // The same options install.ps1 gives csc.exe; C# 5 is what that compiler understands.
  const compile = spawnSync('mcs', ['-langversion:5', '-nologo', '-optimize+', '-target:exe', `-out:${exe}`, '-reference:System.ServiceProcess.dll', join(WINDOWS_DIR, 'MamoriAgentService.cs')], { encoding: 'utf8' });
  assert.equal(compile.status, 0, `${compile.stdout}${compile.stderr}`);
  assert.ok(existsSync(exe));
  // Its usage check runs anywhere (the service part needs Windows's SCM).
  if (spawnSync('mono', ['--version'], { stdio: 'ignore' }).status === 0) {
    const usage = spawnSync('mono', [exe], { encoding: 'utf8' });
    assert.equal(usage.status, 2);
    assert.match(usage.stderr, /usage: mamori-agent-service\.exe --state-dir DIR/);
  }
  const installer = readFileSync(join(WINDOWS_DIR, 'install.ps1'), 'utf8');
  assert.match(installer, /\/reference:System\.ServiceProcess\.dll/);
  assert.match(installer, /'"\{0\}" --state-dir "\{1\}" --log-dir "\{2\}"'/, 'the service command line install.ps1 registers');
});

test('the installer sets recovery actions, a LocalSystem service and an ACL for SYSTEM and Administrators only', () => {
  const installer = readFileSync(join(WINDOWS_DIR, 'install.ps1'), 'utf8');
  assert.match(installer, /sc\.exe failure \$ServiceName reset= \d+ actions= restart\/\d+/);
  assert.match(installer, /sc\.exe failureflag \$ServiceName 1/);
  assert.match(installer, /New-Service -Name \$ServiceName .*-StartupType Automatic/s);
  assert.match(installer, /SetAccessRuleProtection\(\$true, \$false\)/);
  const sids = [...installer.matchAll(/SecurityIdentifier\('([^']+)'\)/g)].map((match) => match[1]);
  assert.deepEqual(sids.sort(), ['S-1-5-18', 'S-1-5-32-544']);
});

test('gpo-startup.ps1 passes install.ps1 only parameters it declares, and intune-detect.ps1 names the version it ships with', async () => {
  const installParams = paramNames((await parse(readFileSync(join(WINDOWS_DIR, 'install.ps1'), 'utf8'))).rootNode);
  const gpo = readFileSync(join(WINDOWS_DIR, 'gpo-startup.ps1'), 'utf8');
  const call = /& \(Join-Path \$PSScriptRoot 'install\.ps1'\)([^\n]+)/.exec(gpo)?.[1];
  assert.ok(call, 'gpo-startup.ps1 does not call install.ps1');
  const passed = [...call.matchAll(/ -(\w+) \$(\w+)/g)];
  assert.ok(passed.length >= 2);
  for (const [, name, variable] of passed) {
    assert.ok(installParams.includes(name!), `install.ps1 has no -${name}`);
    assert.equal(variable, name, `-${name} is given $${variable}`);
  }
  const version = (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
  assert.match(readFileSync(join(WINDOWS_DIR, 'intune-detect.ps1'), 'utf8'), new RegExp(`^\\$Version = '${version.replace(/\./g, '\\.')}'$`, 'm'));
});

test('install.ps1 hands -Zone to mamori-agent enroll as --zone on a first enrollment, and logs it as ignored on an enrolled machine', () => {
  const source = readFileSync(join(WINDOWS_DIR, 'install.ps1'), 'utf8');
  const enrolled = /if \(\$alreadyEnrolled\) \{([^]*?)\} else \{([^]*?)Invoke-Native \$node \$enrollArguments/.exec(source);
  assert.ok(enrolled, 'the enrollment step is not where the test expects it');
  assert.match(enrolled[1]!, /if \(\$Zone -ne ''\) \{ Write-Log "-Zone \$Zone ignored: this machine is already enrolled/);
  assert.match(enrolled[2]!, /\$enrollArguments = @\(\$main, 'enroll', '--server', \$Server, '--token', \$Token, '--state-dir', \$StateDir\)/);
  assert.match(enrolled[2]!, /if \(\$Zone -ne ''\) \{ \$enrollArguments \+= @\('--zone', \$Zone\) \}/);
});

test('install.ps1 and uninstall.ps1 restart as 64-bit under Intune and never redirect a program\'s stderr under ErrorActionPreference Stop', () => {
  for (const script of ['install.ps1', 'uninstall.ps1']) {
    const source = readFileSync(join(WINDOWS_DIR, script), 'utf8');
    assert.match(source, /PROCESSOR_ARCHITEW6432 -eq 'AMD64' -and -not \[Environment\]::Is64BitProcess/, `${script}: no 64-bit restart`);
    assert.match(source, /sysnative\\WindowsPowerShell\\v1\.0\\powershell\.exe/);
    // Windows PowerShell 5.1 raises a terminating error for a redirected stderr line under 'Stop':
    // the only redirection is inside Invoke-Native, which switches to 'Continue'.
    const redirections = [...source.matchAll(/2>&1/g)].length;
    assert.equal(redirections, 1, `${script}: ${redirections} stderr redirections`);
    assert.match(source, /\$ErrorActionPreference = 'Continue'\n\s+try \{\n\s+\$lines = @\(& \$FilePath @Arguments 2>&1/);
  }
});
