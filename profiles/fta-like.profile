# FTA-like agent (file-transfer agent upgraded node by node, after the CERN FTA
# rolling-upgrade procedure): upgrade packages, re-run the configuration tool (it
# reports what it changed), restart the daemons; transfers in flight continue.
#
# Example, not run in this repository: package, unit and tool names are placeholders.
# The agent is installed by the package manager, in place: there are no side-by-side
# release trees, so artifact=none and the release directories under install_root are
# bookkeeping only (the links record which version runs, cleanup removes them).
# Rollback therefore has to reinstall the old package: startListener installs the
# package version of the release it starts when it is not the installed one (a no-op
# on the normal path, as install already put that version in place).
# Transfers survive the restart because the unit stops the daemon only
# (systemd KillMode=process): transfer processes are not in the daemon's kill set.
description=FTA-like: package upgrade, config tool with one-line report, daemon restart
install_root=/var/lib/fta-rollout
releases_dir=releases
release_name={version}
link_name=current
previous_link_name=previous
# Nothing to download: the package repository is the artifact store.
artifact=none
min_free_mb=500
hook_timeout_s=600
health_timeout_s=60

hook.version=rpm -q --queryformat '%{VERSION}\n' fta-server
hook.preflight=dnf -q list --available "fta-server-$AR_TO_VERSION" >/dev/null
# Package-manager upgrade; the running daemon keeps the old code until restarted.
hook.install=dnf -y -q install "fta-server-$AR_VERSION"
# The configuration tool prints its change report as one line (configureReport).
hook.configure=fta-configure --apply --report oneline
hook.suspend=fta-admin drain --on --wait 120
hook.resume=fta-admin drain --off
hook.stopListener=systemctl stop fta-server.service
hook.startListener={ rpm -q "fta-server-$AR_VERSION" >/dev/null || dnf -y -q install "fta-server-$AR_VERSION"; } && systemctl start fta-server.service
hook.health=curl -fsS --max-time 2 http://127.0.0.1:8446/health | grep -q "\"version\":\"$AR_VERSION\""
hook.listJobs=fta-admin transfers --running --format '%id %pid'
