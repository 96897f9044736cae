#!/bin/sh
# mamori-agent boot script: what the service manager starts (install.sh copies it to
# <prefix>/boot/mamori-agent-boot, outside every release). It decides about a version on trial
# BEFORE running it, because a broken new version may crash before any of its own code runs:
#
#   <prefix>/upgrade/trial         written by the agent that installed a new release, just before it
#                                  pointed <prefix>/current at it: FROM, TO (release folder names),
#                                  TO_VERSION, STARTED (epoch seconds), DEADLINE (seconds). The new version removes it once
#                                  it has reached the collector (the upgrade is then confirmed).
#   <prefix>/upgrade/trial.starts  one line per start of the version on trial (written here).
#   <prefix>/upgrade/rolled-back   written here after a rollback: FAILED, FAILED_VERSION, RESTORED,
#                                  REASON, AT; the restored version reports it to the collector and
#                                  does not try FAILED_VERSION again until the target changes.
#
# On each start with a trial standing: after MAMORI_AGENT_TRIAL_STARTS (default 3) starts of the
# new version that did not confirm, or once the trial is older than its DEADLINE (else
# MAMORI_AGENT_TRIAL_SECONDS, default 900), `current` is pointed back at FROM with one rename. Then the agent in `current`
# runs with this script's arguments (exec: the service manager sees the agent's own exit code).
set -u

self=$(readlink -f -- "$0" 2>/dev/null || printf '%s' "$0")
prefix=$(CDPATH='' cd -- "$(dirname -- "$self")/.." && pwd -P) || exit 1
records="$prefix/upgrade"
trial="$records/trial"
max_starts=${MAMORI_AGENT_TRIAL_STARTS:-3}
deadline=${MAMORI_AGENT_TRIAL_SECONDS:-900}

field() {
  sed -n "s/^$1=//p" "$trial" | head -n 1
}

if [ -f "$trial" ]; then
  from=$(field FROM)
  to=$(field TO)
  to_version=$(field TO_VERSION)
  started=$(field STARTED)
  # The agent that wrote the trial names the deadline it will hold itself to too.
  trial_deadline=$(field DEADLINE)
  case "$trial_deadline" in ''|*[!0-9]*) ;; *) deadline=$trial_deadline ;; esac
  now=$(date +%s)
  current=$(readlink "$prefix/current" 2>/dev/null || true)
  reason=''
  if [ "$current" != "releases/$to" ]; then
    # The agent stopped between writing the trial and swapping `current`: nothing to judge.
    rm -f "$trial" "$records/trial.starts"
    echo "mamori-agent-boot: dropped a trial of $to that never started ($current is current)" >&2
  else
    echo "$now" >> "$records/trial.starts"
    starts=$(wc -l < "$records/trial.starts" | tr -d ' ')
    case "$started" in ''|*[!0-9]*) started=0 ;; esac
    if [ "$starts" -gt "$max_starts" ]; then
      reason="$to_version started $((starts - 1)) times without reaching the collector"
    elif [ $((now - started)) -gt "$deadline" ]; then
      reason="$to_version did not reach the collector within $deadline seconds"
    fi
    if [ -n "$reason" ]; then
      if [ -n "$from" ] && [ -d "$prefix/releases/$from" ]; then
        ln -sfn "releases/$from" "$prefix/.current.rollback"
        mv -T "$prefix/.current.rollback" "$prefix/current"
        printf 'FAILED=%s\nFAILED_VERSION=%s\nRESTORED=%s\nREASON=%s\nAT=%s\n' "$to" "$to_version" "$from" "$reason" "$now" > "$records/.rolled-back.tmp"
        mv -f "$records/.rolled-back.tmp" "$records/rolled-back"
        rm -f "$trial" "$records/trial.starts"
        echo "mamori-agent-boot: rolled back from $to to $from: $reason" >&2
      else
        echo "mamori-agent-boot: $reason, but the previous release $from is gone; keeping $to" >&2
      fi
    fi
  fi
fi

exec "$prefix/current/bin/mamori-agent" "$@"
