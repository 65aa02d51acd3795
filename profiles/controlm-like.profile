# Control-M/Agent-like agent: the "upgrade with no downtime" procedure of the BMC
# knowledge article, run for real by kits/controlm-like (its scheduler server is the
# kit's workload driver, ctm-server.mjs; the agent's tool is exe/ctmag). On a real
# installation the same hooks would call your agent's and server's own tools.
#   - releases sit side by side in the agent home as exe_<version>; `exe` is the
#     running one and `exe_old` the one before; the nightly cleanup (the "New Day"
#     step) deletes the old release once every job recorded at the switch has ended;
#   - suspend/resume go to the scheduler SERVER: "upgrade started" puts the agent in
#     Suspended (no new submission; status updates still taken) and answers once its
#     in-flight submissions are done; "upgrade ended" moves it to Discovering, then
#     Available once the server has pinged the new agent;
#   - stopping the listener and the tracker leaves the job monitors (one process per
#     job, each reporting its job's end to the server) running.
description=Control-M/Agent-like: exe -> exe_<version>, exe_old kept for running jobs, server suspend/resume
install_root=/home/ctmagent/ctm
# Releases directly in the agent home: exe_1.0.0, exe_2.0.0, ...
releases_dir=.
release_name=exe_{version}
link_name=exe
previous_link_name=exe_old
artifact=tar.gz
# Step 3: what the install (share/) and the configuration (CONFIG.dat) change outside
# exe_<version>; agent-rollout backs it up before the install and puts it back when
# the agent goes back to the old release.
config_paths=data/CONFIG.dat share
min_free_mb=50
hook_timeout_s=60
health_timeout_s=5

hook.version=exe/ctmag version
# Step 1: the server must be version 8 or later (it knows the Suspended state).
hook.preflight=v=$(exe/ctmag server version) && [[ ${v%%.*} -ge 8 ]]
# Steps 3-4: back up the agent's files, then copy the release's non-executable files
# over the agent home's (the executables stay in exe_<version>).
hook.install=mkdir -p "backup/before_$AR_VERSION" && cp -R share data/CONFIG.dat "backup/before_$AR_VERSION/" && cp -R "$AR_RELEASE/share/." share/
# Steps 10-11: CONFIG.dat updated (one-line report), then upgrade_running_jobs.dat
# written from the snapshot of running jobs ($AR_JOBS_FILE).
hook.configure="$AR_RELEASE/ctmag" configure
# Step 6: the server suspends new submissions; answers once in-flight ones are done.
hook.suspend="$AR_RELEASE/ctmag" server upgrade-started
# Step 13: Suspended -> Discovering -> Available. Idempotent.
hook.resume="$AR_RELEASE/ctmag" server upgrade-ended
# The server submits to the agent again only once it has rediscovered it (Available):
# the suspend window ends there, not when upgrade-ended returns.
hook.available="$AR_RELEASE/ctmag" server available
# Step 7: listener and tracker only; the job monitors keep running their jobs.
hook.stopListener="$AR_RELEASE/ctmag" stop
# Step 12.
hook.startListener="$AR_RELEASE/ctmag" start
hook.health="$AR_RELEASE/ctmag" ping "$AR_VERSION"
# "<jobId> <pid>" per running job (order id and job-monitor pid).
hook.listJobs=exe/ctmag jobs
