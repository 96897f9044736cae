<#
.SYNOPSIS
Group Policy computer startup script: runs install.ps1 from this folder only when this machine
does not have this bundle's version installed, enrolled and registered as a service.

.DESCRIPTION
Put the unpacked bundle on a share that Domain Computers can read and name this script as a
PowerShell startup script with the parameters -Server HOST:PORT -Token TOKEN. It runs as SYSTEM
at every boot; a machine that is up to date is left alone in well under a second, so the token
is used once per machine. Exit codes: those of install.ps1, or 0 when nothing had to be done.

.PARAMETER Server
The collector's gRPC address, HOST:PORT (passed to install.ps1).
.PARAMETER Token
An enrollment token limited by count and expiry (passed to install.ps1).
.PARAMETER Zone
The network zone (defined at the collector) the machine must be in, set at its enrollment (passed to install.ps1).
.PARAMETER InstallDir
As for install.ps1. Default: C:\Program Files\mamori-agent.
.PARAMETER StateDir
As for install.ps1. Default: C:\ProgramData\mamori-agent\state.
#>
[CmdletBinding()]
param(
    [string]$Server = '',
    [string]$Token = '',
    [string]$Zone = '',
    [string]$InstallDir = (Join-Path $env:ProgramFiles 'mamori-agent'),
    [string]$StateDir = (Join-Path $env:ProgramData 'mamori-agent\state')
)

$ErrorActionPreference = 'Stop'
$wanted = (Get-Content -LiteralPath (Join-Path $PSScriptRoot 'VERSION') -TotalCount 1).Trim()
$installedFile = Join-Path $InstallDir 'VERSION'
$installed = if (Test-Path -LiteralPath $installedFile) { (Get-Content -LiteralPath $installedFile -TotalCount 1).Trim() } else { '' }
$service = Get-Service -Name 'mamori-agent' -ErrorAction SilentlyContinue
$enrolled = Test-Path -LiteralPath (Join-Path $StateDir 'agent.json')

if ($installed -eq $wanted -and $null -ne $service -and $enrolled) {
    # Up to date. A stopped service is started again (its recovery actions cover crashes only).
    if ($service.Status -ne 'Running') { Start-Service -Name 'mamori-agent' }
    exit 0
}
& (Join-Path $PSScriptRoot 'install.ps1') -Server $Server -Token $Token -Zone $Zone -InstallDir $InstallDir -StateDir $StateDir
exit $LASTEXITCODE
