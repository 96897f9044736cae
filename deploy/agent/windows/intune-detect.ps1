<#
.SYNOPSIS
Intune Win32 app detection script: the agent counts as installed when its service exists, the
machine is enrolled, and the installed version is the one this script names.

.DESCRIPTION
Intune takes an app as detected when the script exits 0 and writes something to standard
output. Set $Version below to the bundle's VERSION before uploading the script with the app.
#>
$Version = '0.1.0'
$installDir = Join-Path $env:ProgramFiles 'mamori-agent'
$stateDir = Join-Path $env:ProgramData 'mamori-agent\state'
$versionFile = Join-Path $installDir 'VERSION'
if ($null -eq (Get-Service -Name 'mamori-agent' -ErrorAction SilentlyContinue)) { exit 1 }
if (-not (Test-Path -LiteralPath (Join-Path $stateDir 'agent.json'))) { exit 1 }
if (-not (Test-Path -LiteralPath $versionFile)) { exit 1 }
if ((Get-Content -LiteralPath $versionFile -TotalCount 1).Trim() -ne $Version) { exit 1 }
Write-Output "mamori-agent $Version installed and enrolled"
exit 0
