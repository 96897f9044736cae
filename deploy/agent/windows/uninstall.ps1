<#
.SYNOPSIS
Removes the mamori agent, but only with the uninstall code the collector issued for this device.

.DESCRIPTION
Silent; run as an administrator or SYSTEM:

  powershell.exe -NoProfile -ExecutionPolicy Bypass -File "C:\Program Files\mamori-agent\uninstall.ps1" -Code CODE

The code is presented to the collector first (mamori-agent uninstall --code); the collector
records the attempt whatever its outcome. A refused code removes nothing. An accepted one revokes
the agent at the collector; then the service is stopped and deleted, and the install folder and
the state folder (its key and spool belong to the revoked identity) are removed. -KeepState keeps
the state folder. The script copies itself to a temporary folder first, so that it can remove
the install folder it was started from.

Exit codes: 0 removed; 1 unexpected error; 2 bad arguments; 3 this machine is not enrolled
(nothing removed); 10 not run as an administrator; 20 the collector refused the code or could
not be reached (nothing removed); 21 the service could not be removed; 22 files could not be removed.

.PARAMETER Code
The uninstall code the collector issued for this device (POST /api/v1/agents/ID/uninstall-code).
.PARAMETER InstallDir
Where the agent is installed. Default: C:\Program Files\mamori-agent.
.PARAMETER StateDir
The agent's state folder. Default: C:\ProgramData\mamori-agent\state.
.PARAMETER LogFile
The uninstaller's log. Default: C:\ProgramData\mamori-agent-uninstall.log (kept after the removal).
.PARAMETER KeepState
Keep the state folder.
#>
[CmdletBinding()]
param(
    [string]$Code = '',
    [string]$InstallDir = (Join-Path $env:ProgramFiles 'mamori-agent'),
    [string]$StateDir = (Join-Path $env:ProgramData 'mamori-agent\state'),
    [string]$LogFile = (Join-Path $env:ProgramData 'mamori-agent-uninstall.log'),
    [switch]$KeepState
)

# Intune's management extension starts installers with the 32-bit PowerShell on 64-bit Windows,
# where Program Files means "Program Files (x86)" and System32 is redirected: start again as a
# 64-bit process with the parameters given (the defaults are worked out again there).
if ($env:PROCESSOR_ARCHITEW6432 -eq 'AMD64' -and -not [Environment]::Is64BitProcess) {
    $arguments = @('-NoProfile', '-ExecutionPolicy', 'Bypass', '-File', $PSCommandPath)
    foreach ($entry in $PSBoundParameters.GetEnumerator()) {
        if ($entry.Value -is [System.Management.Automation.SwitchParameter]) {
            if ($entry.Value.IsPresent) { $arguments += "-$($entry.Key)" }
        } else {
            $arguments += @("-$($entry.Key)", [string]$entry.Value)
        }
    }
    & (Join-Path $env:WINDIR 'sysnative\WindowsPowerShell\v1.0\powershell.exe') @arguments
    exit $LASTEXITCODE
}

Set-StrictMode -Version 3
$ErrorActionPreference = 'Stop'
$ServiceName = 'mamori-agent'

# Runs a program and returns its exit code and output lines. Windows PowerShell 5.1 turns a
# native program's stderr into errors when it is redirected, which 'Stop' would make fatal.
function Invoke-Native([string]$FilePath, [string[]]$Arguments) {
    $previous = $ErrorActionPreference
    $ErrorActionPreference = 'Continue'
    try {
        $lines = @(& $FilePath @Arguments 2>&1 | ForEach-Object { "$_" })
        return New-Object PSObject -Property @{ ExitCode = $LASTEXITCODE; Output = $lines }
    } finally {
        $ErrorActionPreference = $previous
    }
}

function Write-Log([string]$Message) {
    $line = '{0} uninstall.ps1: {1}' -f (Get-Date).ToUniversalTime().ToString('o'), $Message
    Add-Content -LiteralPath $LogFile -Value $line -Encoding UTF8
    Write-Output $line
}

function Stop-Uninstall([int]$ExitCode, [string]$Message) {
    Write-Log "failed (exit $ExitCode): $Message"
    exit $ExitCode
}

