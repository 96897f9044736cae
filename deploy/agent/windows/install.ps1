<#
.SYNOPSIS
Installs the mamori agent from this unpacked bundle, enrolls it, and runs it as a Windows service.

.DESCRIPTION
Silent: it asks nothing and writes its progress to a log file (-LogFile). Run it as an
administrator or as SYSTEM (Intune, a GPO startup script) from the unpacked bundle:

  powershell.exe -NoProfile -ExecutionPolicy Bypass -File install.ps1 -Server HOST:PORT -Token TOKEN

It checks the bundle against MANIFEST.sha256, copies it to -InstallDir, creates the state folder
(-StateDir) readable only by SYSTEM and Administrators, enrolls (skipped when the state folder
already holds an enrollment: a reinstall or an upgrade keeps the identity and spends no token),
compiles the service host (MamoriAgentService.cs, with the .NET Framework's C# compiler), and
registers the service "mamori-agent" running as LocalSystem, started automatically, restarted
by the recovery actions when it fails.

Exit codes: 0 installed; 1 unexpected error; 2 bad arguments; 10 not run as an administrator;
11 the bundle is incomplete or does not match its manifest; 12 copying the bundle failed;
13 enrollment failed (also: -Zone names no zone defined at the collector); 14 the service could not be created or started.

.PARAMETER Server
The collector's gRPC address, HOST:PORT.
.PARAMETER Token
An enrollment token (limited by count and expiry). Not needed when the state folder already holds an enrollment.
.PARAMETER Zone
The network zone (defined at the collector, e.g. dev-lan) this device must be in, set at enrollment;
an undefined zone fails the enrollment (exit 13). Ignored, with a line in the log, when the state
folder already holds an enrollment: the console changes an enrolled device's zone.
.PARAMETER InstallDir
Where the bundle is installed. Default: C:\Program Files\mamori-agent.
.PARAMETER StateDir
The agent's state folder (identity, private key, spool). Default: C:\ProgramData\mamori-agent\state.
.PARAMETER LogFile
The installer's log. Default: C:\ProgramData\mamori-agent\logs\install.log.
#>
[CmdletBinding()]
param(
    [string]$Server = '',
    [string]$Token = '',
    [string]$Zone = '',
    [string]$InstallDir = (Join-Path $env:ProgramFiles 'mamori-agent'),
    [string]$StateDir = (Join-Path $env:ProgramData 'mamori-agent\state'),
    [string]$LogFile = (Join-Path $env:ProgramData 'mamori-agent\logs\install.log')
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
$Bundle = $PSScriptRoot

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
    $line = '{0} install.ps1: {1}' -f (Get-Date).ToUniversalTime().ToString('o'), $Message
    Add-Content -LiteralPath $LogFile -Value $line -Encoding UTF8
    Write-Output $line
}

function Stop-Install([int]$Code, [string]$Message) {
    Write-Log "failed (exit $Code): $Message"
    exit $Code
}

# SYSTEM full control, Administrators full control, nobody else: inheritance from the parent is cut.
# Well-known SIDs, so that a Japanese (or any other language's) Windows resolves the same groups.
function Set-OwnerOnlyAcl([string]$Path) {
    $system = New-Object System.Security.Principal.SecurityIdentifier('S-1-5-18')
    $admins = New-Object System.Security.Principal.SecurityIdentifier('S-1-5-32-544')
    $inherit = [System.Security.AccessControl.InheritanceFlags]'ContainerInherit, ObjectInherit'
    $none = [System.Security.AccessControl.PropagationFlags]::None
    $allow = [System.Security.AccessControl.AccessControlType]::Allow
    $full = [System.Security.AccessControl.FileSystemRights]::FullControl
    $acl = New-Object System.Security.AccessControl.DirectorySecurity
    $acl.SetAccessRuleProtection($true, $false)
    $acl.SetOwner($admins)
    $acl.AddAccessRule((New-Object System.Security.AccessControl.FileSystemAccessRule($system, $full, $inherit, $none, $allow)))
    $acl.AddAccessRule((New-Object System.Security.AccessControl.FileSystemAccessRule($admins, $full, $inherit, $none, $allow)))
    Set-Acl -LiteralPath $Path -AclObject $acl
}

function Test-BundleManifest([string]$Dir) {
    $manifest = Join-Path $Dir 'MANIFEST.sha256'
    if (-not (Test-Path -LiteralPath $manifest)) { return 'MANIFEST.sha256 is missing' }
    foreach ($entry in Get-Content -LiteralPath $manifest -Encoding UTF8) {
        if ($entry -notmatch '^([0-9a-f]{64})  (.+)$') { continue }
        $expected = $Matches[1]
        $file = Join-Path $Dir ($Matches[2] -replace '/', '\')
        if (-not (Test-Path -LiteralPath $file)) { return "$($Matches[2]) is missing" }
        $actual = (Get-FileHash -LiteralPath $file -Algorithm SHA256).Hash.ToLowerInvariant()
        if ($actual -ne $expected) { return "$($Matches[2]) does not match its checksum" }
    }
    return $null
}

try {
    New-Item -ItemType Directory -Force -Path (Split-Path -Parent $LogFile) | Out-Null
    Write-Log "installing from $Bundle into $InstallDir (state $StateDir)"

    $principal = New-Object Security.Principal.WindowsPrincipal([Security.Principal.WindowsIdentity]::GetCurrent())
    if (-not $principal.IsInRole([Security.Principal.WindowsBuiltInRole]::Administrator)) {
        Stop-Install 10 'run as an administrator or as SYSTEM'
    }
    if ($Server -ne '' -and $Server -notmatch '^([^\s:]+|\[[0-9A-Fa-f:]+\]):[0-9]{1,5}$') {
        Stop-Install 2 "-Server must be HOST:PORT, got '$Server'"
    }

    foreach ($part in @('node\node.exe', 'app\main.js', 'VERSION', 'MamoriAgentService.cs')) {
        if (-not (Test-Path -LiteralPath (Join-Path $Bundle $part))) { Stop-Install 11 "$Bundle is not an unpacked mamori-agent bundle ($part is missing)" }
    }
    $problem = Test-BundleManifest $Bundle
    if ($null -ne $problem) { Stop-Install 11 "the bundle does not match its manifest: $problem; unpack it again" }
    $version = (Get-Content -LiteralPath (Join-Path $Bundle 'VERSION') -TotalCount 1).Trim()

    $alreadyEnrolled = Test-Path -LiteralPath (Join-Path $StateDir 'agent.json')
    if (-not $alreadyEnrolled -and ($Server -eq '' -or $Token -eq '')) {
        Stop-Install 2 '-Server HOST:PORT and -Token TOKEN are required (this machine is not enrolled yet)'
    }

    # 1. Stop a running agent (reinstall or upgrade), then copy the bundle.
    $existing = Get-Service -Name $ServiceName -ErrorAction SilentlyContinue
    if ($null -ne $existing -and $existing.Status -ne 'Stopped') {
        Write-Log "stopping the running $ServiceName service"
        Stop-Service -Name $ServiceName -Force
        $existing.WaitForStatus('Stopped', [TimeSpan]::FromSeconds(30))
    }
    try {
        if ((Resolve-Path -LiteralPath $Bundle).Path.TrimEnd('\') -ne [IO.Path]::GetFullPath($InstallDir).TrimEnd('\')) {
            if (Test-Path -LiteralPath $InstallDir) { Remove-Item -LiteralPath $InstallDir -Recurse -Force }
            New-Item -ItemType Directory -Force -Path $InstallDir | Out-Null
            Copy-Item -Path (Join-Path $Bundle '*') -Destination $InstallDir -Recurse -Force
        }
        $problem = Test-BundleManifest $InstallDir
        if ($null -ne $problem) { throw "the installed copy does not match the manifest: $problem" }
    } catch {
        Stop-Install 12 "copying the bundle to $InstallDir failed: $($_.Exception.Message)"
    }
    Write-Log "mamori-agent $version copied to $InstallDir"

    # 2. The state folder, for SYSTEM and Administrators only; the logs beside it likewise.
    $dataDir = Split-Path -Parent $StateDir
    New-Item -ItemType Directory -Force -Path $StateDir | Out-Null
    Set-OwnerOnlyAcl $StateDir
    $logDir = Join-Path $dataDir 'logs'
    New-Item -ItemType Directory -Force -Path $logDir | Out-Null
    Set-OwnerOnlyAcl $logDir

    # 3. Enrollment.
    $node = Join-Path $InstallDir 'node\node.exe'
    $main = Join-Path $InstallDir 'app\main.js'
    if ($alreadyEnrolled) {
        Write-Log "$StateDir already holds an enrollment; keeping it"
        if ($Zone -ne '') { Write-Log "-Zone $Zone ignored: this machine is already enrolled; change the zone an enrolled device must be in from the console (device details)" }
    } else {
        Write-Log "enrolling with $Server"
        # The token goes to the agent only, never to the log.
        $enrollArguments = @($main, 'enroll', '--server', $Server, '--token', $Token, '--state-dir', $StateDir)
        if ($Zone -ne '') { $enrollArguments += @('--zone', $Zone) }
        $enroll = Invoke-Native $node $enrollArguments
        foreach ($line in $enroll.Output) { Write-Log "enroll: $line" }
        if ($enroll.ExitCode -ne 0) { Stop-Install 13 "mamori-agent enroll exited $($enroll.ExitCode); the files stay installed, run install.ps1 again" }
    }

    # 4. The service host and the service.
    try {
        $csc = Join-Path $env:WINDIR 'Microsoft.NET\Framework64\v4.0.30319\csc.exe'
        if (-not (Test-Path -LiteralPath $csc)) { $csc = Join-Path $env:WINDIR 'Microsoft.NET\Framework\v4.0.30319\csc.exe' }
        if (-not (Test-Path -LiteralPath $csc)) { throw 'the .NET Framework 4 C# compiler (csc.exe) is missing' }
        $hostExe = Join-Path $InstallDir 'bin\mamori-agent-service.exe'
        $compiled = Invoke-Native $csc @('/nologo', '/optimize+', '/target:exe', "/out:$hostExe", '/reference:System.ServiceProcess.dll', (Join-Path $InstallDir 'MamoriAgentService.cs'))
        if ($compiled.ExitCode -ne 0) { throw "csc.exe exited $($compiled.ExitCode): $($compiled.Output -join ' ')" }

        $binaryPath = '"{0}" --state-dir "{1}" --log-dir "{2}"' -f $hostExe, $StateDir, $logDir
        if ($null -eq (Get-Service -Name $ServiceName -ErrorAction SilentlyContinue)) {
            New-Service -Name $ServiceName -BinaryPathName $binaryPath -DisplayName 'mamori agent' `
                -Description 'mamori endpoint data-loss-prevention agent' -StartupType Automatic | Out-Null
            Write-Log "service $ServiceName created"
        } else {
            & sc.exe config $ServiceName binPath= $binaryPath start= auto obj= LocalSystem | Out-Null
            if ($LASTEXITCODE -ne 0) { throw "sc.exe config exited $LASTEXITCODE" }
        }
        # Restart after 5 s, 5 s, then 60 s; the failure count resets after a day. failureflag 1
        # also counts a stop with a non-zero exit code as a failure.
        & sc.exe failure $ServiceName reset= 86400 actions= restart/5000/restart/5000/restart/60000 | Out-Null
        if ($LASTEXITCODE -ne 0) { throw "sc.exe failure exited $LASTEXITCODE" }
        & sc.exe failureflag $ServiceName 1 | Out-Null
        Start-Service -Name $ServiceName
        (Get-Service -Name $ServiceName).WaitForStatus('Running', [TimeSpan]::FromSeconds(30))
    } catch {
        Stop-Install 14 "the service could not be set up: $($_.Exception.Message)"
    }
    Write-Log "mamori-agent $version installed and running (service $ServiceName)"
    exit 0
} catch {
    try { Write-Log "failed (exit 1): $($_.Exception.Message)" } catch { }
    exit 1
}
