# Control-M/Agent-like agent: the "upgrade with no downtime" procedure.
#
# Example, not run in this repository: the commands below stand for your agent's and
# server's tools (names are placeholders; map them to your installation). The
# orchestration is what matters:
#   - releases sit side by side in the agent home as exe_<version>; `exe` is the
#     running one and `exe_old` the one before, which cleanup (the nightly "New Day"
#     step) deletes once every job recorded at the switch has finished;
#   - suspend/resume go to the scheduler SERVER: it stops submitting to this agent
#     (and answers once its in-flight submissions are done) and later rediscovers it;
#   - stopping the listener leaves the job-monitor processes running their jobs.
description=Control-M/Agent-like: exe -> exe_<version>, exe_old kept for running jobs, server suspend/resume
install_root=/home/ctmagent/ctm
# Releases directly in the agent home: exe_9.0.21.200, exe_9.0.22.000, ...
releases_dir=.
release_name=exe_{version}
link_name=exe
previous_link_name=exe_old
artifact=tar.gz
min_free_mb=2048
hook_timeout_s=300
health_timeout_s=120

hook.version=exe/scripts/agent-version --short
# The new agent version must be supported by the server it reports to.
hook.preflight=ctm-server-cli agent compatibility --host "$(hostname -f)" --agent-version "$AR_TO_VERSION"
# Post-extraction install step of the agent package, run as the agent user.
hook.install=su - ctmagent -c "cd '$AR_RELEASE' && ./install/post-install.sh --silent"
# Carries the agent's config into the new exe and reports what changed (one line).
hook.configure=su - ctmagent -c "'$AR_RELEASE/scripts/agent-config' --migrate-from exe_old --report oneline"
# Server side: stop submitting jobs to this agent, wait for in-flight submissions.
hook.suspend=ctm-server-cli agent suspend --host "$(hostname -f)" --wait-drained --timeout 240
# Server side: end of upgrade (Suspended -> Discovering -> Available). Idempotent.
hook.resume=ctm-server-cli agent resume --host "$(hostname -f)"
# Listener only (AG_LISTENER); the trackers of running jobs stay up.
hook.stopListener=su - ctmagent -c "'$AR_RELEASE/scripts/shut-agent' --listener-only --wait"
hook.startListener=su - ctmagent -c "'$AR_RELEASE/scripts/start-agent' --listener-only"
hook.health=su - ctmagent -c "'$AR_RELEASE/scripts/agent-diag' --ping --expect-version '$AR_VERSION'"
# "<jobId> <pid>" per running job (order id and job-monitor pid).
hook.listJobs=su - ctmagent -c "exe/scripts/agent-jobs --running --format '%orderid %pid'"