try {
    if ($Code -eq '') { Write-Output 'uninstall.ps1: -Code CODE is required (IT issues one per device)'; exit 2 }
    $principal = New-Object Security.Principal.WindowsPrincipal([Security.Principal.WindowsIdentity]::GetCurrent())
    if (-not $principal.IsInRole([Security.Principal.WindowsBuiltInRole]::Administrator)) {
        Write-Output 'uninstall.ps1: run as an administrator or as SYSTEM'
        exit 10
    }
    $installRoot = [IO.Path]::GetFullPath($InstallDir).TrimEnd('\')

    # Run from a copy outside the install folder, which is removed below.
    if ([IO.Path]::GetFullPath($PSCommandPath).StartsWith($installRoot + '\', [StringComparison]::OrdinalIgnoreCase)) {
        $copy = Join-Path ([IO.Path]::GetTempPath()) ('mamori-agent-uninstall-{0}.ps1' -f [Guid]::NewGuid().ToString('N'))
        Copy-Item -LiteralPath $PSCommandPath -Destination $copy
        $arguments = @('-NoProfile', '-ExecutionPolicy', 'Bypass', '-File', $copy, '-Code', $Code, '-InstallDir', $InstallDir, '-StateDir', $StateDir, '-LogFile', $LogFile)
        if ($KeepState) { $arguments += '-KeepState' }
        & (Join-Path $PSHOME 'powershell.exe') @arguments
        $copyExit = $LASTEXITCODE
        Remove-Item -LiteralPath $copy -Force -ErrorAction SilentlyContinue
        exit $copyExit
    }

    Write-Log "uninstalling from $InstallDir (state $StateDir)"
    $node = Join-Path $InstallDir 'node\node.exe'
    $main = Join-Path $InstallDir 'app\main.js'
    if (-not (Test-Path -LiteralPath $node) -or -not (Test-Path -LiteralPath $main)) { Stop-Uninstall 2 "no agent is installed in $InstallDir" }

    # 1. The collector decides. Nothing is removed unless it accepted the code.
    $answer = Invoke-Native $node @($main, 'uninstall', '--code', $Code, '--state-dir', $StateDir)
    $verdict = $answer.ExitCode
    foreach ($line in $answer.Output) { Write-Log "mamori-agent: $line" }
    if ($verdict -eq 3) { Stop-Uninstall 3 "this machine is not enrolled in $StateDir; nothing was removed" }
    if ($verdict -ne 0) { Stop-Uninstall 20 'the collector did not accept the uninstall code; nothing was removed' }

    # 2. Stop and delete the service.
    try {
        $service = Get-Service -Name $ServiceName -ErrorAction SilentlyContinue
        if ($null -ne $service) {
            # A stop through the SCM is not a failure: the recovery actions do not start it again.
            if ($service.Status -ne 'Stopped') {
                Stop-Service -Name $ServiceName -Force
                $service.WaitForStatus('Stopped', [TimeSpan]::FromSeconds(30))
            }
            & sc.exe delete $ServiceName | Out-Null
            if ($LASTEXITCODE -ne 0) { throw "sc.exe delete exited $LASTEXITCODE" }
            Write-Log "service $ServiceName removed"
        }
    } catch {
        Stop-Uninstall 21 "the service could not be removed: $($_.Exception.Message)"
    }

    # 3. The files.
    try {
        Remove-Item -LiteralPath $InstallDir -Recurse -Force
        if (-not $KeepState) {
            $dataDir = Split-Path -Parent $StateDir
            Remove-Item -LiteralPath $StateDir -Recurse -Force
            $logDir = Join-Path $dataDir 'logs'
            if (Test-Path -LiteralPath $logDir) { Remove-Item -LiteralPath $logDir -Recurse -Force }
            if ((Test-Path -LiteralPath $dataDir) -and -not (Get-ChildItem -LiteralPath $dataDir -Force)) { Remove-Item -LiteralPath $dataDir -Force }
        }
    } catch {
        Stop-Uninstall 22 "files could not be removed: $($_.Exception.Message)"
    }
    Write-Log ('mamori-agent removed' + $(if ($KeepState) { "; state folder $StateDir kept" } else { '' }))
    exit 0
} catch {
    try { Write-Log "failed (exit 1): $($_.Exception.Message)" } catch { }
    exit 1
}
