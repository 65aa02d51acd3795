# FTA-like agent: the CERN FTA agent rolling-upgrade procedure (TWiki), run for real by
# kits/fta-like. Applied to each node in sequence (batch size 1): upgrade the package,
# re-run the configuration tool (it reports the changes it made to the agent config
# files: configureReport in the switch result), restart all the agent daemons of the
# node (channel agents, VO agents) as one service. Transfers in flight keep running
# across the restart; requests queued meanwhile are picked up by the new daemons.
# On a real node the same hooks would call your package manager (SPMA, dnf), YAIM's
# configure_node and `service transfer-agents`.
#   - the package is the artifact: stage extracts it into releases/<version> (the
#     package cache); `current` records which version the daemons run;
#   - the package is installed in place (files replaced by rename) at the switch, after
#     the daemons stopped; a rollback reinstalls the old package (startListener ensures
#     the installed package is the release it starts);
#   - no suspend: the procedure says not to mark the node for maintenance; transfer
#     requests wait in the agents' queues while the daemons restart.
description=FTA-like: package upgrade, config tool with one-line report, daemon restart
install_root=/opt/fta
releases_dir=releases
release_name={version}
link_name=current
previous_link_name=previous
artifact=tar.gz
# The package tarball holds everything under fta-agents-<version>/.
artifact_subdir=fta-agents-{version}
min_free_mb=50
hook_timeout_s=60
health_timeout_s=5

# Version of the installed package (what the daemons run once started).
hook.version=usr/sbin/transfer-agents version
hook.preflight=test -f etc/site-info.def
hook.install=test "$(cat "$AR_RELEASE/VERSION")" = "$AR_VERSION"
# Package upgrade, then the configuration tool; its last line is the change report.
hook.configure="$AR_RELEASE/bin/fta-pkg" install && "$AR_RELEASE/bin/configure_node" etc/site-info.def FTA
# Nothing to suspend (see above).
hook.suspend=true
hook.resume=true
# `service transfer-agents restart`, split: stop every daemon, then start them.
hook.stopListener=usr/sbin/transfer-agents stop
hook.startListener="$AR_RELEASE/bin/fta-pkg" ensure && usr/sbin/transfer-agents start
hook.health=usr/sbin/transfer-agents status "$AR_VERSION"
hook.listJobs=usr/sbin/transfer-agents transfers
