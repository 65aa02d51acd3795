# Demo agent (demo-agent/): a node listener plus detached bash jobs.
#
# Format (docs/contracts.md): key=value, one per line, no spaces around '=', '#'
# starts a comment line. Hooks run as `bash -c "<hook>"` in $AR_ROOT
# (= $AR_HOST_ROOT + install_root) under `timeout hook_timeout_s`, with AR_RELEASE,
# AR_VERSION, AR_FROM_VERSION, AR_TO_VERSION, AR_ARTIFACT, AR_STATE set.
description=Demo agent: node listener on 127.0.0.1:$AGENT_PORT, jobs as detached processes

# Layout: releases/<version>/ side by side, `current` is the running one, `previous`
# the one before the last switch. conf/agent.env is shared by all releases.
install_root=/opt/demo-agent
releases_dir=releases
release_name={version}
link_name=current
previous_link_name=previous
artifact=tar.gz
min_free_mb=50
hook_timeout_s=30
# A listener is up in well under a second; 10 s leaves room for a loaded host.
health_timeout_s=10

# The running release's version (the one `current` points at).
hook.version=current/bin/agentctl version
# Nothing to check against a server; a host without its config cannot run any release.
hook.preflight=test -f conf/agent.env
# The archive must hold the version it was staged for.
hook.install=test "$(cat "$AR_RELEASE/VERSION")" = "$AR_VERSION"
# Prints a one-line report (configureReport in the switch result).
hook.configure="$AR_RELEASE/bin/agentctl" configure
# Suspend returns once the scheduler has finished its in-flight dispatches.
hook.suspend=current/bin/agentctl suspend
hook.resume=current/bin/agentctl resume
# Stops whichever listener runs; jobs are separate sessions and keep running.
hook.stopListener="$AR_RELEASE/bin/agentctl" stop
hook.startListener="$AR_RELEASE/bin/agentctl" start
hook.health="$AR_RELEASE/bin/agentctl" health "$AR_VERSION"
hook.listJobs=current/bin/agentctl jobs
# The listening socket: probed during the switch, kept open by the socket holder.
hook.endpoint=current/bin/agentctl endpoint
# The new listener starts on the held socket before the old one stops and drains.
switch_mode=overlap
