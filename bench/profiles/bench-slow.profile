# Benchmark-only agent whose steps take about as long as a small real agent's: no
# process and no jobs, but hooks that sleep, so that preflight lasts about 0.4 s, stage
# about 1.1 s and switch about 0.6 s. The orchestration-overhead benchmark runs it
# beside the demo agent (whose steps last 0.1 to 0.3 s) to show how the overhead
# ratio depends on step duration. Same layout as bench-light.profile, so the same
# lightweight host directories serve both; deployed through local mode's profileFile
# option, never shipped with the stack.
description=Benchmark agent: version file only, hooks sleep to last like real steps
install_root=/opt/bench-light
releases_dir=releases
release_name={version}
link_name=current
previous_link_name=previous
artifact=none
min_free_mb=1
hook_timeout_s=10
health_timeout_s=5

hook.version=cat current/VERSION
hook.preflight=sleep 0.3
hook.install=sleep 1 && printf '%s\n' "$AR_VERSION" >"$AR_RELEASE/VERSION"
hook.configure=sleep 0.2 && echo unchanged
hook.suspend=true
hook.resume=true
hook.stopListener=true
hook.startListener=true
hook.health=sleep 0.3 && test "$(cat "$AR_RELEASE/VERSION")" = "$AR_VERSION"
hook.listJobs=true
