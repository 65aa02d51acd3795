# Second test agent (test/host/second-agent/): built unlike the demo agent.
#   - releases as bin-<version>/ directly in its home; `active` is the running one,
#     `active.prev` the one before;
#   - a file-based listener (run/ping -> run/pong), one at a time (stop-start);
#   - suspend/resume change the scheduler server's record of the agent
#     (Available/Suspended), a file outside the agent's home;
#   - its configuration is etc/agent.conf in the home, outside every release, which
#     the configure hook rewrites for the release it configures.
description=Second test agent: bin-<version> releases, active link, server-side suspend, etc/agent.conf
install_root=/srv/second
releases_dir=.
release_name=bin-{version}
link_name=active
previous_link_name=active.prev
artifact=tar.gz
min_free_mb=1
# The configuration outside the releases: backed up at stage, put back on every way
# back to the old release.
config_paths=etc/agent.conf
hook_timeout_s=2
health_timeout_s=2

hook.version=active/secondctl version
hook.preflight=test -f etc/agent.conf
hook.install=test "$(cat "$AR_RELEASE/VERSION")" = "$AR_VERSION"
hook.configure="$AR_RELEASE/secondctl" configure
hook.suspend=active/secondctl suspend
hook.resume=active/secondctl resume
hook.stopListener="$AR_RELEASE/secondctl" stop
hook.startListener="$AR_RELEASE/secondctl" start
hook.health="$AR_RELEASE/secondctl" health "$AR_VERSION"
hook.listJobs=active/secondctl jobs
switch_mode=stop-start
